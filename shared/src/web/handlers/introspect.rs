//! POST /oauth2/{tenant}/introspect — RFC 7662 token introspection.
//!
//! The caller authenticates as at the token endpoint; public clients cannot
//! introspect. A client registered with `--introspect` (a resource server) may
//! see every token of its tenant, any other client only its own. Every
//! inactive, malformed, foreign or invisible token is exactly
//! `{"active": false}`. An introspection that finds an access token active is
//! a use: under sliding expiry it moves the token's deadline.

use crate::AppState;
use crate::clock::Now;
use crate::config::Function;
use crate::ids::TenantId;
use crate::oauth::client_auth;
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::error::OAuthError;
use crate::oauth::outcome::IntrospectOutcome as Outcome;
use crate::oauth::token_state;
use crate::web::cors;
use crate::web::request::tenant_route;
use crate::web::request::{Params, read_form};
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;
use serde_json::{Value, json};

pub async fn handle(state: &AppState, req: Request) -> Response {
    let Some(tenant) = tenant_route(req.uri().path(), &["introspect"]) else {
        return crate::web::response::not_found_json();
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, "POST").await;
    }
    if req.method() != Method::POST {
        return crate::web::response::method_not_allowed("POST");
    }
    let form = read_form(&req);
    let outcome = introspect(state, &tenant, &form, state.now())
        .await
        .unwrap_or_else(Outcome::Refused);
    let presented = form.as_ref().ok().map(|(_, c)| c);
    let origin = cors::allowed_for_request(state, &tenant, &req, presented).await;
    crate::web::respond::with_cors(crate::web::respond::introspect(outcome), origin.as_deref())
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
async fn introspect(
    state: &AppState,
    tenant_id: &TenantId,
    form: &Result<(Params, ClientCredentials), OAuthError>,
    now: Now,
) -> Result<Outcome, OAuthError> {
    let (p, presented) = form.as_ref().map_err(Clone::clone)?;
    let Some(tenant) = state.tenant(tenant_id).await? else {
        return Ok(Outcome::NoSuchTenant);
    };
    let caller = client_auth::authenticate(state, tenant_id, presented).await?;
    if caller.public {
        return Err(OAuthError::invalid_client().with_basic(caller.basic));
    }
    let Some(token) = p.get("token") else {
        return Err(OAuthError::invalid_request("token is required"));
    };
    let issuer = state.urls().await?.issuer(tenant_id);
    // `token_type_hint` is optional and never needed: the token's form tells.
    if token_state::looks_like_jwt(token) {
        let viewer = if caller.introspect {
            token_state::Viewer::Any
        } else {
            token_state::Viewer::Client(&caller.client_id)
        };
        let Some(active) =
            token_state::access_token(state, &tenant, &issuer, token, now, |_| true, viewer)
                .await?
        else {
            return Ok(Outcome::Inactive);
        };
        let t = &active.token;
        let mut body = json!({
            "active": true,
            "iss": issuer,
            "sub": t.sub,
            "aud": t.claims.get("aud").cloned().unwrap_or(Value::Null),
            "client_id": t.client_id.as_str(),
            "scope": t.scope,
            "token_type": "Bearer",
            "exp": active.exp,
            "iat": t.iat,
            "jti": t.jti,
        });
        if let Some(u) = &active.user {
            body["username"] = json!(u.username);
        }
        return Ok(Outcome::Active(body));
    }
    let Some(active) = token_state::refresh_token(state, &tenant, token, now).await? else {
        return Ok(Outcome::Inactive);
    };
    if !caller.introspect && active.family.client_id != caller.client_id {
        return Ok(Outcome::Inactive);
    }
    Ok(Outcome::Active(refresh_answer(
        &issuer,
        &active,
        state.urls().await?.endpoint(Function::Token, tenant_id),
    )))
}

fn refresh_answer(
    issuer: &str,
    active: &token_state::ActiveRefresh,
    token_endpoint: String,
) -> Value {
    let (f, c) = (&active.family, &active.chain);
    // A refresh token is meant for the token endpoint; its `jti` is derived
    // from the stored hash, never the token itself.
    let jti = crate::crypto::b64url(&crate::crypto::sha256(c.current_hash.as_bytes())[..16]);
    json!({
        "active": true,
        "iss": issuer,
        "sub": f.user_id.as_str(),
        "aud": token_endpoint,
        "client_id": f.client_id.as_str(),
        "scope": c.scope,
        "token_type": "refresh_token",
        "exp": c.expires_at,
        "iat": c.issued_at,
        "jti": jti,
        "username": active.user.username,
    })
}
