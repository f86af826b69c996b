//! Federated sign-in, "Sign in with {provider}" (SPEC: Federated sign-in),
//! HTTP-free. It rides on the connect flow's machinery (`oauth::connect`):
//! the same single-use upstream transaction bound to the browser by the
//! `__Host-` cookie, the same redirect URI (`…/upstream/{name}/callback`;
//! the transaction's [`Leg`] tells a sign-in from a connect), the same code
//! redemption, and the same ending (`connect::issue_code`).
//!
//! [`start`]: from the login page's link, with a verified (and spent) login
//! transaction: the upstream transaction is stored and the browser sent to
//! the provider with `state`, `nonce` (derived from the cookie's value, never
//! stored) and PKCE S256, `scope` holding `openid`.
//!
//! [`finish`]: after the connect flow took the transaction, the code is
//! redeemed, the ID token validated (`tokens::id_token`), and its (`iss`,
//! `sub`) looked up in the tenant's links; with `create_users` an unknown
//! subject becomes a user, once. Never by email. Anything that signs nobody
//! in is [`Failed`]: a page offering the password form of the same request.

use crate::AppState;
use crate::clock::Now;
use crate::domain::providers::Provider;
use crate::domain::providers::engine;
use crate::domain::records::User;
use crate::domain::upstream_tx::{self, ClientRequest, Leg, UpstreamTx};
use crate::ids::{TenantId, UserId};
use crate::oauth::connect::{self, ClientAnswer, Finish, Redirect, StartFailure, ToClient};
use crate::ports::StoreError;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Why a federated sign-in signed nobody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No user is linked to the subject (and the provider creates none).
    NotLinked,
    /// Refused: the provider's error, a bad ID token, a disabled user, …
    Refused,
    /// The provider or Tollgate's storage failed: try again later.
    Unavailable,
}

/// A sign-in that was taken and failed: what the page needs to offer the
/// password form of the same request again.
#[derive(Debug)]
pub struct Failed {
    pub client: ClientRequest,
    /// The provider's display name (the page names it).
    pub provider: String,
    /// Whether the request also connected this provider.
    pub connect: bool,
    pub why: Why,
}

/// After the login page's link: stores the sign-in's upstream transaction and
/// builds the provider's authorize URL.
pub async fn start(
    state: &AppState,
    tenant: &TenantId,
    provider_name: &str,
    client: ClientRequest,
    connect: bool,
    now: Now,
) -> Result<connect::ToProvider, StartFailure> {
    let unavailable = |e: &dyn std::fmt::Display| StartFailure::Unavailable(e.to_string());
    let provider = state
        .provider(tenant, provider_name)
        .await
        .map_err(|e| unavailable(&e))?
        .filter(|p| p.offers_sign_in())
        .ok_or(StartFailure::NotConnectable)?;
    let name = crate::ids::ProviderName::parse(&provider.name)
        .map_err(|_| StartFailure::NotConnectable)?;
    // Fail here, not after the user went through the provider.
    let (secret, urls) = tokio::join!(state.upstream_client_secret(&provider), state.urls());
    secret.map_err(|e| unavailable(&e))?;
    let callback_uri = urls
        .map_err(|e| unavailable(&e))?
        .upstream_callback(tenant, &provider.name);
    if connect {
        state.vault(tenant).await.map_err(|e| unavailable(&e))?;
    }
    let binding = upstream_tx::new_binding();
    let up_state = engine::new_state(provider.quirks());
    let challenge = engine::pkce_challenge(&upstream_tx::pkce_verifier(&binding));
    let base = engine::authorize_url(&provider, &callback_uri, &up_state, Some(&challenge))
        .ok_or(StartFailure::NotConnectable)?;
    let location = with_openid_and_nonce(&base, &upstream_tx::signin_nonce(&binding))
        .ok_or(StartFailure::NotConnectable)?;
    let tx = UpstreamTx {
        tenant: tenant.clone(),
        state_hash: upstream_tx::state_key(&up_state),
        binding_hash: upstream_tx::binding_hash(&binding),
        provider: name,
        leg: Leg::SignIn { connect },
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
    tracing::info!(tenant = %tenant, provider = %provider.name, "sign-in: to the provider");
    Ok(connect::ToProvider { location, binding })
}

/// The authorize URL with `openid` in its scope and the sign-in's `nonce`.
fn with_openid_and_nonce(url: &str, nonce: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let has_scope = pairs.iter().any(|(k, _)| k == "scope");
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            if k == "scope" && !v.split(' ').any(|s| s == "openid") {
                q.append_pair(k, &format!("openid {v}"));
            } else if k != "nonce" {
                q.append_pair(k, v);
            }
        }
        if !has_scope {
            q.append_pair("scope", "openid");
        }
        q.append_pair("nonce", nonce);
    }
    Some(u.into())
}

/// The provider's redirect for a taken sign-in transaction.
pub async fn finish(
    state: &AppState,
    tx: UpstreamTx,
    connect: bool,
    redirect: &Redirect<'_>,
    binding: &str,
    now: Now,
) -> Finish {
    let tenant = tx.tenant.clone();
    let provider = match state.provider(&tenant, tx.provider.as_str()).await {
        Ok(Some(p)) if p.offers_sign_in() => p,
        Ok(_) => {
            return failed(
                &tx,
                tx.provider.as_str(),
                connect,
                Why::Refused,
                "provider_gone",
            );
        }
        Err(e) => return unavailable(&tx, tx.provider.as_str(), connect, e),
    };
    match sign_in(state, &tx, &provider, connect, redirect, binding, now).await {
        Ok((user, how)) => {
            crate::audit::upstream(
                crate::audit::UpstreamEvent::FederatedSignInSucceeded,
                &tenant,
                &provider.name,
                user.as_str(),
                how,
            );
            match connect::issue_code(state, &tenant, &tx.client, &user, now.secs(), now).await {
                Ok(code) => Finish::ToClient(Box::new(ToClient {
                    client: tx.client,
                    user,
                    answer: ClientAnswer::Code(code),
                })),
                Err(e) => unavailable(&tx, &provider.display_name, connect, e),
            }
        }
        Err((why, reason)) => {
            if why == Why::Unavailable {
                tracing::warn!(tenant = %tenant, provider = %provider.name, reason, "sign-in: unavailable");
            }
            failed(&tx, &provider.display_name, connect, why, reason)
        }
    }
}

fn failed(tx: &UpstreamTx, provider: &str, connect: bool, why: Why, reason: &str) -> Finish {
    crate::audit::upstream(
        crate::audit::UpstreamEvent::FederatedSignInRefused,
        &tx.tenant,
        tx.provider.as_str(),
        "",
        reason,
    );
    Finish::SignInFailed(Box::new(Failed {
        client: tx.client.clone(),
        provider: provider.to_owned(),
        connect,
        why,
    }))
}

fn unavailable(
    tx: &UpstreamTx,
    provider: &str,
    connect: bool,
    cause: impl std::fmt::Display,
) -> Finish {
    tracing::error!(error = %cause, "sign-in: dependency unavailable");
    failed(tx, provider, connect, Why::Unavailable, "unavailable")
}

type Refused = (Why, &'static str);

/// Redeems the code, validates the ID token, finds (or makes) the user, and
/// stores the connection when asked: the user and how it was found.
async fn sign_in(
    state: &AppState,
    tx: &UpstreamTx,
    provider: &Arc<Provider>,
    connect: bool,
    redirect: &Redirect<'_>,
    binding: &str,
    now: Now,
) -> Result<(UserId, &'static str), Refused> {
    let down = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "sign-in: dependency unavailable");
        (Why::Unavailable, "unavailable")
    };
    if redirect.error.is_some() {
        return Err((Why::Refused, "provider_error"));
    }
    if let (Some(iss), Some(expected)) = (redirect.iss, provider.endpoints.issuer.as_deref())
        && iss != expected
    {
        return Err((Why::Refused, "mix_up"));
    }
    let Some(code) = redirect
        .code
        .filter(|c| engine::code_ok(provider.quirks(), c))
    else {
        return Err((Why::Refused, "no_code"));
    };
    let (secret, urls) = tokio::join!(state.upstream_client_secret(provider), state.urls());
    let secret = secret.map_err(|e| down(&e))?;
    let urls = urls.map_err(|e| down(&e))?;
    let token = connect::redeem(state, provider, secret.as_ref(), code, binding, urls)
        .await
        .map_err(|class| {
            tracing::warn!(tenant = %tx.tenant, provider = %provider.name, class, "sign-in: the code was not redeemed");
            (Why::Unavailable, "code_not_redeemed")
        })?;
    let Some(raw) = token.id_token.as_ref() else {
        return Err((Why::Refused, "no_id_token"));
    };
    let claims = crate::tokens::id_token::validate(
        secrecy::ExposeSecret::expose_secret(raw),
        provider,
        &upstream_tx::signin_nonce(binding),
        state.issuer_keys(),
        state.fetcher(),
        now.secs(),
    )
    .await
    .map_err(|f| match f.reason() {
        "keys_unavailable" => (Why::Unavailable, "keys_unavailable"),
        r => (Why::Refused, r),
    })?;
    let (user, how) = user_of(state, provider, &claims, now).await?;
    if connect {
        let vault = state.vault(&tx.tenant).await.map_err(|e| down(&e))?;
        let account = engine::account_label(provider.quirks(), redirect.param);
        connect::store_connection(state, provider, &vault, &user, &token, account, now)
            .await
            .map_err(|e| down(&e))?;
    }
    Ok((user, how))
}

/// The user the verified (`iss`, `sub`) is linked to, or a new one (with
/// `create_users`, made once even when first sign-ins race: the link, the
/// username and the user are one conditional transaction, and the losers
/// read the winner's link). Never found by email.
async fn user_of(
    state: &AppState,
    provider: &Provider,
    claims: &Map<String, Value>,
    now: Now,
) -> Result<(UserId, &'static str), Refused> {
    let down = |e: StoreError| {
        tracing::error!(error = %e, "sign-in: storage unavailable");
        (Why::Unavailable, "unavailable")
    };
    let tenant = &provider.tenant;
    let issuer = provider.endpoints.issuer.as_deref().unwrap_or_default();
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fed = state.federation();
    let mut attempt = 0u64;
    let (id, how) = loop {
        match fed.linked_user(tenant, issuer, sub).await.map_err(down)? {
            Some(id) => break (id, "linked"),
            None if !provider.create_users => return Err((Why::NotLinked, "not_linked")),
            None => {}
        }
        let user = new_user(tenant, issuer, sub, claims, now);
        match fed.create_linked_user(&user, issuer, sub).await {
            Ok(()) => break (user.user_id, "created"),
            Err(StoreError::AlreadyExists) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(40 * attempt)).await;
            }
            Err(StoreError::AlreadyExists) => return Err((Why::Refused, "username_taken")),
            Err(e) => return Err(down(e)),
        }
    };
    match state.users().user(tenant, &id).await.map_err(down)? {
        Some(u) if u.enabled => Ok((id, how)),
        Some(_) => Err((Why::Refused, "user_disabled")),
        None => Err((Why::NotLinked, "not_linked")),
    }
}

/// A user made at first sign-in: name and a verified email copied from the
/// ID token, no password, username `{sub}@{issuer host}` (as token
/// exchange's `--create-users` makes them).
fn new_user(
    tenant: &TenantId,
    issuer: &str,
    sub: &str,
    claims: &Map<String, Value>,
    now: Now,
) -> User {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= 256 && !v.chars().any(char::is_control))
            .map(str::to_owned)
    };
    let host = url::Url::parse(issuer)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_owned(), |p| format!("{h}:{p}"))
            })
        })
        .unwrap_or_else(|| "external".to_owned());
    let mut username = format!("{sub}@{host}");
    if username.len() > 256 {
        username = format!("{}@{host}", crate::crypto::token_hash(sub));
    }
    User {
        tenant: tenant.clone(),
        user_id: UserId::generate(),
        username,
        password_hash: String::new(),
        // Only an address the provider verified: an unverified one would let
        // anyone there claim someone else's address here.
        email: text("email").filter(|_| claims.get("email_verified") == Some(&Value::Bool(true))),
        name: text("name"),
        attrs: Default::default(),
        require_password_change: false,
        pwd_version: 0,
        enabled: true,
        created_at: now.secs(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_always_asks_openid_and_carries_the_nonce() {
        let u = with_openid_and_nonce("https://idp.example/auth?scope=email&state=s", "N").unwrap();
        let u = url::Url::parse(&u).unwrap();
        let get = |k: &str| {
            u.query_pairs()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("scope"), ["openid email"]);
        assert_eq!(get("nonce"), ["N"]);
        assert_eq!(get("state"), ["s"]);
        let u = with_openid_and_nonce("https://idp.example/auth?scope=openid+x&nonce=old", "N")
            .unwrap();
        assert!(u.contains("scope=openid+x") && u.ends_with("nonce=N") && !u.contains("old"));
        let u = with_openid_and_nonce("https://idp.example/auth?state=s", "N").unwrap();
        assert!(u.contains("scope=openid"));
    }
}
