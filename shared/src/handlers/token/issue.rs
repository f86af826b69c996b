//! Issuing a user's tokens (authorization_code and password grants).

use super::{GrantCtx, Tokens};
use crate::crypto::{random_token, token_hash};
use crate::error::OAuthError;
use crate::jwt::{AccessToken, IdToken};
use crate::scope;
use crate::store::{Family, RefreshState, RefreshToken, User};

pub struct UserGrant<'a> {
    pub user: &'a User,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: u64,
    /// The family to start (decided before, e.g. recorded on the code).
    pub family_id: String,
}

/// Whether this client gets a refresh token for this scope: clients registered
/// for authorization_code or password do, except that clients registered with
/// `--require-offline-access` need `offline_access` in the scope.
pub fn wants_refresh(ctx: &GrantCtx<'_>, scope_str: &str) -> bool {
    crate::domain::refresh_eligibility::gets_refresh_token(&ctx.client.client, scope_str)
}

/// A user's tokens, signed but not yet stored: the caller writes the refresh
/// token (if any) together with whatever else must happen atomically.
pub struct Minted {
    pub tokens: Tokens,
    pub refresh: Option<(Family, RefreshToken)>,
}

/// Signs the access token (and id_token) and makes the refresh token, without
/// writing anything: nothing is stored until every token exists.
pub async fn mint_user_tokens(ctx: &GrantCtx<'_>, g: UserGrant<'_>) -> Result<Minted, OAuthError> {
    let client = &ctx.client.client;
    let signer = ctx.state.signer(&ctx.tenant.id).await?;
    let access_token = AccessToken {
        issuer: &ctx.issuer,
        tenant: ctx.tenant,
        client_id: &client.client_id,
        scope: g.scope,
        user: Some(g.user),
        auth_time: Some(g.auth_time),
    }
    .sign(&signer, ctx.now)?;
    let id_token = if scope::contains(g.scope, "openid") {
        Some(
            IdToken {
                issuer: &ctx.issuer,
                client_id: &client.client_id,
                user: g.user,
                scope: g.scope,
                nonce: g.nonce,
                auth_time: g.auth_time,
                ttl: ctx.tenant.access_token_ttl,
            }
            .sign(&signer, ctx.now)?,
        )
    } else {
        None
    };
    let (refresh_token, refresh) = if wants_refresh(ctx, g.scope) {
        let token = random_token(32);
        let expires_at = ctx.now.plus(ctx.tenant.refresh_token_ttl);
        let family = Family {
            tenant: ctx.tenant.id.clone(),
            family_id: g.family_id.clone(),
            client_id: client.client_id.clone(),
            user_id: g.user.user_id.clone(),
            pwd_version: g.user.pwd_version,
            revoked: false,
            created_at: ctx.now.secs(),
            expires_at,
        };
        let rt = RefreshToken {
            tenant: ctx.tenant.id.clone(),
            token_hash: token_hash(&token),
            family_id: g.family_id,
            client_id: client.client_id.clone(),
            user_id: g.user.user_id.clone(),
            scope: g.scope.to_owned(),
            pwd_version: g.user.pwd_version,
            issued_at: ctx.now.secs(),
            expires_at,
            state: RefreshState::Active,
        };
        (Some(token), Some((family, rt)))
    } else {
        (None, None)
    };
    Ok(Minted {
        tokens: Tokens {
            access_token,
            expires_in: ctx.tenant.access_token_ttl,
            refresh_token,
            scope: g.scope.to_owned(),
            id_token,
        },
        refresh,
    })
}

/// Mints and stores (the password grant: nothing else to write atomically).
pub async fn user_tokens(ctx: &GrantCtx<'_>, g: UserGrant<'_>) -> Result<Tokens, OAuthError> {
    let minted = mint_user_tokens(ctx, g).await?;
    if let Some((family, rt)) = &minted.refresh {
        ctx.state.refresh_tokens().issue(family, rt).await?;
    }
    Ok(minted.tokens)
}
