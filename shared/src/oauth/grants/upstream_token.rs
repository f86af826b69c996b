//! Getting an upstream token (SPEC: Upstream providers — Getting an upstream
//! token): RFC 8693 at the token endpoint with `audience={provider}`. The
//! subject is an active access token of this tenant carrying
//! `upstream:{provider}`, issued to the calling client: the user's (their
//! connection) or the client's own client_credentials token (the tenant's
//! service connection). The answer is the provider's access token, fresh
//! (`oauth::upstream`), never its refresh token.
//!
//! A provider name is a slug without a scheme, so it never collides with a
//! tenant's audience URIs: [`is_provider_audience`] decides which kind of
//! exchange a request is.

use super::GrantCtx;
use super::token_exchange::ExchangeRequest;
use crate::domain::connections::{ConnectionKey, Owner};
use crate::domain::providers::upstream_scope;
use crate::domain::token_exchange::{ACCESS_TOKEN_TYPE, TokenKind};
use crate::domain::upstream_refresh::FUNCTION_TIMEOUT;
use crate::ids::ProviderName;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::outcome::{ExchangedToken, TokenOutcome};
use crate::oauth::token_state::{self, Viewer};
use crate::oauth::upstream::{self, Mode, Unserved};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Whether an exchange's `audience` names a provider (a slug) rather than
/// one of the tenant's audience URIs.
pub fn is_provider_audience(audience: Option<&str>) -> bool {
    audience.is_some_and(|a| ProviderName::parse(a).is_ok())
}

/// Seconds shaved off what is left of an upstream token when it is handed
/// out: the caller's clock and network delay (counted conservatively).
const EXPIRY_SLACK: u64 = 5;

fn target(d: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, d)
}

#[tracing::instrument(name = "upstream_token", skip_all, fields(provider))]
pub async fn grant(ctx: &GrantCtx<'_>, r: ExchangeRequest) -> Result<TokenOutcome, OAuthError> {
    // Lambda stops the function at its timeout, counted from the invocation's
    // start: answer before it.
    let deadline = ctx.started + FUNCTION_TIMEOUT - Duration::from_secs(1);
    let client = &ctx.client.client;
    if client.public {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use token exchange",
        ));
    }
    if r.requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(
            "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if r.actor_token.is_some() || r.actor_token_type.is_some() {
        return Err(OAuthError::invalid_request(
            "an upstream token is not issued with an actor_token",
        ));
    }
    if r.resource.is_some() {
        return Err(target(
            "resource cannot be combined with a provider audience",
        ));
    }
    if TokenKind::parse(&r.subject_token_type) != Some(TokenKind::Local) {
        return Err(OAuthError::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    let name = r.audience.as_deref().unwrap_or_default();
    tracing::Span::current().record("provider", name);
    // Unknown provider, or a client not registered for it: the same answer.
    let wanted = upstream_scope(name);
    let raw = r
        .subject_token
        .value()
        .ok_or_else(|| OAuthError::invalid_grant("subject_token is too long to be valid"))?;
    // Three independent reads at once (a cold sandbox pays each round trip):
    // the provider, the subject's state, and the tenant's vault keys (cached
    // for the refresh protocol; a failure there is reported by it).
    let registered = client.scopes.contains(&wanted);
    let (provider, active, _) = tokio::join!(
        async {
            if registered {
                ctx.state.provider(&ctx.tenant.id, name).await
            } else {
                Ok(None)
            }
        },
        token_state::access_token(
            ctx.state,
            ctx.tenant,
            &ctx.issuer,
            raw,
            ctx.now,
            |_| false,
            Viewer::Any,
        ),
        async {
            if registered {
                let _ = ctx.state.vault(&ctx.tenant.id).await;
            }
        }
    );
    let provider =
        provider?.ok_or_else(|| target("audience is no provider this client may use"))?;
    let active = active?
        .ok_or_else(|| OAuthError::invalid_request("subject_token is invalid or inactive"))?;
    // The user consented to this app using their account: the token must be
    // the app's own.
    if active.token.client_id != client.client_id {
        return Err(OAuthError::invalid_request(
            "subject_token was not issued to this client",
        ));
    }
    if !active.token.scope.split(' ').any(|s| s == wanted) {
        return Err(OAuthError::invalid_scope(format!(
            "subject_token does not carry {wanted}"
        )));
    }
    let owner = match &active.user {
        Some(u) => Owner::User(u.user_id.clone()),
        None => Owner::Service,
    };
    let provider_name = ProviderName::parse(&provider.name)
        .map_err(|_| target("audience is no provider this client may use"))?;
    let key = ConnectionKey {
        tenant: ctx.tenant.id.clone(),
        owner,
        provider: provider_name,
    };
    let served = upstream::token(ctx.state, &provider, &key, Mode::Serve, deadline)
        .await
        .map_err(|u| match u {
            Unserved::NotLinked => OAuthError::new(
                ErrorCode::NotLinked,
                "no connection to this provider; connect the account first",
            ),
            Unserved::ReconnectRequired => OAuthError::new(
                ErrorCode::ReconnectRequired,
                "the connection to this provider must be made again",
            ),
            Unserved::Unavailable { retry_after } => OAuthError {
                retry_after: Some(retry_after),
                ..OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the provider is unavailable; retry later",
                )
            },
        })?;
    if let Some(requested) = r.scope.as_deref() {
        let have: Vec<&str> = served.scope.split(' ').collect();
        if served.scope.is_empty() || !requested.split(' ').all(|s| have.contains(&s)) {
            return Err(OAuthError::invalid_scope(
                "scope exceeds what the provider granted",
            ));
        }
    }
    let expires_in = served
        .expires_at
        .saturating_sub(ctx.state.now().secs())
        .saturating_sub(EXPIRY_SLACK)
        .max(1);
    Ok(TokenOutcome::Exchanged(ExchangedToken {
        access_token: served.access_token.expose_secret().to_owned(),
        expires_in,
        scope: served.scope,
    }))
}
