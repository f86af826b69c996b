//! grant_type=refresh_token (token and refresh endpoints).
//!
//! The token's rotation state is looked at before anything else: a token that
//! was already rotated is either an exact retry — the same client, the same
//! token and the same requested `scope`, within 10 s of the rotation's commit,
//! while its successor is still unused — which gets the same successor, or it
//! is reuse, which revokes the whole family whatever else is wrong with the
//! request. Only an active token goes on to the client binding, the scope
//! (which can only shrink) and the rotation, one transaction.

use super::GrantCtx;
use crate::clock::Now;
use crate::crypto::{random_token, token_hash};
use crate::domain::refresh_eligibility::may_refresh;
use crate::domain::refresh_rotation::{
    Presented, Rotation, is_exact_retry, recorded_scope, successor_of,
};
use crate::error::OAuthError;
use crate::outcome::{TokenOutcome, Tokens};
use crate::scope;
use crate::store::{RefreshState, RefreshToken, RotateFailure, User};
use std::time::Duration;

const ATTEMPTS: u32 = 8;
const REVOKED: &str = "refresh token is invalid, expired or revoked";

pub async fn grant(
    ctx: &GrantCtx<'_>,
    token: &str,
    requested: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let client = &ctx.client.client;
    let store = ctx.state.refresh_tokens();
    let tenant = &ctx.tenant.id;
    let hash = token_hash(token);
    let retry_scope = recorded_scope(requested);
    for attempt in 0..ATTEMPTS {
        let Some(old) = store.get(tenant, &hash, ctx.now).await? else {
            return Err(if may_refresh(client) {
                OAuthError::invalid_grant(REVOKED)
            } else {
                not_registered()
            });
        };

        // 1. Rotation state first: a rotated token is an exact retry or reuse.
        if let RefreshState::Rotated {
            at,
            salt,
            successor_hash,
            retry_scope: recorded,
        } = &old.state
        {
            let successor = successor_of(token, salt);
            let successor_live = token_hash(&successor) == *successor_hash
                && store
                    .get(tenant, successor_hash, ctx.now)
                    .await?
                    .is_some_and(|s| s.state == RefreshState::Active);
            let exact = is_exact_retry(
                &Presented {
                    same_client: old.client_id == client.client_id,
                    scope: retry_scope.as_deref(),
                    now: ctx.now.secs(),
                },
                &Rotation {
                    committed_at: *at,
                    scope: recorded,
                    successor_live,
                },
            );
            if !exact {
                crate::audit::record(
                    crate::audit::Event::RefreshReuseDetected,
                    tenant,
                    crate::audit::Subject {
                        client: Some(&client.client_id),
                        user: Some(&old.user_id),
                        detail: Some("family revoked"),
                    },
                );
                store.revoke_family(tenant, &old.family_id, ctx.now).await?;
                return Err(OAuthError::invalid_grant(REVOKED));
            }
            let user = live_user(ctx, &old).await?;
            let access_scope =
                scope::narrow(&old.scope, requested).map_err(OAuthError::invalid_scope)?;
            return Ok(tokens(ctx, &user, &old.family_id, access_scope, successor)
                .await?
                .into());
        }

        // 2. An active token: the client's rights, then the token's binding.
        if !may_refresh(client) {
            return Err(not_registered());
        }
        if old.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(REVOKED));
        }
        let user = live_user(ctx, &old).await?;
        let access_scope =
            scope::narrow(&old.scope, requested).map_err(OAuthError::invalid_scope)?;
        let retry_scope = retry_scope.clone().unwrap_or_default();

        // 3. Rotate: old → rotated, successor written, in one transaction. The
        // rotation time is read when it commits (not when the request began,
        // which on a cold sandbox may be long before), so the retry window is
        // never shortened by set-up.
        let salt = random_token(32);
        let successor = successor_of(token, &salt);
        let committed = Now(ctx.state.now().secs().max(ctx.now.secs()));
        let next = RefreshToken {
            token_hash: token_hash(&successor),
            issued_at: committed.secs(),
            expires_at: committed.plus(ctx.tenant.refresh_token_ttl),
            state: RefreshState::Active,
            ..old.clone()
        };
        match store
            .rotate(&old, &next, &salt, &retry_scope, committed)
            .await?
        {
            Ok(()) => {
                return Ok(tokens(ctx, &user, &old.family_id, access_scope, successor)
                    .await?
                    .into());
            }
            Err(RotateFailure::OldNotActive | RotateFailure::Conflict) => {
                // Someone else rotated (or is rotating) it: look again.
                tokio::time::sleep(Duration::from_millis(15 * u64::from(attempt + 1))).await;
            }
            Err(RotateFailure::FamilyRevoked | RotateFailure::PasswordChanged) => {
                return Err(OAuthError::invalid_grant(REVOKED));
            }
        }
    }
    Err(OAuthError {
        retry_after: Some(1),
        ..OAuthError::new(
            crate::error::ErrorCode::TemporarilyUnavailable,
            "too much contention on this refresh token; retry",
        )
    })
}

fn not_registered() -> OAuthError {
    OAuthError::unauthorized_client("client is not registered for refresh_token")
}

/// The token's user, if the family is alive and the password unchanged since.
async fn live_user(ctx: &GrantCtx<'_>, old: &RefreshToken) -> Result<User, OAuthError> {
    let tenant = &ctx.tenant.id;
    let (family, user) = tokio::join!(
        ctx.state
            .refresh_tokens()
            .family(tenant, &old.family_id, ctx.now),
        ctx.state.users().user(tenant, &old.user_id)
    );
    let family = family?
        .filter(|f| !f.revoked)
        .ok_or_else(|| OAuthError::invalid_grant(REVOKED))?;
    user?
        .filter(|u| u.enabled && u.pwd_version == family.pwd_version)
        .ok_or_else(|| OAuthError::invalid_grant(REVOKED))
}

async fn tokens(
    ctx: &GrantCtx<'_>,
    user: &User,
    family_id: &str,
    access_scope: String,
    successor: String,
) -> Result<Tokens, OAuthError> {
    let access_token = ctx
        .issuer()
        .access_token(&access_scope, Some(user), None, Some(family_id))
        .await?;
    Ok(Tokens {
        access_token,
        expires_in: ctx.tenant.access_token_ttl,
        refresh_token: Some(successor),
        scope: access_scope,
        id_token: None,
    })
}
