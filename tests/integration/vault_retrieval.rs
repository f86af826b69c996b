//! Getting an upstream token (RFC 8693, `audience={provider}`; SPEC:
//! Upstream providers — Getting an upstream token, Freshness, Refreshing)
//! through a service connection, on the real token function, against the
//! scripted misbehaving upstream (`upstream_script.rs`: single-use rotating
//! refresh tokens with reuse detection, so any double use of a refresh token
//! kills the grant and the test sees it).
//!
//! The subject is the client's own client_credentials token carrying
//! `upstream:svc`. A connection goes stale without waiting: the upstream
//! answers `expires_in` 31 at connect time, and the freshness margin is
//! clamp(lifetime / 5, 30 s, 300 s), so the token is stale a second later.

use crate::helpers::*;
use crate::upstream_script::{ExpiresIn, ScriptedUpstream, Step};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use std::time::Duration;
use tollgate::AppState;
use tollgate::domain::connections::{Connection, ConnectionKey, Owner};
use tollgate::domain::providers::Preset;
use tollgate::domain::providers::engine::TokenAnswer;
use tollgate::ids::ProviderName;
use tollgate::ports::ConnectionStore;

const NAME: &str = "svc";
const SECRET: &str = "scripted-client-secret-2";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A lifetime that is stale a second after it was stored.
const SHORT: u64 = 31;

struct Retrieval {
    s: ScriptedUpstream,
    t: TestTenant,
    app: TestClient,
    /// The generation `provider connect` stored (generations start from the
    /// clock, not from 1).
    g0: u64,
}

async fn cli(args: &[&str], stdin: Option<&str>) -> Value {
    admin_async(
        args.iter().map(|s| s.to_string()).collect(),
        stdin.map(str::to_owned),
    )
    .await
    .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

impl Retrieval {
    /// A tenant with provider `svc` of `preset` at the scripted upstream (a
    /// client secret, the token URL overridden) and a client registered for
    /// `upstream:svc` with client_credentials.
    async fn provider(preset: &str, grant: &str) -> Retrieval {
        let s = ScriptedUpstream::start().await;
        let t = TestTenant::new().await;
        let mut args = vec![
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            NAME,
            "--preset",
            preset,
            "--token-url",
        ];
        let url = s.token_url();
        args.push(&url);
        args.extend(["--client-id", "scripted-client", "--client-secret-stdin"]);
        if !grant.is_empty() {
            args.extend(["--grant", grant]);
        }
        cli(&args, Some(&format!("{SECRET}\n"))).await;
        let app = t
            .client(&["--grant", "client_credentials", "--scope", "upstream:svc"])
            .await;
        Retrieval { s, t, app, g0: 0 }
    }

    /// As [`Retrieval::provider`] (oauth2, password grant), with the service
    /// connection made by `provider connect` from a 31 s token, then the
    /// upstream back to 600 s answers.
    async fn connected() -> Retrieval {
        let mut r = Retrieval::provider("oauth2", "password").await;
        r.s.set_expires_in(ExpiresIn::Number(SHORT));
        let v = cli(
            &[
                "provider", "connect", "--tenant", &r.t.alias, "--name", NAME,
            ],
            Some("svc-user\nsvc password\n"),
        )
        .await;
        assert_eq!(v["expires_in"], SHORT);
        r.s.set_expires_in(ExpiresIn::Number(600));
        r.g0 = r.stored().await.generation;
        r
    }

    fn key(&self) -> ConnectionKey {
        ConnectionKey {
            tenant: self.t.tenant_id(),
            owner: Owner::Service,
            provider: ProviderName::parse(NAME).unwrap(),
        }
    }

    async fn stored(&self) -> Connection {
        db().await.get(&self.key()).await.unwrap().unwrap()
    }

    /// Until the stored access token is past its freshness margin.
    async fn wait_stale(&self) {
        let at = self.stored().await.access_token.unwrap();
        wait_until(at.expires_at - 29).await;
    }

    /// The client's own token with `upstream:svc`.
    async fn subject(&self) -> String {
        let (s, v) = self
            .t
            .token(
                Some(&self.app),
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "upstream:svc"),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn exchange(&self, subject: &str) -> Answer {
        let a = self
            .t
            .client_post(
                &self.t.token_url(),
                Auth::Basic(&self.app),
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", subject),
                    ("subject_token_type", ACCESS),
                    ("requested_token_type", ACCESS),
                    ("audience", NAME),
                ],
                &[],
            )
            .await;
        assert!(
            !a.body.contains("refresh_token") && !a.body.contains("rt-"),
            "an upstream refresh token was handed out: {a:?}"
        );
        a
    }
}

/// The answer is the upstream access token the upstream issued last.
fn assert_served(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    let v = a.json();
    assert_eq!(v["issued_token_type"], ACCESS);
    assert_eq!(v["token_type"], "Bearer");
    let at = v["access_token"].as_str().unwrap().to_owned();
    assert!(at.starts_with("at"), "{v}");
    at
}

fn assert_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(err_code(&a.json()), code, "{a:?}");
}

/// 503 `temporarily_unavailable` with a `Retry-After` of at least `min` s.
fn assert_unavailable(a: &Answer, min: u64) -> u64 {
    assert_error(
        a,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
    let ra: u64 = a
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {a:?}"))
        .parse()
        .unwrap();
    assert!(ra >= min, "Retry-After {ra} < {min}");
    ra
}

#[tokio::test]
async fn twenty_concurrent_exchanges_of_an_expired_connection_refresh_once() {
    let r = Retrieval::connected().await;
    let subject = r.subject().await;
    r.wait_stale().await;
    // A slow refresh, so the twenty meet it under way; its `expires_in` a
    // string (B2C).
    r.s.script([Step::Delay(Duration::from_millis(1500))]);
    r.s.set_expires_in(ExpiresIn::Text("600".into()));
    let answers = futures::future::join_all((0..20).map(|_| r.exchange(&subject))).await;
    let tokens: Vec<String> = answers.iter().map(assert_served).collect();
    assert_eq!(
        r.s.count("refresh_token"),
        1,
        "more than one upstream refresh"
    );
    assert!(!r.s.is_dead(), "a refresh token was used twice");
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    for a in &answers {
        let left = a.json()["expires_in"].as_u64().unwrap();
        assert!((580..600).contains(&left), "expires_in {left}");
    }
    let c = r.stored().await;
    assert_eq!(c.status.as_str(), "active");
    assert_eq!(c.generation, r.g0 + 1);
    assert!(c.lease.is_none());
    // The refresh went with the connected grant's refresh token, client
    // authentication in the body (oauth2).
    let refresh =
        r.s.requests()
            .into_iter()
            .find(|q| q.grant_type.as_deref() == Some("refresh_token"))
            .unwrap();
    assert_eq!(refresh.field("client_secret"), Some(SECRET));
    assert!(refresh.basic.is_none());
    // Fresh now (600 s): served from storage without a call.
    assert_eq!(assert_served(&r.exchange(&subject).await), tokens[0]);
    assert_eq!(r.s.count("refresh_token"), 1);
}

#[tokio::test]
async fn a_lost_answer_after_rotation_is_retried_once_then_reconnect_required() {
    let r = Retrieval::connected().await;
    let subject = r.subject().await;
    r.wait_stale().await;
    r.s.script([Step::DropAfterRotating]);
    let a = r.exchange(&subject).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "reconnect_required");
    // The one immediate retry of the same token met reuse detection.
    assert_eq!(r.s.count("refresh_token"), 2);
    let sent: Vec<String> =
        r.s.requests()
            .iter()
            .filter(|q| q.grant_type.as_deref() == Some("refresh_token"))
            .map(|q| q.field("refresh_token").unwrap().to_owned())
            .collect();
    assert_eq!(sent[0], sent[1]);
    assert!(r.s.is_dead());
    let c = r.stored().await;
    assert_eq!(c.status.as_str(), "reconnect_required");
    assert_eq!(c.reason.as_deref(), Some("refresh_outcome_unknown"));
    // Never used again.
    let a = r.exchange(&subject).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "reconnect_required");
    assert_eq!(r.s.count("refresh_token"), 2);
}

#[tokio::test]
async fn a_token_endpoint_slower_than_the_timeout_is_503_with_retry_after() {
    let r = Retrieval::connected().await;
    let subject = r.subject().await;
    r.wait_stale().await;
    // Both the call and its one retry outlast the upstream call's 8 s.
    r.s.script([
        Step::Delay(Duration::from_secs(10)),
        Step::Delay(Duration::from_secs(10)),
    ]);
    let started = std::time::Instant::now();
    let a = r.exchange(&subject).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_unavailable(&a, 30);
    assert_eq!(r.s.count("refresh_token"), 2);
    let c = r.stored().await;
    assert_eq!(c.status.as_str(), "degraded");
    // The cooldown: answered at once, the provider not called.
    assert_unavailable(&r.exchange(&subject).await, 1);
    assert_eq!(r.s.count("refresh_token"), 2);
}

#[tokio::test]
async fn html_500_429_and_a_redirect_are_503_with_retry_after_and_keep_the_grant() {
    for (step, min) in [
        (Step::Html500, 30),
        (Step::TooMany(45), 45),
        (Step::Redirect, 30),
    ] {
        let r = Retrieval::connected().await;
        let subject = r.subject().await;
        r.wait_stale().await;
        r.s.script([step.clone()]);
        let a = r.exchange(&subject).await;
        assert_unavailable(&a, min);
        assert!(
            !a.body.contains("html") && !a.body.contains("Too Many"),
            "{a:?}"
        );
        assert_eq!(r.s.count("refresh_token"), 1, "{step:?}");
        let c = r.stored().await;
        assert_eq!(c.status.as_str(), "degraded", "{step:?}");
        assert_eq!(c.failures, 1);
        // The refresh token is still the live one upstream; a redirect
        // was not followed.
        assert!(!r.s.is_dead());
        assert_eq!(r.s.hits("/elsewhere"), 0, "{step:?}");
        // During the cooldown nobody calls the provider.
        assert_unavailable(&r.exchange(&subject).await, 1);
        assert_eq!(r.s.count("refresh_token"), 1);
    }
}

#[tokio::test]
async fn a_refresh_answer_without_a_refresh_token_keeps_the_old_one() {
    let r = Retrieval::connected().await;
    let subject = r.subject().await;
    r.s.set_rotation(false);
    r.s.set_expires_in(ExpiresIn::Number(SHORT));
    r.wait_stale().await;
    let one = assert_served(&r.exchange(&subject).await);
    r.wait_stale().await;
    let two = assert_served(&r.exchange(&subject).await);
    assert_ne!(one, two);
    let sent: Vec<String> =
        r.s.requests()
            .iter()
            .filter(|q| q.grant_type.as_deref() == Some("refresh_token"))
            .map(|q| q.field("refresh_token").unwrap().to_owned())
            .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the kept refresh token was not reused");
    assert_eq!(Some(sent[0].clone()), r.s.current_refresh_token());
    let c = r.stored().await;
    assert_eq!((c.status.as_str(), c.generation), ("active", r.g0 + 2));
    assert!(c.refresh_token.is_some());
}

#[tokio::test]
async fn keaps_dead_grant_pattern_is_reconnect_required_and_refreshes_go_with_basic() {
    // Keap has no password grant: the connection is stored as the callback
    // stores one, from a first grant at the scripted upstream.
    let r = Retrieval::provider("keap", "").await;
    let http = reqwest::Client::new();
    let first: Value = http
        .post(r.s.token_url())
        .form(&[("grant_type", "authorization_code"), ("code", "c")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = AppState::new(config(), &sdk().await);
    let vault = state.vault(&r.t.tenant_id()).await.unwrap();
    let answer = TokenAnswer {
        access_token: SecretString::from(first["access_token"].as_str().unwrap().to_owned()),
        refresh_token: Some(SecretString::from(
            first["refresh_token"].as_str().unwrap().to_owned(),
        )),
        expires_in: SHORT,
        scope: Some("full".into()),
        id_token: None,
    };
    let new = tollgate::tokens::upstream::new_connection(
        &vault,
        r.key(),
        Preset::Keap.quirks(),
        &answer,
        None,
        state.now(),
    )
    .unwrap();
    db().await.connect(&new, state.now()).await.unwrap();
    let subject = r.subject().await;
    r.wait_stale().await;
    r.s.script([Step::KeapInvalidRefresh]);
    let a = r.exchange(&subject).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "reconnect_required");
    assert_eq!(r.s.count("refresh_token"), 1, "a dead grant is not retried");
    let refresh =
        r.s.requests()
            .into_iter()
            .find(|q| q.grant_type.as_deref() == Some("refresh_token"))
            .unwrap();
    // Keap refreshes with Basic, never the secret in the body.
    assert_eq!(
        refresh.basic,
        Some(("scripted-client".to_owned(), SECRET.to_owned()))
    );
    assert_eq!(refresh.field("client_secret"), None);
    let c = r.stored().await;
    assert_eq!(c.status.as_str(), "reconnect_required");
    assert_eq!(c.reason.as_deref(), Some("invalid_request"));
    let a = r.exchange(&subject).await;
    assert_error(&a, StatusCode::BAD_REQUEST, "reconnect_required");
    assert_eq!(r.s.count("refresh_token"), 1);
}

#[tokio::test]
async fn profix_tokens_with_bangs_are_refreshed_and_served_intact() {
    let mut r = Retrieval::provider("profix", "password").await;
    r.s.set_bang(true);
    r.s.set_expires_in(ExpiresIn::Number(SHORT));
    cli(
        &[
            "provider", "connect", "--tenant", &r.t.alias, "--name", NAME,
        ],
        Some("svc-user\nsvc password\n"),
    )
    .await;
    r.g0 = r.stored().await.generation;
    let connected = r.s.current_refresh_token().unwrap();
    assert!(connected.contains('!'));
    let subject = r.subject().await;
    r.wait_stale().await;
    let at = assert_served(&r.exchange(&subject).await);
    assert!(at.contains('!'), "{at}");
    let refresh =
        r.s.requests()
            .into_iter()
            .find(|q| q.grant_type.as_deref() == Some("refresh_token"))
            .unwrap();
    // Sent form-encoded and read back exactly: the grant lives on.
    assert_eq!(refresh.field("refresh_token"), Some(connected.as_str()));
    assert!(!r.s.is_dead());
    assert_eq!(r.stored().await.generation, r.g0 + 1);
}

/// DynamoDB refuses the commit after the upstream answered (the fault proxy
/// between an in-process token handler and DynamoDB Local): the rotated
/// tokens are stored by a retry within the function's time, the answer is
/// the new token, the upstream was called once, and the old refresh token is
/// never sent again.
#[tokio::test]
async fn a_storage_failure_after_the_upstream_answered_is_retried_until_stored() {
    use crate::fault_proxy::{Fault, FaultProxy, Ops, Service};
    use tollgate::domain::outbound::OutboundPolicy;
    use tollgate::store::upstream_http::ReqwestUpstream;

    let r = Retrieval::connected().await;
    let subject = r.subject().await;
    r.wait_stale().await;
    let proxy = FaultProxy::start().await;
    let state = proxy
        .app_state()
        .await
        .with_upstream(std::sync::Arc::new(ReqwestUpstream::new(
            OutboundPolicy::LOCAL,
        )));
    // The lease (the first write) goes through; the commit (the second) is
    // refused until the healer lets writes through again.
    proxy.plan(Service::DynamoDb, Ops::Writes, 1, Fault::Refuse);
    let healer = async {
        while proxy.faulted(Service::DynamoDb) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.set(Service::DynamoDb, Fault::PassThrough);
    };
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS),
        ("audience", NAME),
    ];
    let (a, ()) = tokio::join!(crate::faults::token(&state, &r.t, &r.app, &form), healer);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        proxy.faulted(Service::DynamoDb) >= 1,
        "no write was refused"
    );
    assert_eq!(r.s.count("refresh_token"), 1, "one upstream refresh");
    assert!(!r.s.is_dead(), "a refresh token was used twice");
    let c = r.stored().await;
    assert_eq!((c.status.as_str(), c.generation), ("active", r.g0 + 1));
    // What the answer carried is what was stored: served again as it is.
    let served = serde_json::from_str::<Value>(&a.body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = r.exchange(&subject).await;
    assert_eq!(assert_served(&again), served);
    assert_eq!(r.s.count("refresh_token"), 1);
}
