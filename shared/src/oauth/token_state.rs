//! Is this token active? The one judgement introspection, userinfo and
//! revocation share (SPEC: Introspection). An access token is active when it
//! verifies as this tenant's, its client is enabled, it was not revoked, its
//! user exists and is enabled, its session (family, `sid`) is alive and born
//! with the user's current password, and it has not expired — under sliding
//! expiry, its deadline moves with each use. A refresh token is active while
//! it is the unused, unexpired newest token of a live family.

use crate::AppState;
use crate::clock::Now;
use crate::crypto::token_hash;
use crate::domain::records::{Client, Family, RefreshChain, Tenant, User};
use crate::domain::refresh_rotation::{Standing, TokenParts, parse, standing};
use crate::domain::sliding_expiry::{Sliding, WRITE_INTERVAL};
use crate::ids::{ClientId, UserId};
use crate::oauth::error::OAuthError;
use crate::tokens::jwt::{VerifiedAccessToken, verify_access_token};
use std::sync::Arc;

/// An active access token.
#[derive(Debug)]
pub struct ActiveAccess {
    pub token: VerifiedAccessToken,
    /// Its effective expiry: the JWT's `exp`, or the sliding deadline.
    pub exp: u64,
    /// `None` for a client_credentials token.
    pub user: Option<User>,
    pub client: Arc<Client>,
}

/// An active refresh token: its family's current token.
#[derive(Debug)]
pub struct ActiveRefresh {
    pub family: Family,
    pub chain: RefreshChain,
    pub user: User,
}

/// A refresh token the server made (its tag verifies with its family's key),
/// with its family (revoked or not), its place in the chain, and what its
/// successor is made from.
pub struct KnownRefresh<'a> {
    pub parts: TokenParts<'a>,
    /// The chain's key, decoded.
    pub key: Vec<u8>,
    pub family: Family,
    pub chain: RefreshChain,
    pub standing: Standing,
}

/// Whether a token that verifies looks like a JWT (three dot-separated parts).
pub fn looks_like_jwt(raw: &str) -> bool {
    raw.bytes().filter(|b| *b == b'.').count() == 2
}

/// Who is asking: a caller that may only see its own clients' tokens never
/// learns about — nor extends — anyone else's.
#[derive(Clone, Copy)]
pub enum Viewer<'a> {
    /// A resource server (`--introspect`) or the token's bearer (userinfo).
    Any,
    /// A client that may see only tokens issued to itself.
    Client(&'a ClientId),
}

/// The access token's state, judged at `now`. When `is_use` says the call is
/// a use of this token (checked on the verified token, before anything is
/// written), an active token under sliding expiry has its deadline moved (at
/// most one write a minute).
/// A token the viewer may not see is reported inactive before anything is
/// read or written.
pub async fn access_token(
    state: &AppState,
    tenant: &Tenant,
    issuer: &str,
    raw: &str,
    now: Now,
    is_use: fn(&VerifiedAccessToken) -> bool,
    viewer: Viewer<'_>,
) -> Result<Option<ActiveAccess>, OAuthError> {
    let Some(token) = verify_access_token(raw, tenant, issuer) else {
        return Ok(None);
    };
    if let Viewer::Client(c) = viewer
        && &token.client_id != c
    {
        return Ok(None);
    }
    let Some(client) = state
        .enabled_client(&tenant.id, token.client_id.as_str())
        .await?
    else {
        return Ok(None);
    };
    // A user's token names its session; a client's token has the client as `sub`.
    let user_id = if token.sid.is_some() || token.sub != token.client_id.as_str() {
        match UserId::parse(&token.sub) {
            Ok(u) => Some(u),
            Err(_) => return Ok(None),
        }
    } else {
        None
    };
    let stored = state
        .access_tokens()
        .state(
            &tenant.id,
            &token.jti,
            token.sid.as_deref(),
            user_id.as_ref(),
        )
        .await?;
    if stored.record.is_some_and(|r| r.revoked) {
        return Ok(None);
    }
    let user = match &user_id {
        None => None,
        Some(id) => {
            let Some(user) = stored.user.filter(|u| u.enabled && &u.user_id == id) else {
                return Ok(None);
            };
            if let Some(sid) = &token.sid {
                let alive = stored.family.as_ref().is_some_and(|f| {
                    !f.revoked
                        && &f.family_id == sid
                        && f.user_id == user.user_id
                        && f.pwd_version == user.pwd_version
                });
                if !alive {
                    return Ok(None);
                }
            }
            Some(user)
        }
    };
    let exp = match tenant.sliding_max {
        None => {
            if now.secs() >= token.exp {
                return Ok(None);
            }
            token.exp
        }
        Some(max) => {
            // An exchanged token never slides past its subject's cap.
            let claimed = token
                .claims
                .get(crate::domain::token_exchange::SLIDING_CAP_CLAIM)
                .and_then(serde_json::Value::as_u64);
            let cap = crate::domain::token_exchange::sliding_cap(token.iat, max, claimed);
            let max = cap.saturating_sub(token.iat);
            let sliding = Sliding {
                iat: token.iat,
                exp: token.exp,
                ttl: tenant.access_token_ttl,
                max,
            };
            let record = stored.record.unwrap_or_default();
            let deadline = sliding.deadline(record.deadline);
            if now.secs() >= deadline {
                return Ok(None);
            }
            match sliding.extension(deadline, record.last_write, now.secs()) {
                Some(next) if is_use(&token) => {
                    let written = state
                        .access_tokens()
                        .extend(
                            &tenant.id,
                            &token.jti,
                            next,
                            WRITE_INTERVAL,
                            sliding.cap(),
                            now,
                        )
                        .await;
                    match written {
                        Ok(true) => next,
                        Ok(false) => deadline,
                        Err(e) => {
                            // The token is active either way; the deadline
                            // moves on a later use.
                            tracing::warn!(error = %e, "sliding deadline not extended");
                            deadline
                        }
                    }
                }
                _ => deadline,
            }
        }
    };
    Ok(Some(ActiveAccess {
        token,
        exp,
        user,
        client,
    }))
}

/// The family of a refresh token the server made, if that family is still
/// stored (unexpired); `None` for anything else (malformed, forged, unknown).
pub async fn known_refresh<'a>(
    state: &AppState,
    tenant: &crate::ids::TenantId,
    raw: &'a str,
    now: Now,
) -> Result<Option<KnownRefresh<'a>>, OAuthError> {
    let Some(parts) = parse(raw).filter(|_| raw.len() <= 256) else {
        return Ok(None);
    };
    let Some(family) = state
        .refresh_tokens()
        .family(tenant, parts.family_id, now)
        .await?
    else {
        return Ok(None);
    };
    let Some(chain) = family.refresh.clone() else {
        return Ok(None);
    };
    let Some(key) = crate::crypto::b64url_decode(&chain.key) else {
        return Ok(None);
    };
    let place = standing(
        &parts,
        &token_hash(raw),
        chain.generation,
        &chain.current_hash,
        &key,
    );
    Ok((place != Standing::Forged).then_some(KnownRefresh {
        parts,
        key,
        family,
        chain,
        standing: place,
    }))
}

/// The refresh token's state at `now`: active only while it is the current,
/// unexpired token of a live family whose user and client are still there.
pub async fn refresh_token(
    state: &AppState,
    tenant: &Tenant,
    raw: &str,
    now: Now,
) -> Result<Option<ActiveRefresh>, OAuthError> {
    let Some(KnownRefresh {
        family,
        chain,
        standing,
        ..
    }) = known_refresh(state, &tenant.id, raw, now).await?
    else {
        return Ok(None);
    };
    if standing != Standing::Current || family.revoked || chain.expires_at <= now.secs() {
        return Ok(None);
    }
    let (user, client) = tokio::join!(
        state.users().user(&tenant.id, &family.user_id),
        state.enabled_client(&tenant.id, family.client_id.as_str()),
    );
    let user = user?.filter(|u| u.enabled && u.pwd_version == family.pwd_version);
    match (user, client?) {
        (Some(user), Some(_)) => Ok(Some(ActiveRefresh {
            family,
            chain,
            user,
        })),
        _ => Ok(None),
    }
}
