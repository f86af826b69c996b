//! grant_type=refresh_token (token and refresh endpoints): client binding, scope
//! can only shrink, rotation in one transaction. An exact retry of the old token
//! within 10 s gets the same successor; any other reuse revokes the family.

use super::{GrantCtx, Tokens};
use crate::crypto::{b64url, hmac_sha256, random_token, token_hash};
use crate::error::OAuthError;
use crate::jwt::AccessToken;
use crate::scope;
use crate::store::{RefreshState, RefreshToken, RotateFailure};
use std::time::Duration;

/// A retry of the same old token within this many seconds is not reuse.
pub const RETRY_WINDOW: u64 = 10;
const ATTEMPTS: u32 = 8;
const REVOKED: &str = "refresh token is invalid, expired or revoked";

/// The successor of a token: `HMAC(old token, salt)`. Only a holder of the old
/// token can recompute it, and the salt is random per rotation.
fn successor_of(token: &str, salt: &str) -> String {
    b64url(&hmac_sha256(token.as_bytes(), salt.as_bytes()))
}

pub async fn grant(
    ctx: &GrantCtx<'_>,
    token: &str,
    requested: Option<&str>,
) -> Result<Tokens, OAuthError> {
    let client = &ctx.client.client;
    if !client.may_refresh() {
        return Err(OAuthError::unauthorized_client(
            "client is not registered for refresh_token",
        ));
    }
    let db = ctx.state.db().await;
    let tenant = &ctx.tenant.id;
    let hash = token_hash(token);
    for attempt in 0..ATTEMPTS {
        let old = db
            .get_refresh(tenant, &hash, ctx.now)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant(REVOKED))?;
        if old.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(REVOKED));
        }
        let family = db
            .get_family(tenant, &old.family_id, ctx.now)
            .await?
            .filter(|f| !f.revoked)
            .ok_or_else(|| OAuthError::invalid_grant(REVOKED))?;
        let user = db
            .get_user(tenant, &old.user_id)
            .await?
            .filter(|u| u.enabled && u.pwd_version == family.pwd_version)
            .ok_or_else(|| OAuthError::invalid_grant(REVOKED))?;
        let access_scope =
            scope::narrow(&old.scope, requested).map_err(OAuthError::invalid_scope)?;

        let successor = match &old.state {
            RefreshState::Active => {
                let salt = random_token(32);
                let successor = successor_of(token, &salt);
                let next = RefreshToken {
                    token_hash: token_hash(&successor),
                    issued_at: ctx.now.secs(),
                    expires_at: ctx.now.plus(ctx.tenant.refresh_token_ttl),
                    state: RefreshState::Active,
                    ..old.clone()
                };
                match db.rotate_refresh(&old, &next, &salt, ctx.now).await? {
                    Ok(()) => successor,
                    Err(RotateFailure::OldNotActive | RotateFailure::Conflict) => {
                        // Someone else rotated (or is rotating) it: look again.
                        tokio::time::sleep(Duration::from_millis(15 * u64::from(attempt + 1)))
                            .await;
                        continue;
                    }
                    Err(RotateFailure::FamilyRevoked | RotateFailure::PasswordChanged) => {
                        return Err(OAuthError::invalid_grant(REVOKED));
                    }
                }
            }
            RefreshState::Rotated {
                at,
                salt,
                successor_hash,
            } => {
                let successor = successor_of(token, salt);
                let in_window = ctx.now.secs().saturating_sub(*at) <= RETRY_WINDOW;
                let still_current = in_window
                    && token_hash(&successor) == *successor_hash
                    && db
                        .get_refresh(tenant, successor_hash, ctx.now)
                        .await?
                        .is_some_and(|s| s.state == RefreshState::Active);
                if !still_current {
                    tracing::warn!("refresh token reuse detected; revoking its family");
                    db.revoke_family(tenant, &old.family_id, ctx.now).await?;
                    return Err(OAuthError::invalid_grant(REVOKED));
                }
                successor
            }
        };

        let signer = ctx.state.signer(tenant).await?;
        let access_token = AccessToken {
            issuer: &ctx.issuer,
            tenant: ctx.tenant,
            client_id: &client.client_id,
            scope: &access_scope,
            user: Some(&user),
            auth_time: None,
        }
        .sign(&signer, ctx.now)?;
        return Ok(Tokens {
            access_token,
            expires_in: ctx.tenant.access_token_ttl,
            refresh_token: Some(successor),
            scope: access_scope,
            id_token: None,
        });
    }
    Err(OAuthError::new(
        crate::error::ErrorCode::TemporarilyUnavailable,
        "too much contention on this refresh token; retry",
    ))
}
