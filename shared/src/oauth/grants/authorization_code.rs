//! grant_type=authorization_code: the code is consumed exactly once (a
//! conditional write), then bound to client, redirect_uri and PKCE. A second
//! redemption revokes the refresh-token family the first one started.

use super::GrantCtx;
use crate::crypto::{random_token, token_hash};
use crate::domain::pkce::is_valid_pkce_verifier;
use crate::domain::records::Grant;
use crate::oauth::error::OAuthError;
use crate::oauth::mint::UserGrant;
use crate::oauth::outcome::TokenOutcome;

const BAD_CODE: &str = "authorization code is invalid, expired or already used";

/// `code`: `None` when it was too long to be valid.
#[tracing::instrument(name = "authorization_code", skip_all)]
pub async fn grant(
    ctx: &GrantCtx<'_>,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
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
    let Some(code) = code else {
        return Err(OAuthError::invalid_grant(BAD_CODE));
    };
    let codes = ctx.state.codes();
    let families = ctx.state.refresh_tokens();
    let tenant = &ctx.tenant.id;
    let code_hash = token_hash(code);
    let Some(stored) = codes.get(tenant, &code_hash, ctx.now).await? else {
        return Err(OAuthError::invalid_grant(BAD_CODE));
    };
    if let Some(used) = &stored.family_id {
        crate::audit::record(
            crate::audit::Event::CodeReplayDetected,
            tenant,
            crate::audit::Subject {
                client: Some(&client.client_id),
                detail: Some("family revoked"),
                ..crate::audit::Subject::default()
            },
        );
        families.revoke_family(tenant, used, ctx.now).await?;
        return Err(OAuthError::invalid_grant(BAD_CODE));
    }
    // A code presented with the wrong binding is burnt: it never works again.
    let burn = || async {
        codes.burn(tenant, &code_hash, ctx.now).await?;
        Ok::<(), OAuthError>(())
    };
    if stored.client_id != client.client_id {
        burn().await?;
        return Err(OAuthError::invalid_grant(BAD_CODE));
    }
    let redirect_ok = match redirect_uri {
        Some(r) => r == stored.redirect_uri,
        None => !stored.redirect_uri_in_request,
    };
    if !redirect_ok {
        burn().await?;
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let pkce = crate::domain::pkce::verify_exchange(stored.code_challenge.as_deref(), verifier);
    if let Err(why) = pkce {
        burn().await?;
        return Err(OAuthError::invalid_grant(why));
    }
    let Some(user) = ctx
        .state
        .users()
        .user(tenant, &stored.user_id)
        .await?
        .filter(|u| u.enabled)
    else {
        burn().await?;
        return Err(OAuthError::invalid_grant(BAD_CODE));
    };
    // Every token is made before anything is written; then the code is
    // consumed and the refresh token stored in one transaction, so an outage
    // at any point leaves the code redeemable.
    let family_id = random_token(16);
    let minted = ctx
        .minter()
        .user_tokens(UserGrant {
            user: &user,
            scope: &stored.scope,
            nonce: stored.nonce.as_deref(),
            auth_time: stored.auth_time,
            family_id: family_id.clone(),
        })
        .await?;
    match codes
        .redeem(
            tenant,
            &code_hash,
            &family_id,
            Some(&minted.family),
            ctx.now,
        )
        .await?
    {
        Ok(()) => Ok(minted.tokens.into()),
        Err(()) => {
            // Redeemed (or expired) between our read and our write: if it was
            // redeemed, this is a replay, and what the winner issued dies.
            if let Some(used) = codes
                .get(tenant, &code_hash, ctx.now)
                .await?
                .and_then(|c| c.family_id)
            {
                crate::audit::record(
                    crate::audit::Event::CodeReplayDetected,
                    tenant,
                    crate::audit::Subject {
                        client: Some(&client.client_id),
                        detail: Some("family revoked"),
                        ..crate::audit::Subject::default()
                    },
                );
                families.revoke_family(tenant, &used, ctx.now).await?;
            }
            Err(OAuthError::invalid_grant(BAD_CODE))
        }
    }
}
