//! grant_type=password (Profix, Azure B2C ROPC): only for clients registered for
//! it; the password is checked behind the throttle; a user who must change the
//! password gets the Profix answer.

use super::GrantCtx;
use crate::crypto::random_token;
use crate::domain::records::Grant;
use crate::domain::scope;
use crate::oauth::error::OAuthError;
use crate::oauth::mint::UserGrant;
use crate::oauth::outcome::TokenOutcome;
use crate::oauth::password_check::{self, Attempt, CredentialCheck};

#[tracing::instrument(name = "password", skip_all)]
pub async fn grant(
    ctx: &GrantCtx<'_>,
    username: &str,
    password: &str,
    requested: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let client = &ctx.client.client;
    if !client.has_grant(Grant::Password) {
        return Err(OAuthError::unauthorized_client(
            "client is not registered for password",
        ));
    }
    let scopes = scope::resolve(client, requested).map_err(OAuthError::invalid_scope)?;
    if !client.scopes.is_empty() && !scopes.iter().any(|s| client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "request at least one API scope of this client: {}",
            client.scopes.join(" ")
        )));
    }
    let scope = scope::join(&scopes);
    let attempt = Attempt {
        asked: username,
        password,
        source: &ctx.source,
    };
    let user =
        match password_check::check_username(ctx.state, &ctx.tenant.id, &attempt, ctx.now).await? {
            CredentialCheck::Ok(u) => u,
            CredentialCheck::Invalid => {
                return Err(OAuthError::invalid_grant("invalid username or password"));
            }
            CredentialCheck::Throttled(wait) => return Err(OAuthError::throttled(wait)),
        };
    if user.require_password_change {
        return Ok(TokenOutcome::PasswordChangeRequired {
            userid: user.user_id.to_string(),
        });
    }
    let tokens = ctx
        .minter()
        .user_tokens_stored(UserGrant {
            user: &user,
            scope: &scope,
            nonce: None,
            auth_time: ctx.now.secs(),
            family_id: random_token(16),
        })
        .await?;
    Ok(tokens.into())
}
