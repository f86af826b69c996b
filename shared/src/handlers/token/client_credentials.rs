//! grant_type=client_credentials: confidential clients registered for it; no
//! refresh token; `sub` is the client id; scope limited to the client's scopes.

use super::{GrantCtx, Tokens};
use crate::error::OAuthError;
use crate::jwt::AccessToken;
use crate::scope;
use crate::store::Grant;

pub async fn grant(ctx: &GrantCtx<'_>, requested: Option<&str>) -> Result<Tokens, OAuthError> {
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
    let scope = scope::join(&granted);
    let signer = ctx.state.signer(&ctx.tenant.id).await?;
    let access_token = AccessToken {
        issuer: &ctx.issuer,
        tenant: ctx.tenant,
        client_id: &client.client_id,
        scope: &scope,
        user: None,
        auth_time: None,
    }
    .sign(&signer, ctx.now)?;
    Ok(Tokens {
        access_token,
        expires_in: ctx.tenant.access_token_ttl,
        refresh_token: None,
        scope,
        id_token: None,
    })
}
