//! Client authentication at the token endpoint: `client_secret_basic` or
//! `client_secret_post` (never both), or `none` for public clients. Unknown
//! client and wrong secret give the same `invalid_client`.

use crate::AppState;
use crate::crypto::{client_secret_hash, verify_client_secret, verify_client_secret_record};
use crate::error::OAuthError;
use crate::http::{Params, basic_credentials};
use crate::ids::{ClientId, TenantId};
use crate::store::Client;
use lambda_http::Request;
use std::sync::Arc;

pub struct Authenticated {
    pub client: Arc<Client>,
    /// HTTP Basic was used (a 401 then carries `WWW-Authenticate`).
    pub basic: bool,
}

impl std::ops::Deref for Authenticated {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

pub async fn authenticate(
    state: &AppState,
    tenant: &TenantId,
    req: &Request,
    p: &Params,
) -> Result<Authenticated, OAuthError> {
    let basic =
        basic_credentials(req).map_err(|_| OAuthError::invalid_client().with_basic(true))?;
    let used_basic = basic.is_some();
    let fail = || OAuthError::invalid_client().with_basic(used_basic);
    let (id, secret) = match basic {
        Some((id, secret)) => {
            if p.has("client_secret") {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both",
                ));
            }
            if p.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            // `id:` with an empty secret is how some libraries send a public client.
            (id, Some(secret).filter(|s| !s.is_empty()))
        }
        None => match p.get("client_id") {
            Some(id) => (id.to_owned(), p.get("client_secret").map(str::to_owned)),
            None => return Err(fail()),
        },
    };
    // The record and (when a secret was presented) the stored hash are fetched
    // concurrently: on a cold sandbox they are two round trips to two services.
    let (client, stored) = match ClientId::parse(&id) {
        Ok(cid) => {
            let hash = async {
                match secret {
                    Some(_) => state.client_secret_hash(tenant, &cid).await.map(Some),
                    None => Ok(None),
                }
            };
            let (client, hash) = tokio::join!(state.enabled_client(tenant, &id), hash);
            (client?, hash?.flatten())
        }
        Err(_) => (None, None),
    };
    let Some(client) = client else {
        // Same work as a wrong secret, so the two are not told apart by timing.
        let _ = verify_client_secret(secret.as_deref().unwrap_or(""), &client_secret_hash("x"));
        return Err(fail());
    };
    if client.public {
        if secret.is_some() {
            return Err(fail());
        }
        return Ok(Authenticated {
            client,
            basic: used_basic,
        });
    }
    let Some(secret) = secret else {
        return Err(fail());
    };
    match stored {
        Some(h) if verify_client_secret_record(&secret, &h, state.now().secs()) => {
            Ok(Authenticated {
                client,
                basic: used_basic,
            })
        }
        _ => {
            // The secret may have been rotated since this sandbox cached it:
            // look once more (at most every 5 s per client, so wrong secrets
            // cannot turn into a flood of Secrets Manager calls).
            let fresh = state
                .client_secret_hash_if_stale(tenant, &client.client_id)
                .await?;
            match fresh {
                Some(h) if verify_client_secret_record(&secret, &h, state.now().secs()) => {
                    Ok(Authenticated {
                        client,
                        basic: used_basic,
                    })
                }
                _ => Err(fail()),
            }
        }
    }
}
