//! grant_type=refresh_token (token and refresh endpoints).
//!
//! The token names its family; the family item holds the chain (the current
//! token's hash, the family's key, the last rotation). The token's place in
//! the chain is looked at before anything else: a token the last rotation
//! replaced is either an exact retry — the same client, the same token and
//! the same requested `scope` (compared as a set), within 10 s of the
//! rotation's commit, while its successor is still unused — which gets the
//! same successor, or it is reuse, like any older token of the family, which
//! revokes the whole family whatever else is wrong with the request. A token the server did not make revokes
//! nothing. Only the current token goes on to the client binding, the scope
//! (which can only shrink) and the rotation: one conditional write of the
//! family item. The user is read again after it commits, so a password change
//! (or a disable) that raced the rotation leaves no live token.

use super::GrantCtx;
use crate::clock::Now;
use crate::crypto::{b64url, b64url_decode, random_bytes, token_hash};
use crate::domain::family_lifetime;
use crate::domain::records::{Family, LastRotation, RefreshChain, User};
use crate::domain::refresh_eligibility::may_refresh;
use crate::domain::refresh_rotation::{
    Presented, Rotation, Standing, is_exact_retry, recorded_scope,
};
use crate::domain::scope;
use crate::oauth::error::OAuthError;
use crate::oauth::outcome::{TokenOutcome, Tokens};
use crate::oauth::token_state::{KnownRefresh, known_refresh};
use std::time::Duration;

const ATTEMPTS: u32 = 8;
const REVOKED: &str = "refresh token is invalid, expired or revoked";

/// `token`: `None` when it was too long to be valid (refused as an unknown
/// token is).
#[tracing::instrument(name = "refresh_token", skip_all)]
pub async fn grant(
    ctx: &GrantCtx<'_>,
    token: Option<&str>,
    requested: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let client = &ctx.client.client;
    let store = ctx.state.refresh_tokens();
    let tenant = &ctx.tenant.id;
    let unknown = || {
        if may_refresh(client) {
            OAuthError::invalid_grant(REVOKED)
        } else {
            not_registered()
        }
    };
    let Some(token) = token else {
        return Err(unknown());
    };
    let retry_scope = recorded_scope(requested);
    for attempt in 0..ATTEMPTS {
        // A token the server made, of a family whose current token has not
        // expired (older tokens of an expired chain are no longer judged).
        let Some(KnownRefresh {
            parts,
            key,
            family,
            chain,
            standing,
        }) = known_refresh(ctx.state, tenant, token, ctx.now)
            .await?
            .filter(|k| k.chain.expires_at > ctx.now.secs())
        else {
            return Err(unknown());
        };

        // 1. The token's place in the chain first.
        match standing {
            Standing::Forged => return Err(unknown()),
            Standing::Current if family.revoked => return Err(OAuthError::invalid_grant(REVOKED)),
            Standing::Current => {}
            place @ (Standing::Previous | Standing::Older) => {
                let successor =
                    b64url_decode(&chain.salt).and_then(|salt| parts.successor(&key, &salt));
                // Judged at the time of the decision, not when the request
                // began (a loser of a race may have waited for the winner).
                let decided = ctx.state.now().secs().max(ctx.now.secs());
                let exact = place == Standing::Previous
                    && chain.last_rotation.as_ref().is_some_and(|last| {
                        is_exact_retry(
                            &Presented {
                                same_client: family.client_id == client.client_id,
                                scope: retry_scope.as_deref(),
                                now: decided,
                            },
                            &Rotation {
                                committed_at: last.at,
                                scope: &last.retry_scope,
                                // The chain's current token is this token's
                                // successor: it has not been used.
                                successor_live: successor
                                    .as_deref()
                                    .is_some_and(|s| token_hash(s) == chain.current_hash),
                            },
                        )
                    });
                let (true, Some(successor), false) = (exact, successor, family.revoked) else {
                    return Err(reuse(ctx, &family, exact).await?);
                };
                let user = live_user(ctx, &family).await?;
                let access_scope =
                    scope::narrow(&chain.scope, requested).map_err(OAuthError::invalid_scope)?;
                return Ok(tokens(ctx, &user, &family, access_scope, successor)
                    .await?
                    .into());
            }
        }

        // 2. The current token: the client's rights, then the token's binding.
        if !may_refresh(client) {
            return Err(not_registered());
        }
        if family.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(REVOKED));
        }
        let user = live_user(ctx, &family).await?;
        let access_scope =
            scope::narrow(&chain.scope, requested).map_err(OAuthError::invalid_scope)?;
        let salt = random_bytes::<32>();
        let Some(successor) = parts.successor(&key, &salt) else {
            return Err(OAuthError::invalid_grant(REVOKED));
        };

        // 3. Rotate: one conditional write of the family item. The rotation
        // time is read when it commits (not when the request began, which on
        // a cold sandbox may be long before), so the retry window is never
        // shortened by set-up.
        let committed = Now(ctx.state.now().secs().max(ctx.now.secs()));
        let next = RefreshChain {
            generation: chain.generation + 1,
            current_hash: token_hash(&successor),
            salt: b64url(&salt),
            issued_at: committed.secs(),
            expires_at: committed.plus(ctx.tenant.refresh_token_ttl),
            last_rotation: Some(LastRotation {
                at: committed.secs(),
                retry_scope: retry_scope.clone().unwrap_or_default(),
            }),
            ..chain.clone()
        };
        let family_expires_at = family_lifetime::rotated(
            ctx.tenant,
            family.expires_at,
            next.expires_at,
            committed.secs(),
        );
        if store
            .rotate(&family, &next, family_expires_at, committed)
            .await?
        {
            // A password change or a disable committed before this read is
            // seen (strongly consistent): the family dies, nothing is
            // returned. One after it is a change after the refresh, whose
            // tokens then fail the version check on their next use.
            let still = live_user(ctx, &family).await;
            if let Err(e) = still {
                if e.code == crate::oauth::error::ErrorCode::InvalidGrant {
                    store
                        .revoke_family(tenant, &family.family_id, ctx.now)
                        .await?;
                }
                return Err(e);
            }
            return Ok(tokens(ctx, &user, &family, access_scope, successor)
                .await?
                .into());
        }
        // Someone else rotated (or revoked) it: look again.
        tokio::time::sleep(Duration::from_millis(15 * u64::from(attempt + 1))).await;
    }
    Err(OAuthError {
        retry_after: Some(1),
        ..OAuthError::new(
            crate::oauth::error::ErrorCode::TemporarilyUnavailable,
            "too much contention on this refresh token; retry",
        )
    })
}

/// Reuse: the whole family is revoked (and the reuse recorded, even when a
/// revocation came first). An exact retry of a revoked family's token is no
/// reuse: it is only refused.
async fn reuse(ctx: &GrantCtx<'_>, family: &Family, exact: bool) -> Result<OAuthError, OAuthError> {
    if exact {
        return Ok(OAuthError::invalid_grant(REVOKED));
    }
    crate::audit::record(
        crate::audit::Event::RefreshReuseDetected,
        &ctx.tenant.id,
        crate::audit::Subject {
            client: Some(&ctx.client.client.client_id),
            user: Some(&family.user_id),
            detail: Some("family revoked"),
        },
    );
    if !family.revoked {
        ctx.state
            .refresh_tokens()
            .revoke_family(&ctx.tenant.id, &family.family_id, ctx.now)
            .await?;
    }
    Ok(OAuthError::invalid_grant(REVOKED))
}

fn not_registered() -> OAuthError {
    OAuthError::unauthorized_client("client is not registered for refresh_token")
}

/// The family's user, if enabled and the password unchanged since the family
/// was born (read strongly consistently).
async fn live_user(ctx: &GrantCtx<'_>, family: &Family) -> Result<User, OAuthError> {
    ctx.state
        .users()
        .user(&ctx.tenant.id, &family.user_id)
        .await?
        .filter(|u| u.enabled && u.pwd_version == family.pwd_version)
        .ok_or_else(|| OAuthError::invalid_grant(REVOKED))
}

/// The refresh's answer: an access token of the resulting scope, the
/// successor and, when that scope holds `openid`, a fresh id_token of the
/// session's original authentication (SPEC: Tokens; OIDC Core §12.2). An
/// exact retry gets the same successor and tokens minted the same way.
async fn tokens(
    ctx: &GrantCtx<'_>,
    user: &User,
    family: &Family,
    access_scope: String,
    successor: String,
) -> Result<Tokens, OAuthError> {
    let issuer = ctx.minter();
    let access_token = issuer
        .access_token(
            &access_scope,
            Some(user),
            family.auth_time,
            Some(&family.family_id),
        )
        .await?;
    let id_token = issuer
        .id_token(user, &access_scope, None, family.auth_time)
        .await?;
    Ok(Tokens {
        access_token,
        expires_in: ctx.tenant.access_token_ttl,
        refresh_token: Some(successor),
        scope: access_scope,
        id_token,
    })
}
