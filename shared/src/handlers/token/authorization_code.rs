//! grant_type=authorization_code: the code is consumed exactly once (a
//! conditional write), then bound to client, redirect_uri and PKCE. A second
//! redemption revokes the refresh-token family the first one started.

use super::issue::{UserGrant, user_tokens};
use super::{GrantCtx, Tokens};
use crate::crypto::{is_valid_pkce_verifier, pkce_s256_matches, random_token, token_hash};
use crate::error::OAuthError;
use crate::store::Grant;

const BAD_CODE: &str = "authorization code is invalid, expired or already used";

pub async fn grant(
    ctx: &GrantCtx<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Tokens, OAuthError> {
    let client = &ctx.client.client;
    if !client.has_grant(Grant::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "client is not registered for authorization_code",
        ));
    }
    if let Some(v) = verifier
        && !is_valid_pkce_verifier(v)
    {
        return Err(OAuthError::invalid_request("malformed code_verifier"));
    }
    let db = ctx.state.db().await;
    let tenant = &ctx.tenant.id;
    let family_id = random_token(16);
    let code = match db
        .consume_code(tenant, &token_hash(code), &family_id, ctx.now)
        .await?
    {
        Ok(c) => c,
        Err(previous) => {
            if let Some(used) = previous.and_then(|p| p.family_id) {
                tracing::warn!("authorization code replayed; revoking the tokens it issued");
                db.revoke_family(tenant, &used, ctx.now).await?;
            }
            return Err(OAuthError::invalid_grant(BAD_CODE));
        }
    };
    if code.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(BAD_CODE));
    }
    let redirect_ok = match redirect_uri {
        Some(r) => r == code.redirect_uri,
        None => !code.redirect_uri_in_request,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&code.code_challenge, verifier) {
        (Some(ch), Some(v)) if pkce_s256_matches(v, ch) => {}
        (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("PKCE verification failed")),
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let user = db
        .get_user(tenant, &code.user_id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::invalid_grant(BAD_CODE))?;
    user_tokens(
        ctx,
        UserGrant {
            user: &user,
            scope: &code.scope,
            nonce: code.nonce.as_deref(),
            auth_time: code.auth_time,
            family_id,
        },
    )
    .await
}
