//! Client authentication at the token endpoint: `client_secret_basic` or
//! `client_secret_post` (never both), or `none` for public clients. Unknown
//! client and wrong secret give the same `invalid_client`.

use crate::AppState;
use crate::crypto::verify_client_secret_record;
use crate::domain::records::Client;
use crate::ids::TenantId;
use crate::oauth::error::OAuthError;
use std::sync::Arc;

/// What an unknown client's presented secret is checked against: a stored
/// hash's shape that no secret matches (no SHA-256 is all zero bits), so a
/// miss does the same hashing and comparison as a wrong secret.
const UNKNOWN_CLIENT_RECORD: &str = "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The client credentials a request presented, read once at the edge
/// (`web::request::client_credentials`): the `Authorization: Basic` header and
/// the body's `client_id` / `client_secret`. Carries a secret: no `Debug`.
pub struct ClientCredentials {
    /// `None` without an `Authorization` header; `Some(None)` when it is not
    /// valid Basic; else the (unescaped) id and secret.
    pub basic: Option<Option<(String, String)>>,
    pub body_id: Option<String>,
    pub body_secret: Option<String>,
    /// The body has a `client_secret` field (even an unreadable one).
    pub body_sends_secret: bool,
}

impl ClientCredentials {
    /// The client the request names (Basic, else `client_id`), whether or
    /// not it authenticates: whose web origins CORS looks at.
    pub fn named_client(&self) -> Option<&str> {
        match &self.basic {
            Some(Some((id, _))) => Some(id),
            _ => self.body_id.as_deref(),
        }
    }
}

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
    presented: &ClientCredentials,
) -> Result<Authenticated, OAuthError> {
    let basic = match &presented.basic {
        None => None,
        Some(None) => return Err(OAuthError::invalid_client().with_basic(true)),
        Some(Some(pair)) => Some(pair.clone()),
    };
    let used_basic = basic.is_some();
    let fail = || OAuthError::invalid_client().with_basic(used_basic);
    let (id, secret) = match basic {
        Some((id, secret)) => {
            if presented.body_sends_secret {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both",
                ));
            }
            if presented
                .body_id
                .as_deref()
                .is_some_and(|body_id| body_id != id)
            {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            // `id:` with an empty secret is how some libraries send a public client.
            (id, Some(secret).filter(|s| !s.is_empty()))
        }
        None => match &presented.body_id {
            Some(id) => (id.clone(), presented.body_secret.clone()),
            None => return Err(fail()),
        },
    };
    // The record first, and only for a client that exists, is enabled and
    // has a secret is that secret read: a made-up `client_id` costs at most
    // one (cached) DynamoDB read and never a Secrets Manager call (SPEC:
    // Storage and secrets).
    let client = state.enabled_client(tenant, &id).await?;
    let Some(client) = client else {
        // Same work as a wrong secret, so the two are not told apart by timing.
        let _ = verify_client_secret_record(
            secret.as_deref().unwrap_or(""),
            UNKNOWN_CLIENT_RECORD,
            state.now().secs(),
        );
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
    let stored = state.client_secret_hash(tenant, &client.client_id).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::client_secret_hash;

    #[test]
    fn an_unknown_clients_stand_in_hash_has_a_stored_hashs_shape_and_matches_nothing() {
        assert_eq!(UNKNOWN_CLIENT_RECORD.len(), client_secret_hash("x").len());
        assert!(!verify_client_secret_record("", UNKNOWN_CLIENT_RECORD, 0));
    }
}
