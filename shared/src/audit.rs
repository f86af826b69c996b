//! Audit lines and metrics (SPEC: Observability). Every security-relevant
//! event is one log line with a stable `event` name and the tenant, client
//! and user ids where known — never a secret, password, code or token, nor a
//! hash of one — plus a CloudWatch embedded-metric-format (EMF) line counting
//! it in namespace `Tollgate`, dimension `tenant`.

use crate::ids::{ClientId, TenantId, UserId};
use std::io::Write;

/// The stable event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    TokenIssued,
    RefreshReuseDetected,
    CodeReplayDetected,
    TokenRevoked,
    PasswordChanged,
    ForeignLoginPostRefused,
    TokenExchanged,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::LoginSucceeded => "login_succeeded",
            Event::LoginFailed => "login_failed",
            Event::LoginThrottled => "login_throttled",
            Event::TokenIssued => "token_issued",
            Event::RefreshReuseDetected => "refresh_reuse_detected",
            Event::CodeReplayDetected => "code_replay_detected",
            Event::TokenRevoked => "token_revoked",
            Event::PasswordChanged => "password_changed",
            Event::ForeignLoginPostRefused => "foreign_login_post_refused",
            Event::TokenExchanged => "token_exchanged",
        }
    }

    /// The EMF metric the event counts in.
    fn metric(self) -> &'static str {
        match self {
            Event::LoginSucceeded => "LoginSucceeded",
            Event::LoginFailed => "LoginFailures",
            Event::LoginThrottled => "Throttles",
            Event::TokenIssued => "TokensIssued",
            Event::RefreshReuseDetected => "RefreshReuseDetected",
            Event::CodeReplayDetected => "CodeReplayDetected",
            Event::TokenRevoked => "TokensRevoked",
            Event::PasswordChanged => "PasswordChanges",
            Event::ForeignLoginPostRefused => "ForeignLoginPosts",
            Event::TokenExchanged => "TokensExchanged",
        }
    }
}

/// Who and what an audit line is about (ids only).
#[derive(Default)]
pub struct Subject<'a> {
    pub client: Option<&'a ClientId>,
    pub user: Option<&'a UserId>,
    /// The grant, or the kind of token, where it matters.
    pub detail: Option<&'a str>,
}

/// What a token exchange did (RFC 8693): who asked, for whom (the subject
/// token's issuer and subject, and the local user), who acts, for which
/// audience and scope. Identifiers only, never a token.
pub struct ExchangeRecord<'a> {
    pub client: &'a ClientId,
    pub user: &'a UserId,
    pub subject_issuer: &'a str,
    pub subject: &'a str,
    pub actor: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub scope: &'a str,
}

/// The `token_exchanged` audit line and its metric.
pub fn token_exchanged(tenant: &TenantId, r: ExchangeRecord<'_>) {
    tracing::info!(
        target: "audit",
        event = Event::TokenExchanged.name(),
        tenant = %tenant,
        client_id = r.client.as_str(),
        user_id = r.user.as_str(),
        subject_issuer = r.subject_issuer,
        subject = r.subject,
        actor = r.actor.unwrap_or(""),
        audience = r.audience.unwrap_or(""),
        scope = r.scope,
        "audit"
    );
    emit_metric(&metric_line(
        Event::TokenExchanged,
        tenant,
        "",
        crate::clock::Now::system().secs(),
    ));
}

/// The token vault's events (SPEC: Upstream providers — Health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEvent {
    Connected,
    Refreshed,
    RefreshFailed,
    ReconnectRequired,
    Disconnected,
    /// A refresh's new tokens could not be stored before the function's time
    /// ran out (the provider answered; the tokens are lost).
    CommitFailed,
    /// "Sign in with {provider}" signed a user in (detail: `linked`,
    /// `created`).
    FederatedSignInSucceeded,
    /// A federated sign-in that signed nobody in (detail: the reason, a
    /// fixed word).
    FederatedSignInRefused,
}

impl UpstreamEvent {
    pub fn name(self) -> &'static str {
        match self {
            UpstreamEvent::Connected => "upstream_connected",
            UpstreamEvent::Refreshed => "upstream_refreshed",
            UpstreamEvent::RefreshFailed => "upstream_refresh_failed",
            UpstreamEvent::ReconnectRequired => "upstream_reconnect_required",
            UpstreamEvent::Disconnected => "upstream_disconnected",
            UpstreamEvent::CommitFailed => "upstream_commit_failed",
            UpstreamEvent::FederatedSignInSucceeded => "federated_signin_succeeded",
            UpstreamEvent::FederatedSignInRefused => "federated_signin_refused",
        }
    }

    fn metric(self) -> &'static str {
        match self {
            UpstreamEvent::Connected => "UpstreamConnected",
            UpstreamEvent::Refreshed => "UpstreamRefreshed",
            UpstreamEvent::RefreshFailed => "UpstreamRefreshFailed",
            UpstreamEvent::ReconnectRequired => "UpstreamReconnectRequired",
            UpstreamEvent::Disconnected => "UpstreamDisconnected",
            UpstreamEvent::CommitFailed => "UpstreamCommitFailed",
            UpstreamEvent::FederatedSignInSucceeded => "FederatedSignIns",
            UpstreamEvent::FederatedSignInRefused => "FederatedSignInsRefused",
        }
    }
}

/// One token-vault event: the audit line (tenant, provider, owner — a user
/// id or `~` for the service connection — and a fixed-word detail such as a
/// failure class; never upstream text) and its metric, per tenant, per
/// provider and for the stack. The provider is always one the tenant has
/// (read from the store), never a name from a request.
pub fn upstream(
    event: UpstreamEvent,
    tenant: &TenantId,
    provider: &str,
    owner: &str,
    detail: &str,
) {
    tracing::info!(
        target: "audit",
        event = event.name(),
        tenant = %tenant,
        provider = provider,
        user_id = owner,
        detail = detail,
        "audit"
    );
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": crate::clock::Now::system().secs().saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Tollgate",
                "Dimensions": [["tenant"], [], ["tenant", "provider"], ["provider"]],
                "Metrics": [{"Name": event.metric(), "Unit": "Count"}],
            }],
        },
        "tenant": tenant.as_str(),
        "provider": provider,
        "event": event.name(),
        "detail": detail,
        event.metric(): 1,
    });
    emit_metric(&line.to_string());
}

/// Records one event: the audit line and its metric.
pub fn record(event: Event, tenant: &TenantId, s: Subject<'_>) {
    let client = s.client.map(ClientId::as_str).unwrap_or("");
    let user = s.user.map(UserId::as_str).unwrap_or("");
    let detail = s.detail.unwrap_or("");
    tracing::info!(
        target: "audit",
        event = event.name(),
        tenant = %tenant,
        client_id = client,
        user_id = user,
        detail = detail,
        "audit"
    );
    emit_metric(&metric_line(
        event,
        tenant,
        detail,
        crate::clock::Now::system().secs(),
    ));
}

/// The EMF line: one count of the event's metric, dimension `tenant`.
pub fn metric_line(event: Event, tenant: &TenantId, detail: &str, now: u64) -> String {
    // Per tenant, one series for the whole stack (alarms), and tokens also per grant.
    let dimensions = if event == Event::TokenIssued {
        serde_json::json!([["tenant"], [], ["grant"]])
    } else {
        serde_json::json!([["tenant"], []])
    };
    serde_json::json!({
        "_aws": {
            "Timestamp": now.saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Tollgate",
                "Dimensions": dimensions,
                "Metrics": [{"Name": event.metric(), "Unit": "Count"}],
            }],
        },
        "tenant": tenant.as_str(),
        "event": event.name(),
        "detail": detail,
        "grant": detail,
        event.metric(): 1,
    })
    .to_string()
}

/// An event about a request for a tenant that does not exist: one audit line
/// and one count in the stack-wide series only. The alias the caller made up
/// is neither a dimension (each distinct value would be a billed custom
/// metric) nor an audit field (SPEC: Observability).
pub fn record_unknown_tenant(event: Event) {
    tracing::info!(target: "audit", event = event.name(), tenant = "", "audit");
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": crate::clock::Now::system().secs().saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Tollgate",
                "Dimensions": [[]],
                "Metrics": [{"Name": event.metric(), "Unit": "Count"}],
            }],
        },
        "event": event.name(),
        event.metric(): 1,
    });
    emit_metric(&line.to_string());
}

/// EMF lines go to stdout as they are (Lambda ships them to CloudWatch Logs,
/// which extracts the metrics); only in Lambda, so local runs stay quiet.
/// Unit tests see them through [`captured_metrics`].
fn emit_metric(line: &str) {
    #[cfg(test)]
    CAPTURED.with(|c| c.borrow_mut().push(line.to_owned()));
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        let _ = writeln!(std::io::stdout(), "{line}");
    }
}

#[cfg(test)]
thread_local! {
    static CAPTURED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The EMF lines this thread emitted so far, taken (tests only; a
/// `#[tokio::test]` runs on one thread).
#[cfg(test)]
pub fn captured_metrics() -> Vec<String> {
    CAPTURED.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// Counts an error answered to a client, by its RFC 6749 code (one series
/// per code, and one per code and status class for the stack).
pub fn error_answered(code: &str, status: u16) {
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": crate::clock::Now::system().secs().saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Tollgate",
                "Dimensions": [["code"], []],
                "Metrics": [{"Name": "Errors", "Unit": "Count"}],
            }],
        },
        "code": code,
        "status": status,
        "Errors": 1,
    });
    emit_metric(&line.to_string());
}

/// Records one invocation's latency (milliseconds, dimension `function`)
/// and, for a 5xx, a `ServerErrors` count (`web::observed` calls it).
pub fn invocation(elapsed: std::time::Duration, status: u16) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let server_error = u32::from((500..600).contains(&status));
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": crate::clock::Now::system().secs().saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Tollgate",
                "Dimensions": [["function"]],
                "Metrics": [
                    {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "ServerErrors", "Unit": "Count"},
                ],
            }],
        },
        "function": function,
        "status": status,
        "Latency": (ms * 1000.0).round() / 1000.0,
        "ServerErrors": server_error,
    });
    emit_metric(&line.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_are_emf_with_the_tenant_dimension() {
        let t = TenantId::parse("acme").unwrap();
        let v: serde_json::Value = serde_json::from_str(&metric_line(
            Event::TokenIssued,
            &t,
            "password",
            1_700_000_000,
        ))
        .unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Tollgate");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "tenant"
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(v["TokensIssued"], 1);
        assert_eq!(v["tenant"], "acme");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][2][0],
            "grant"
        );
        assert_eq!(v["grant"], "password");
    }
}
