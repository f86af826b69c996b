//! grant_type=password (Profix, Azure B2C ROPC): only for clients registered for
//! it; throttled; a user who must change the password gets the Profix body.

use super::GrantCtx;
use super::issue::{UserGrant, user_tokens};
use crate::credentials::{self, CredentialCheck};
use crate::crypto::random_token;
use crate::error::OAuthError;
use crate::http::{Response, json_response};
use crate::scope;
use crate::store::Grant;
use lambda_http::http::StatusCode;
use serde_json::json;

pub async fn grant(
    ctx: &GrantCtx<'_>,
    username: &str,
    password: &str,
    requested: Option<&str>,
) -> Result<Response, OAuthError> {
    let client = &ctx.client.client;
    let basic = ctx.client.basic;
    if !client.has_grant(Grant::Password) {
        return Err(
            OAuthError::unauthorized_client("client is not registered for password")
                .with_basic(basic),
        );
    }
    let scopes = scope::resolve(client, requested).map_err(OAuthError::invalid_scope)?;
    if !client.scopes.is_empty() && !scopes.iter().any(|s| client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "request at least one API scope of this client: {}",
            client.scopes.join(" ")
        )));
    }
    let scope = scope::join(&scopes);
    let tenant = &ctx.tenant.id;
    let user =
        match credentials::check_username(ctx.state, tenant, username, password, ctx.now).await? {
            CredentialCheck::Ok(u) => u,
            CredentialCheck::Invalid => {
                return Err(OAuthError::invalid_grant("invalid username or password"));
            }
            CredentialCheck::Throttled(wait) => return Err(OAuthError::throttled(wait)),
        };
    if user.require_password_change {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "error": "invalid_grant",
                "error_description": "password change required",
                "userid": user.user_id.as_str(),
                "RequireChangePassword": true,
            }),
        ));
    }
    let tokens = user_tokens(
        ctx,
        UserGrant {
            user: &user,
            scope: &scope,
            nonce: None,
            auth_time: ctx.now.secs(),
            family_id: random_token(16),
        },
    )
    .await?;
    Ok(tokens.into_response())
}
