//! POST /oauth2/{tenant}/revoke — RFC 7009 token revocation.
//!
//! The caller authenticates as at the token endpoint (public clients by
//! `client_id`). A refresh token revokes its whole family, and with it every
//! access token issued from that family (they carry the family as `sid`). An
//! access token becomes inactive at introspection and userinfo. A token that
//! is unknown, malformed, already revoked or another client's: 200, and
//! nothing changes.

use crate::AppState;
use crate::clock::Now;
use crate::ids::TenantId;
use crate::oauth::client_auth;
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::error::OAuthError;
use crate::oauth::outcome::RevokeOutcome as Outcome;
use crate::oauth::token_state;
use crate::tokens::jwt::verify_access_token;
use crate::web::cors;
use crate::web::request::tenant_route;
use crate::web::request::{Params, read_form};
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;

pub async fn handle(state: &AppState, req: Request) -> Response {
    let Some(tenant) = tenant_route(req.uri().path(), &["revoke"]) else {
        return crate::web::response::not_found_json();
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, "POST").await;
    }
    if req.method() != Method::POST {
        return crate::web::response::method_not_allowed("POST");
    }
    let form = read_form(&req);
    let outcome = revoke(state, &tenant, &form, state.now())
        .await
        .unwrap_or_else(Outcome::Refused);
    let presented = form.as_ref().ok().map(|(_, c)| c);
    let origin = cors::allowed_for_request(state, &tenant, &req, presented).await;
    crate::web::respond::with_cors(crate::web::respond::revoke(outcome), origin.as_deref())
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
async fn revoke(
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
    let Some(token) = p.get("token") else {
        return Err(OAuthError::invalid_request("token is required"));
    };
    if token_state::looks_like_jwt(token) {
        let issuer = state.urls().await?.issuer(tenant_id);
        if let Some(t) = verify_access_token(token, &tenant, &issuer)
            && t.client_id == caller.client_id
            && now.secs()
                < t.iat
                    .saturating_add(tenant.sliding_max.unwrap_or(0))
                    .max(t.exp)
        {
            let retire_at = t
                .exp
                .max(t.iat.saturating_add(tenant.sliding_max.unwrap_or(0)));
            state
                .access_tokens()
                .revoke(tenant_id, &t.jti, retire_at)
                .await?;
            crate::audit::record(
                crate::audit::Event::TokenRevoked,
                tenant_id,
                crate::audit::Subject {
                    client: Some(&caller.client_id),
                    detail: Some("access_token"),
                    ..crate::audit::Subject::default()
                },
            );
        }
        return Ok(Outcome::Done);
    }
    // A refresh token of any generation the server made (the current one, or
    // an older one of the same family) ends the family.
    // Already revoked: nothing changes.
    if let Some(known) = token_state::known_refresh(state, tenant_id, token, now).await?
        && known.family.client_id == caller.client_id
        && !known.family.revoked
    {
        state
            .refresh_tokens()
            .revoke_family(tenant_id, &known.family.family_id, now)
            .await?;
        crate::audit::record(
            crate::audit::Event::TokenRevoked,
            tenant_id,
            crate::audit::Subject {
                client: Some(&caller.client_id),
                user: Some(&known.family.user_id),
                detail: Some("refresh_token"),
            },
        );
    }
    Ok(Outcome::Done)
}
