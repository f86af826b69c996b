//! The signed-in user's upstream connections (SPEC: Upstream providers —
//! Health): what `GET …/connections` lists and what `DELETE
//! …/connections/{provider}` does. The user is the one the Bearer token
//! speaks for (`oauth::bearer`); only that user's connections are ever read
//! or removed (the store is asked for `Owner::User(that user)` only).

use crate::AppState;
use crate::domain::connections::{Connection, ConnectionKey, Owner};
use crate::ids::{ProviderName, TenantId, UserId};
use crate::oauth::error::OAuthError;
use crate::oauth::outcome::{BearerRefusal, ConnectionsOutcome};
use crate::tokens::disconnect::{self, Revocation};
use serde_json::{Value, json};

/// One connection as its user sees it: the health fields, never a token.
pub fn user_view(c: &Connection) -> Value {
    let mut v = json!({
        "provider": c.key.provider.as_str(),
        "status": c.status.as_str(),
        "connected_at": c.connected_at,
        "last_refresh_at": c.last_refresh_at,
        "failures": c.failures,
    });
    if let Some(a) = &c.account {
        v["account"] = json!(a);
    }
    v
}

fn failed(e: impl Into<OAuthError>) -> ConnectionsOutcome {
    ConnectionsOutcome::Refused(BearerRefusal::Failed(e.into()))
}

/// `GET …/connections`: the user's connections, by provider name.
pub async fn list(state: &AppState, tenant: &TenantId, user: &UserId) -> ConnectionsOutcome {
    let owner = Owner::User(user.clone());
    match state
        .ports()
        .connections
        .list_for_owner(tenant, &owner)
        .await
    {
        Ok(mut items) => {
            items.sort_by(|a, b| a.key.provider.cmp(&b.key.provider));
            let items: Vec<Value> = items.iter().map(user_view).collect();
            ConnectionsOutcome::Listed(json!({ "items": items }))
        }
        Err(e) => failed(e),
    }
}

/// `DELETE …/connections/{provider}`: removes the user's connection (one
/// DeleteItem, which hands back what it held: of two concurrent deletes only
/// one finds it, and only that one revokes), then revokes its refresh token
/// at the provider where it can. A revocation that fails does not fail the
/// delete: the stored tokens are gone either way; it is logged (never the
/// token) and named in the audit line.
pub async fn disconnect(
    state: &AppState,
    tenant: &TenantId,
    user: &UserId,
    provider: Option<ProviderName>,
) -> ConnectionsOutcome {
    // A segment that is no provider name names no connection.
    let Some(provider) = provider else {
        return ConnectionsOutcome::NotConnected;
    };
    let key = ConnectionKey {
        tenant: tenant.clone(),
        owner: Owner::User(user.clone()),
        provider,
    };
    let removed = match state.ports().connections.remove(&key).await {
        Ok(Some(c)) => c,
        Ok(None) => return ConnectionsOutcome::NotConnected,
        Err(e) => return failed(e),
    };
    let revocation = revoke(state, &removed).await;
    crate::audit::upstream(
        crate::audit::UpstreamEvent::Disconnected,
        tenant,
        removed.key.provider.as_str(),
        removed.key.owner.as_key(),
        revocation.as_str(),
    );
    ConnectionsOutcome::Disconnected
}

async fn revoke(state: &AppState, removed: &Connection) -> Revocation {
    let k = &removed.key;
    let provider = match state.provider(&k.tenant, k.provider.as_str()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "provider unreadable: refresh token not revoked");
            return Revocation::Unavailable;
        }
    };
    let provider = match disconnect::revocable(provider.as_deref(), removed) {
        Ok(p) => p,
        Err(why) => return why,
    };
    let vault = match state.vault(&k.tenant).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "vault unavailable: refresh token not revoked");
            return Revocation::Unavailable;
        }
    };
    let secret = match state.upstream_client_secret(provider).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "upstream client secret unavailable: not revoked");
            return Revocation::Unavailable;
        }
    };
    disconnect::revoke(
        state.ports().upstream.as_ref(),
        provider,
        secret.as_ref(),
        &vault,
        removed,
    )
    .await
}
