//! The signed-in user behind a Bearer access token (RFC 6750): the one
//! judgement UserInfo and the user's connections (`GET/DELETE
//! …/connections`) share. The token must be active, as at introspection —
//! and the call counts as a use under sliding expiry — be a user's, and
//! carry `openid`.

use crate::AppState;
use crate::clock::Now;
use crate::domain::records::{Client, User};
use crate::domain::scope;
use crate::ids::TenantId;
use crate::oauth::outcome::BearerRefusal;
use crate::oauth::token_state;
use std::sync::Arc;

/// What the edge found in the request.
pub enum Presented {
    Token(String),
    Missing,
    /// Malformed (in the query, sent twice, another scheme): 400.
    Malformed(String),
    /// The body is over the size limit: 413.
    TooLarge,
}

/// The user a valid token speaks for.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    /// The token's scope.
    pub scope: String,
}

/// The judgement, and the client the token was issued to when it verified
/// (whose registered web origins get CORS headers, even on a refusal).
pub struct Bearer {
    pub outcome: Result<SignedIn, BearerRefusal>,
    pub client: Option<Arc<Client>>,
}

impl Bearer {
    fn refused(r: BearerRefusal) -> Bearer {
        Bearer {
            outcome: Err(r),
            client: None,
        }
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
pub async fn signed_in(
    state: &AppState,
    tenant_id: &TenantId,
    presented: Presented,
    now: Now,
) -> Bearer {
    let token = match presented {
        Presented::Token(t) => t,
        Presented::Missing => return Bearer::refused(BearerRefusal::MissingToken),
        Presented::Malformed(why) => return Bearer::refused(BearerRefusal::InvalidRequest(why)),
        Presented::TooLarge => return Bearer::refused(BearerRefusal::TooLarge),
    };
    let tenant = match state.tenant(tenant_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Bearer::refused(BearerRefusal::NoSuchTenant),
        Err(e) => return Bearer::refused(BearerRefusal::Failed(e.into())),
    };
    let issuer = match state.urls().await {
        Ok(u) => u.issuer(tenant_id),
        Err(e) => return Bearer::refused(BearerRefusal::Failed(e.into())),
    };
    let viewer = token_state::Viewer::Any;
    // Only a call that can succeed — a user's token with `openid` — is a use.
    let is_use: fn(&crate::tokens::jwt::VerifiedAccessToken) -> bool =
        |t| t.sid.is_some() && scope::contains(&t.scope, "openid");
    let active =
        match token_state::access_token(state, &tenant, &issuer, &token, now, is_use, viewer).await
        {
            Ok(Some(a)) => a,
            Ok(None) => {
                // Still the token's client's answer: let its browser app read it.
                let client = match crate::tokens::jwt::verify_access_token(&token, &tenant, &issuer)
                {
                    Some(t) => state
                        .enabled_client(tenant_id, t.client_id.as_str())
                        .await
                        .ok()
                        .flatten(),
                    None => None,
                };
                return Bearer {
                    outcome: Err(BearerRefusal::InvalidToken),
                    client,
                };
            }
            Err(e) => return Bearer::refused(BearerRefusal::Failed(e)),
        };
    let client = Some(active.client.clone());
    // A client_credentials token names no user: nothing to tell.
    let Some(user) = active.user else {
        return Bearer {
            outcome: Err(BearerRefusal::InvalidToken),
            client,
        };
    };
    if !scope::contains(&active.token.scope, "openid") {
        return Bearer {
            outcome: Err(BearerRefusal::InsufficientScope),
            client,
        };
    }
    Bearer {
        outcome: Ok(SignedIn {
            user,
            scope: active.token.scope,
        }),
        client,
    }
}
