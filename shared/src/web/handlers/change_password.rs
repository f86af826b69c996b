//! POST /oauth2/{tenant}/token/changepassword — Profix-style password change.
//! Form: client_id, client_secret (confidential clients), userid, password,
//! newpassword. Success clears RequireChangePassword and bumps the user's
//! password version, which revokes every refresh-token family of the user in
//! the same write. The current password is checked behind the same throttle
//! as the login page and the password grant.

use crate::AppState;
use crate::clock::Now;
use crate::crypto::hash_password;
use crate::domain::records::Grant;
use crate::ids::TenantId;
use crate::oauth::client_auth;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::outcome::ChangePasswordOutcome as Outcome;
use crate::oauth::password_check::{self, Attempt, CredentialCheck};
use crate::web::request::client_credentials;
use crate::web::request::tenant_route;
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;

pub async fn handle(state: &AppState, req: Request) -> Response {
    if req.method() != Method::POST {
        return crate::web::response::method_not_allowed("POST");
    }
    let Some(tenant) = tenant_route(req.uri().path(), &["token", "changepassword"]) else {
        return crate::web::response::not_found_json();
    };
    crate::web::respond::change_password(change_password(state, &tenant, &req, state.now()).await)
}

fn refused(message: &str) -> Outcome {
    Outcome::Refused {
        message: message.to_owned(),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
async fn change_password(
    state: &AppState,
    tenant_id: &TenantId,
    req: &Request,
    now: Now,
) -> Outcome {
    let p = match crate::web::request::form_params(req) {
        Ok(p) => p,
        Err(e) if e.too_large => {
            return Outcome::TooLarge {
                message: e.description,
            };
        }
        Err(e) => {
            return Outcome::Refused {
                message: e.description,
            };
        }
    };
    match state.tenant(tenant_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Outcome::NoSuchTenant,
        Err(e) => return Outcome::Failed(e.into()),
    }
    let client =
        match client_auth::authenticate(state, tenant_id, &client_credentials(req, &p)).await {
            Ok(c) => c,
            Err(e) if e.code == ErrorCode::InvalidClient => {
                return Outcome::ClientAuthFailed {
                    basic: e.basic_auth,
                };
            }
            Err(e)
                if matches!(
                    e.code,
                    ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
                ) =>
            {
                return Outcome::Failed(e);
            }
            Err(e) => {
                return Outcome::Refused {
                    message: e.description,
                };
            }
        };
    if !client.has_grant(Grant::Password) {
        return refused("This client is not allowed to change passwords.");
    }
    let (Some(userid), Some(old), Some(new)) =
        (p.get("userid"), p.get("password"), p.get("newpassword"))
    else {
        return refused("userid, password and newpassword are required.");
    };
    // `userid` is the id the password grant returned; a username works too.
    let user = match password_check::find_by_id_or_username(state, tenant_id, userid).await {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(e.into()),
    };
    let source = crate::web::request::source(req);
    let attempt = Attempt {
        asked: userid,
        password: old,
        source: &source,
    };
    let user = match password_check::check(state, tenant_id, &attempt, user, now).await {
        Ok(CredentialCheck::Ok(u)) => u,
        Ok(CredentialCheck::Invalid) => return refused("Invalid user id or password."),
        Ok(CredentialCheck::Throttled(wait)) => return Outcome::Throttled { retry_after: wait },
        Err(e) => return Outcome::Failed(e.into()),
    };
    if let Err(message) = crate::domain::password_policy::check_new(old, new) {
        return Outcome::Refused { message };
    }
    let hash = match hash_password(new) {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(OAuthError::internal(e)),
    };
    match state
        .users()
        .change_password(tenant_id, &user.user_id, user.pwd_version, &hash)
        .await
    {
        Ok(true) => {
            crate::audit::record(
                crate::audit::Event::PasswordChanged,
                tenant_id,
                crate::audit::Subject {
                    client: Some(&client.client_id),
                    user: Some(&user.user_id),
                    detail: Some("sessions revoked"),
                },
            );
            Outcome::Changed
        }
        Ok(false) => Outcome::Conflict,
        Err(e) => Outcome::Failed(e.into()),
    }
}
