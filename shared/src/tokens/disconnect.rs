//! Disconnecting (SPEC: Upstream providers — Health): after a connection's
//! item is deleted (`ConnectionStore::remove`, which hands back what it
//! held), its refresh token is revoked at the provider when the provider has
//! a revocation endpoint (RFC 7009). One place, so `DELETE …/connections/…`
//! (the userinfo function) and the CLI (`connection remove`, and the purges
//! of `user delete`, `provider remove`, `tenant delete`) revoke the same way.
//!
//! Revocation is best effort: the stored tokens are gone whatever the
//! provider says, and a failure is reported as a fixed word (for the audit
//! line and the CLI's answer), never with a token or the provider's text.

use crate::domain::connections::{Connection, Field};
use crate::domain::providers::Provider;
use crate::domain::providers::engine::{CallError, UpstreamClient, revocation_call};
use crate::ports::UpstreamHttp;
use crate::tokens::vault::Vault;
use secrecy::SecretString;

/// What became of the removed connection's refresh token at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The provider accepted the revocation (RFC 7009 §2.2: 200).
    Revoked,
    /// The connection held no refresh token (a client_credentials upstream).
    NoRefreshToken,
    /// The provider has no revocation endpoint (or is gone).
    NoEndpoint,
    /// The stored refresh token did not open under the tenant's vault.
    Undecryptable,
    /// The vault keys or the upstream client secret could not be read.
    Unavailable,
    /// The provider answered with an error status.
    Refused,
    /// The call did not get an answer.
    Unreachable,
}

impl Revocation {
    /// A fixed word (the audit line's detail, the CLI's `revocation`).
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::Revoked => "revoked",
            Revocation::NoRefreshToken => "no_refresh_token",
            Revocation::NoEndpoint => "no_revocation_endpoint",
            Revocation::Undecryptable => "undecryptable",
            Revocation::Unavailable => "secrets_unavailable",
            Revocation::Refused => "revocation_refused",
            Revocation::Unreachable => "provider_unreachable",
        }
    }

    pub fn revoked(self) -> bool {
        self == Revocation::Revoked
    }
}

/// Whether the removed connection has a refresh token the provider can
/// revoke: `Ok(provider)` when a call is worth making (the caller then reads
/// the vault and the client secret), else why not.
pub fn revocable<'a>(
    provider: Option<&'a Provider>,
    removed: &Connection,
) -> Result<&'a Provider, Revocation> {
    if removed.refresh_token.is_none() {
        return Err(Revocation::NoRefreshToken);
    }
    match provider {
        Some(p) if p.endpoints.revocation.is_some() => Ok(p),
        _ => Err(Revocation::NoEndpoint),
    }
}

/// Revokes the removed connection's refresh token at `provider` (opened with
/// the tenant's `vault`; Tollgate's registration there authenticates the
/// call as the provider's token calls do).
pub async fn revoke(
    upstream: &dyn UpstreamHttp,
    provider: &Provider,
    client_secret: Option<&SecretString>,
    vault: &Vault,
    removed: &Connection,
) -> Revocation {
    let Some(sealed) = &removed.refresh_token else {
        return Revocation::NoRefreshToken;
    };
    let Ok(refresh_token) = vault.open(&removed.key, Field::RefreshToken, sealed) else {
        tracing::warn!(
            tenant = %removed.key.tenant,
            provider = %removed.key.provider,
            "removed connection's refresh token is undecryptable: not revoked"
        );
        return Revocation::Undecryptable;
    };
    let client = UpstreamClient {
        id: &provider.client_id,
        secret: client_secret,
    };
    let Some(call) = revocation_call(provider, &client, &refresh_token) else {
        return Revocation::NoEndpoint;
    };
    match upstream.post(&call).await {
        Ok(a) if (200..300).contains(&a.status) => Revocation::Revoked,
        Ok(a) => {
            tracing::warn!(
                tenant = %removed.key.tenant,
                provider = %removed.key.provider,
                status = a.status,
                "upstream revocation refused"
            );
            Revocation::Refused
        }
        Err(CallError::NotSent(why) | CallError::Lost(why)) => {
            // `why` is the HTTP client's own description (no token in it).
            tracing::warn!(
                tenant = %removed.key.tenant,
                provider = %removed.key.provider,
                error = %why,
                "upstream revocation got no answer"
            );
            Revocation::Unreachable
        }
    }
}
