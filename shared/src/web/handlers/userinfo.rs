//! GET or POST /oauth2/{tenant}/userinfo — OIDC Core §5.3 UserInfo.
//!
//! The access token comes as `Authorization: Bearer …` or, in a form POST
//! body, as `access_token` (never in the query string, RFC 6750 §2.3). It must
//! be active, as at introspection — and this counts as a use under sliding
//! expiry — and carry `openid`. The answer is `sub` and only the claims the
//! token's scopes grant (`profile`, `email`).

use crate::AppState;
use crate::clock::Now;
use crate::domain::claims::{ClaimSet, user_claims};
use crate::domain::scope;
use crate::ids::TenantId;
use crate::oauth::outcome::UserinfoOutcome as Outcome;
use crate::oauth::token_state;
use crate::web::cors;
use crate::web::request::{Params, body_bytes, header_str, is_form, query_params, tenant_route};
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;
use serde_json::{Map, Value, json};

pub async fn handle(state: &AppState, req: Request) -> Response {
    let Some(tenant) = tenant_route(req.uri().path(), &["userinfo"]) else {
        return crate::web::response::not_found_json();
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, "GET, POST").await;
    }
    if req.method() != Method::GET && req.method() != Method::POST {
        return crate::web::response::method_not_allowed("GET, POST");
    }
    let (outcome, origin) = userinfo(state, &tenant, &req, state.now()).await;
    crate::web::respond::with_cors(crate::web::respond::userinfo(outcome), origin.as_deref())
}

/// Marks the one bearer error that is a 413, not a 400.
const TOO_LARGE: &str = "the request body is too large";

/// The bearer token: header or form body, exactly one, never the query.
fn bearer(req: &Request) -> Result<Option<String>, String> {
    if query_params(req).is_ok_and(|q| q.has("access_token")) {
        return Err("the access token must not be sent in the query string".into());
    }
    let header = match header_str(req, "authorization") {
        None => None,
        Some(h) => match h.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(token.trim().to_owned())
            }
            _ => return Err("the Authorization header must use the Bearer scheme".into()),
        },
    };
    let body = if req.method() == Method::POST && is_form(req) {
        let raw = body_bytes(req).map_err(|e| match e {
            crate::web::request::InputError::TooLarge => TOO_LARGE.to_owned(),
            e => e.description(),
        })?;
        let p = Params::parse(raw).map_err(|e| e.description())?;
        if p.is_duplicated("access_token") {
            return Err("access_token is repeated".into());
        }
        p.get("access_token").map(str::to_owned)
    } else {
        None
    };
    match (header, body) {
        (Some(_), Some(_)) => {
            Err("send the access token once, not in both the header and the body".into())
        }
        (h, b) => Ok(h.or(b).filter(|t| !t.is_empty())),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
async fn userinfo(
    state: &AppState,
    tenant_id: &TenantId,
    req: &Request,
    now: Now,
) -> (Outcome, Option<String>) {
    let token = match bearer(req) {
        Ok(Some(t)) => t,
        Ok(None) => return (Outcome::MissingToken, None),
        Err(why) if why == TOO_LARGE => return (Outcome::TooLarge, None),
        Err(why) => return (Outcome::InvalidRequest(why), None),
    };
    let tenant = match state.tenant(tenant_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return (Outcome::NoSuchTenant, None),
        Err(e) => return (Outcome::Failed(e.into()), None),
    };
    let issuer = match state.urls().await {
        Ok(u) => u.issuer(tenant_id),
        Err(e) => return (Outcome::Failed(e.into()), None),
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
                let origin = match crate::tokens::jwt::verify_access_token(&token, &tenant, &issuer)
                {
                    Some(t) => state
                        .enabled_client(tenant_id, t.client_id.as_str())
                        .await
                        .ok()
                        .flatten()
                        .and_then(|c| cors::allowed_for(&c, cors::origin(req)).map(str::to_owned)),
                    None => None,
                };
                return (Outcome::InvalidToken, origin);
            }
            Err(e) => return (Outcome::Failed(e), None),
        };
    let origin = cors::allowed_for(&active.client, cors::origin(req)).map(str::to_owned);
    // A client_credentials token names no user: nothing to tell.
    let Some(user) = &active.user else {
        return (Outcome::InvalidToken, origin);
    };
    if !scope::contains(&active.token.scope, "openid") {
        return (Outcome::InsufficientScope, origin);
    }
    let mut claims = Map::new();
    user_claims(&mut claims, user, ClaimSet::for_scope(&active.token.scope));
    claims.insert("sub".into(), json!(user.user_id.as_str()));
    (Outcome::Claims(Value::Object(claims)), origin)
}
