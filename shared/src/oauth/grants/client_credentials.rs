//! grant_type=client_credentials: confidential clients registered for it; no
//! refresh token; `sub` is the client id; scope limited to the client's scopes.

use super::GrantCtx;
use crate::domain::records::Grant;
use crate::domain::scope;
use crate::oauth::error::OAuthError;
use crate::oauth::outcome::TokenOutcome;

#[tracing::instrument(name = "client_credentials", skip_all)]
pub async fn grant(
    ctx: &GrantCtx<'_>,
    requested: Option<&str>,
) -> Result<TokenOutcome, OAuthError> {
    let client = &ctx.client.client;
    if client.public {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    if !client.has_grant(Grant::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "client is not registered for client_credentials",
        ));
    }
    let granted = match requested {
        None => client.scopes.clone(),
        Some(r) => {
            let parsed =
                scope::parse(r).map_err(|_| OAuthError::invalid_scope("malformed scope"))?;
            if let Some(bad) = parsed.iter().find(|s| !client.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope not allowed for this client: {bad}"
                )));
            }
            parsed
        }
    };
    let tokens = ctx.minter().access_only(scope::join(&granted)).await?;
    Ok(tokens.into())
}
