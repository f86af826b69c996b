//! Connecting a user's account at an upstream provider (SPEC: Upstream
//! providers — Connecting a user's account; research §3.5), HTTP-free.
//!
//! [`start`]: after sign-in and `allow` on a login transaction that names a
//! provider, instead of issuing the client's code, an upstream transaction
//! is stored (single use, 10 minutes; `domain::upstream_tx`) and the browser
//! is sent to the provider's authorize URL, bound by a cookie value.
//!
//! [`finish`]: the provider's redirect back to the callback function. The
//! transaction is found by the `state`'s hash, must be bound to this
//! browser's cookie (constant time) and is taken once (one conditional
//! delete); then — and only then — the client hears back: the upstream
//! code is redeemed, the tokens sealed and stored, and the client gets
//! Tollgate's code, or an error in its redirect. Anything that does not pass
//! the binding (no or unknown `state`, no or another browser's cookie, a
//! used transaction, a provider swapped in the path) connects nothing and
//! is the error page: it never redirects, as the client it would redirect
//! to is not established.

use crate::AppState;
use crate::clock::Now;
use crate::crypto::{random_token, token_hash};
use crate::domain::code_lifetime::CODE_TTL;
use crate::domain::connections::{ConnectionKey, Owner};
use crate::domain::providers::engine::{self, UpstreamClient};
use crate::domain::providers::{Provider, UpstreamGrant};
use crate::domain::records::AuthCode;
use crate::domain::upstream_tx::{self, ClientRequest, Leg, UpstreamTx};
use crate::ids::{TenantId, UserId};
use crate::oauth::error::ErrorCode;
use crate::ports::StoreError;
use std::sync::Arc;

/// Whether the tenant's `provider` can be connected in a browser: the
/// authorization code grant and an authorize endpoint.
pub fn connectable(provider: &Provider) -> bool {
    provider.grant == UpstreamGrant::AuthorizationCode && provider.endpoints.authorize.is_some()
}

/// Issues the client's authorization code (stored as a hash; 60 s; single
/// use) for `user`: what the callback does after `allow`, and the connect
/// flow after the provider's redirect.
pub async fn issue_code(
    state: &AppState,
    tenant: &TenantId,
    req: &ClientRequest,
    user: &UserId,
    auth_time: u64,
    now: Now,
) -> Result<String, StoreError> {
    let code = random_token(32);
    let record = AuthCode {
        tenant: tenant.clone(),
        code_hash: token_hash(&code),
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        redirect_uri_in_request: req.redirect_uri_in_request,
        scope: req.scope.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        user_id: user.clone(),
        auth_time,
        expires_at: now.plus(CODE_TTL),
        family_id: None,
    };
    state.codes().put(&record).await?;
    tracing::info!(tenant = %tenant, client_id = %req.client_id, user_id = %user, "authorization code issued");
    Ok(code)
}

/// Why the browser cannot go on to the provider.
#[derive(Debug)]
pub enum StartFailure {
    /// The provider is gone or cannot be connected in a browser any more
    /// (changed since authorize): the client gets `invalid_request`.
    NotConnectable,
    /// Storage, Secrets Manager or the URL document failed: the client gets
    /// `temporarily_unavailable`. The cause is for the log.
    Unavailable(String),
}

/// Where the browser goes, and the cookie value that binds it.
pub struct ToProvider {
    pub location: String,
    /// The browser-binding value (the `__Host-` cookie's).
    pub binding: String,
}

impl std::fmt::Debug for ToProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToProvider")
    }
}

/// After `allow`: stores the upstream transaction and builds the provider's
/// authorize URL (redirect URI: the provider's `callback_uri`).
pub async fn start(
    state: &AppState,
    tenant: &TenantId,
    provider_name: &str,
    user: &UserId,
    client: ClientRequest,
    now: Now,
) -> Result<ToProvider, StartFailure> {
    let unavailable = |e: &dyn std::fmt::Display| StartFailure::Unavailable(e.to_string());
    let provider = state
        .provider(tenant, provider_name)
        .await
        .map_err(|e| unavailable(&e))?
        .filter(|p| connectable(p))
        .ok_or(StartFailure::NotConnectable)?;
    let name = crate::ids::ProviderName::parse(&provider.name)
        .map_err(|_| StartFailure::NotConnectable)?;
    // Fail here, not after the user went through the provider: the
    // redirect's tokens could not be sealed without the vault, nor the code
    // redeemed without the client secret.
    let (vault, secret, urls) = tokio::join!(
        state.vault(tenant),
        state.upstream_client_secret(&provider),
        state.urls()
    );
    vault.map_err(|e| unavailable(&e))?;
    secret.map_err(|e| unavailable(&e))?;
    let callback_uri = urls
        .map_err(|e| unavailable(&e))?
        .upstream_callback(tenant, &provider.name);
    let q = provider.quirks();
    let binding = upstream_tx::new_binding();
    let up_state = engine::new_state(q);
    let challenge = q
        .pkce
        .then(|| engine::pkce_challenge(&upstream_tx::pkce_verifier(&binding)));
    let location = engine::authorize_url(&provider, &callback_uri, &up_state, challenge.as_deref())
        .ok_or(StartFailure::NotConnectable)?;
    let tx = UpstreamTx {
        tenant: tenant.clone(),
        state_hash: upstream_tx::state_key(&up_state),
        binding_hash: upstream_tx::binding_hash(&binding),
        provider: name,
        leg: Leg::Connect(user.clone()),
        auth_time: now.secs(),
        client,
        expires_at: now.plus(upstream_tx::LIFETIME),
    };
    state
        .ports()
        .upstream_txs
        .put(&tx)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(tenant = %tenant, provider = %provider.name, user_id = %user, "connect: to the provider");
    Ok(ToProvider { location, binding })
}

/// What the provider's redirect carried (the query of `…/callback`).
pub struct Redirect<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub error: Option<&'a str>,
    pub iss: Option<&'a str>,
    /// Any parameter by name (the preset's account-label parameters).
    pub param: &'a (dyn Fn(&str) -> Option<&'a str> + Sync),
}

/// What the client hears back.
#[derive(Debug)]
pub enum ClientAnswer {
    /// Tollgate's code (the connection is stored).
    Code(String),
    /// An error for the client's redirect, with a fixed description.
    Error(ErrorCode, &'static str),
}

/// The outcome of the provider's redirect.
#[derive(Debug)]
pub enum Finish {
    /// Not this browser's transaction (or none): nothing connected, nothing
    /// taken unless it was this browser's; the error page.
    Refused,
    /// An outage before the transaction was taken: 503.
    Unavailable(String),
    /// The transaction was taken: back to the client.
    ToClient(Box<ToClient>),
    /// A sign-in that was taken but signs nobody in (`oauth::signin`): a
    /// page that offers the password form of the same request again.
    SignInFailed(Box<crate::oauth::signin::Failed>),
}

/// A taken transaction's answer to the client.
#[derive(Debug)]
pub struct ToClient {
    pub client: ClientRequest,
    pub user: UserId,
    pub answer: ClientAnswer,
}

/// The provider's redirect to `…/upstream/{provider_in_path}/callback`.
pub async fn finish(
    state: &AppState,
    tenant: &TenantId,
    provider_in_path: &str,
    redirect: &Redirect<'_>,
    cookie: Option<&str>,
    now: Now,
) -> Finish {
    let (Some(up_state), Some(cookie)) = (redirect.state, cookie) else {
        return Finish::Refused;
    };
    let key = upstream_tx::state_key(up_state);
    let txs = &state.ports().upstream_txs;
    let tx = match txs.get(tenant, &key, now).await {
        Ok(Some(tx)) if tx.bound_to(cookie) => tx,
        Ok(_) => return Finish::Refused,
        Err(e) => return Finish::Unavailable(e.to_string()),
    };
    let tx = match txs.take(tenant, &key, &tx.binding_hash, now).await {
        Ok(Some(tx)) => tx,
        Ok(None) => return Finish::Refused,
        Err(e) => return Finish::Unavailable(e.to_string()),
    };
    // Taken: whatever follows, this transaction is spent. A provider swapped
    // in the path (another provider's redirect URI) connects nothing.
    if tx.provider.as_str() != provider_in_path {
        return Finish::Refused;
    }
    match tx.leg.clone() {
        Leg::Connect(user) => {
            let answer = connect(state, &tx, &user, redirect, cookie, now).await;
            Finish::ToClient(Box::new(ToClient {
                client: tx.client,
                user,
                answer,
            }))
        }
        Leg::SignIn { connect } => {
            crate::oauth::signin::finish(state, tx, connect, redirect, cookie, now).await
        }
    }
}

fn error(code: ErrorCode, description: &'static str) -> ClientAnswer {
    ClientAnswer::Error(code, description)
}

const UNAVAILABLE: &str = "the upstream provider could not be reached; try again later";

/// Redeems the upstream code, stores the connection, issues the client's code.
async fn connect(
    state: &AppState,
    tx: &UpstreamTx,
    user: &UserId,
    redirect: &Redirect<'_>,
    binding: &str,
    now: Now,
) -> ClientAnswer {
    use ErrorCode::{AccessDenied, ServerError, TemporarilyUnavailable};
    let tenant = &tx.tenant;
    let provider = match state.provider(tenant, tx.provider.as_str()).await {
        Ok(Some(p)) if connectable(&p) => p,
        Ok(_) => return error(AccessDenied, "the upstream provider is no longer available"),
        Err(e) => return outage(e),
    };
    if let Some(e) = redirect.error {
        tracing::info!(tenant = %tenant, provider = %provider.name, "connect: the provider answered with an error");
        return error(
            from_upstream(e),
            "the upstream provider did not grant access",
        );
    }
    // RFC 9207 (mix-up): a provider that names itself must name the issuer
    // it was added with.
    if let (Some(iss), Some(expected)) = (redirect.iss, provider.endpoints.issuer.as_deref())
        && iss != expected
    {
        return error(AccessDenied, "the upstream answer came from another issuer");
    }
    let q = provider.quirks();
    let Some(code) = redirect.code.filter(|c| engine::code_ok(q, c)) else {
        return error(
            ServerError,
            "the upstream provider's answer carried no usable code",
        );
    };
    let account = engine::account_label(q, redirect.param);
    let (secret, vault, urls) = tokio::join!(
        state.upstream_client_secret(&provider),
        state.vault(tenant),
        state.urls()
    );
    let (secret, vault, urls) = match (secret, vault, urls) {
        (Ok(s), Ok(v), Ok(u)) => (s, v, u),
        (Err(e), ..) => return outage(e),
        (_, Err(e), _) => return outage(e),
        (.., Err(e)) => return outage(e),
    };
    let redeemed = redeem(state, &provider, secret.as_ref(), code, binding, urls).await;
    let token = match redeemed {
        Ok(t) => t,
        Err(class) => {
            tracing::warn!(tenant = %tenant, provider = %provider.name, class, "connect: the code was not redeemed");
            return error(TemporarilyUnavailable, UNAVAILABLE);
        }
    };
    if let Err(e) = store_connection(state, &provider, &vault, user, &token, account, now).await {
        return outage(e);
    }
    match issue_code(state, tenant, &tx.client, user, tx.auth_time, now).await {
        Ok(code) => ClientAnswer::Code(code),
        Err(e) => outage(e),
    }
}

/// Seals a code exchange's answer and stores it as `user`'s connection to
/// `provider` (a reconnect replaces the grant); audited `upstream_connected`
/// (detail `browser`).
pub(crate) async fn store_connection(
    state: &AppState,
    provider: &Provider,
    vault: &crate::tokens::vault::Vault,
    user: &UserId,
    token: &engine::TokenAnswer,
    account: Option<String>,
    now: Now,
) -> Result<(), String> {
    let name = crate::ids::ProviderName::parse(&provider.name).map_err(|e| e.to_string())?;
    let key = ConnectionKey {
        tenant: provider.tenant.clone(),
        owner: Owner::User(user.clone()),
        provider: name,
    };
    let sealed =
        crate::tokens::upstream::new_connection(vault, key, provider.quirks(), token, account, now)
            .map_err(|e| e.to_string())?;
    state
        .ports()
        .connections
        .connect(&sealed, now)
        .await
        .map_err(|e| e.to_string())?;
    crate::audit::upstream(
        crate::audit::UpstreamEvent::Connected,
        &provider.tenant,
        &provider.name,
        user.as_str(),
        "browser",
    );
    Ok(())
}

/// The code exchange at the provider: the answer's tokens, or the failure's
/// class (a fixed word, for the log).
pub(crate) async fn redeem(
    state: &AppState,
    provider: &Arc<Provider>,
    secret: Option<&secrecy::SecretString>,
    code: &str,
    binding: &str,
    urls: &crate::config::Config,
) -> Result<engine::TokenAnswer, &'static str> {
    let q = provider.quirks();
    let client = UpstreamClient {
        id: &provider.client_id,
        secret,
    };
    let verifier = q.pkce.then(|| upstream_tx::pkce_verifier(binding));
    let callback_uri = urls.upstream_callback(&provider.tenant, &provider.name);
    let call = engine::code_call(provider, &client, code, &callback_uri, verifier.as_deref());
    let answer = match state.ports().upstream.post(&call).await {
        Ok(a) => a,
        Err(engine::CallError::NotSent(_)) => return Err("not_sent"),
        Err(engine::CallError::Lost(_)) => return Err("lost"),
    };
    engine::read_token_answer(q, &answer).map_err(|r| match r {
        engine::Refusal::Dead { .. } => "refused",
        engine::Refusal::Transient { class, .. } => class,
        engine::Refusal::PasswordChangeRequired { .. } => "password_change_required",
    })
}

/// An outage after the transaction was taken: the client may start again.
fn outage(cause: impl std::fmt::Display) -> ClientAnswer {
    tracing::error!(error = %cause, "connect: dependency unavailable");
    error(ErrorCode::TemporarilyUnavailable, UNAVAILABLE)
}

/// RFC 6749 §4.1.2.1's codes pass on as they are; any other upstream error
/// reaches the client as `access_denied` (never the upstream's text).
pub(crate) fn from_upstream(e: &str) -> ErrorCode {
    use ErrorCode::*;
    [
        InvalidRequest,
        UnauthorizedClient,
        AccessDenied,
        UnsupportedResponseType,
        InvalidScope,
        ServerError,
        TemporarilyUnavailable,
    ]
    .into_iter()
    .find(|c| c.as_str() == e)
    .unwrap_or(AccessDenied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_upstream_errors_reach_the_client_as_they_are() {
        assert_eq!(from_upstream("access_denied"), ErrorCode::AccessDenied);
        assert_eq!(
            from_upstream("temporarily_unavailable"),
            ErrorCode::TemporarilyUnavailable
        );
        assert_eq!(from_upstream("invalid_scope"), ErrorCode::InvalidScope);
        assert_eq!(from_upstream("consent_required"), ErrorCode::AccessDenied);
        assert_eq!(from_upstream("invalid_grant"), ErrorCode::AccessDenied);
        assert_eq!(from_upstream("<script>"), ErrorCode::AccessDenied);
    }
}
