//! POST /oauth2/{tenant}/token/changepassword — Profix-style password change.
//! Form: client_id, client_secret (confidential clients), userid, password,
//! newpassword. Answers `{"success": bool, "message": "…"}`. Success clears
//! RequireChangePassword and bumps the user's password version, which revokes
//! every refresh-token family of the user in the same write.

use super::token::{client_auth, form_params};
use crate::AppState;
use crate::clock::Now;
use crate::credentials::{self, CredentialCheck};
use crate::crypto::hash_password;
use crate::error::ErrorCode;
use crate::http::{Response, json_response, tenant_route};
use crate::ids::TenantId;
use crate::store::Grant;
use lambda_http::Request;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use serde_json::json;

fn answer(status: StatusCode, success: bool, message: &str) -> Response {
    json_response(status, &json!({"success": success, "message": message}))
}

pub async fn handle(state: &AppState, req: Request) -> Response {
    if req.method() != Method::POST {
        return crate::http::method_not_allowed("POST");
    }
    let Some(tenant) = tenant_route(req.uri().path(), &["token", "changepassword"]) else {
        return crate::http::not_found_json();
    };
    change_password(state, &tenant, &req, state.now()).await
}

async fn change_password(
    state: &AppState,
    tenant_id: &TenantId,
    req: &Request,
    now: Now,
) -> Response {
    let p = match form_params(req) {
        Ok(p) => p,
        Err(e) => return answer(e.status(), false, &e.description),
    };
    match state.tenant(tenant_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return crate::http::not_found_json(),
        Err(e) => return crate::error::OAuthError::from(e).into_response(),
    }
    let client = match client_auth::authenticate(state, tenant_id, req, &p).await {
        Ok(c) => c,
        Err(e) if e.code == ErrorCode::InvalidClient => {
            let mut r = answer(
                StatusCode::UNAUTHORIZED,
                false,
                "Client authentication failed.",
            );
            if e.basic_auth {
                r.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Basic realm=\"tollgate\", charset=\"UTF-8\""),
                );
            }
            return r;
        }
        Err(e)
            if matches!(
                e.code,
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
            ) =>
        {
            return e.into_response();
        }
        Err(e) => return answer(StatusCode::BAD_REQUEST, false, &e.description),
    };
    if !client.has_grant(Grant::Password) {
        return answer(
            StatusCode::BAD_REQUEST,
            false,
            "This client is not allowed to change passwords.",
        );
    }
    let (Some(userid), Some(old), Some(new)) =
        (p.get("userid"), p.get("password"), p.get("newpassword"))
    else {
        return answer(
            StatusCode::BAD_REQUEST,
            false,
            "userid, password and newpassword are required.",
        );
    };
    // `userid` is the id the password grant returned; a username works too.
    let user = match credentials::find_by_id_or_username(state, tenant_id, userid).await {
        Ok(u) => u,
        Err(e) => return crate::error::OAuthError::from(e).into_response(),
    };
    let user = match credentials::check(state, tenant_id, userid, old, user, now).await {
        Ok(CredentialCheck::Ok(u)) => u,
        Ok(CredentialCheck::Invalid) => {
            return answer(
                StatusCode::BAD_REQUEST,
                false,
                "Invalid user id or password.",
            );
        }
        Ok(CredentialCheck::Throttled(wait)) => {
            let mut r = answer(
                StatusCode::TOO_MANY_REQUESTS,
                false,
                "Too many failed attempts. Try again later.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(wait.max(1)));
            return r;
        }
        Err(e) => return crate::error::OAuthError::from(e).into_response(),
    };
    if let Err(msg) = crate::password_policy::check_new(old, new) {
        return answer(StatusCode::BAD_REQUEST, false, &msg);
    }
    let hash = match hash_password(new) {
        Ok(h) => h,
        Err(e) => return crate::error::OAuthError::internal(e).into_response(),
    };
    match state
        .users()
        .change_password(tenant_id, &user.user_id, user.pwd_version, &hash)
        .await
    {
        Ok(true) => {
            tracing::info!(tenant = %tenant_id, user_id = %user.user_id, "password changed; refresh tokens revoked");
            answer(StatusCode::OK, true, "You can now login")
        }
        Ok(false) => answer(
            StatusCode::CONFLICT,
            false,
            "The password was changed by another request. Sign in again.",
        ),
        Err(e) => crate::error::OAuthError::from(e).into_response(),
    }
}
