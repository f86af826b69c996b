//! `connection list|get|remove` (SPEC: Provisioning CLI, Upstream providers —
//! Health), and the purges of `user delete`, `provider remove` and `tenant
//! delete`: a connection's health as an operator sees it (never a token nor
//! a ciphertext), and its removal, which revokes the refresh token at the
//! provider where it can (`tokens::disconnect`, as `DELETE …/connections`
//! does) and is audited (`upstream_disconnected`).
//!
//! [`ConnectionOps`] runs on the ports, so the same code runs on DynamoDB,
//! Secrets Manager and reqwest in the CLI and on the fakes in its tests.

use super::*;
use crate::audit::{self, UpstreamEvent};
use crate::domain::connections::{Connection, ConnectionKey, Owner};
use crate::domain::outbound::OutboundPolicy;
use crate::domain::providers::Provider;
use crate::ids::ProviderName;
use crate::ports::{ConnectionStore, ProviderStore, SecretSource, UpstreamHttp};
use crate::store::upstream_http::ReqwestUpstream;
use crate::tokens::disconnect::{self, Revocation};
use crate::tokens::vault::{Vault, VaultKeys};
use std::collections::HashMap;
use std::sync::Arc;

/// How many connections one listing page reads.
const PAGE: usize = 100;

/// Which connections a purge removes.
pub enum Purge {
    /// One user's (`user delete`).
    User(UserId),
    /// Every connection to one provider (`provider remove`).
    Provider(ProviderName),
    /// Every connection of the tenant (`tenant delete`).
    Tenant,
}

/// What a purge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub removed: usize,
    pub revoked: usize,
}

/// One connection as an operator sees it: its owner and health, never a
/// token nor a ciphertext.
pub fn connection_json(c: &Connection) -> Value {
    let (owner, user_id) = match &c.key.owner {
        Owner::User(u) => ("user", Some(u.as_str())),
        Owner::Service => ("service", None),
    };
    json!({
        "tenant": c.key.tenant.as_str(),
        "provider": c.key.provider.as_str(),
        "owner": owner,
        "user_id": user_id,
        "status": c.status.as_str(),
        "reason": c.reason,
        "account": c.account,
        "scope": c.scope,
        "connected_at": c.connected_at,
        "last_refresh_at": c.last_refresh_at,
        "failures": c.failures,
        "generation": c.generation,
        "has_refresh_token": c.refresh_token.is_some(),
        "access_token_expires_at": c.access_token.as_ref().map(|a| a.expires_at),
        "refresh_due_at": c.refresh_due_at,
    })
}

fn parse_provider(name: &str) -> Result<ProviderName, AdminError> {
    ProviderName::parse(name).map_err(|e| AdminError(format!("--provider: {e}")))
}

fn parse_owner(user_id: Option<&str>) -> Result<Owner, AdminError> {
    match user_id {
        None => Ok(Owner::Service),
        Some(u) => UserId::parse(u)
            .map(Owner::User)
            .map_err(|e| AdminError(format!("{e}: {u:?}"))),
    }
}

/// The connection commands over the ports.
pub struct ConnectionOps<'a> {
    pub config: &'a Config,
    pub connections: &'a dyn ConnectionStore,
    pub providers: &'a dyn ProviderStore,
    pub secrets: &'a dyn SecretSource,
    pub upstream: &'a dyn UpstreamHttp,
}

/// What revoking needs, read once per command (a purge revokes many).
#[derive(Default)]
struct Keys {
    vault: Option<Result<Arc<Vault>, String>>,
    providers: HashMap<String, Option<Provider>>,
    client_secrets: HashMap<String, Result<Option<secrecy::SecretString>, String>>,
}

impl ConnectionOps<'_> {
    /// Every connection of the tenant: of one owner (`user_id`, by provider
    /// name) or of all, of one provider or all. The tenant's listing is read
    /// page by page to the end.
    pub async fn list(
        &self,
        tenant: &TenantId,
        user_id: Option<&str>,
        provider: Option<&str>,
    ) -> Result<Value, AdminError> {
        let provider = provider.map(parse_provider).transpose()?;
        let items = match user_id {
            Some(_) => {
                let owner = parse_owner(user_id)?;
                let mut all = self.connections.list_for_owner(tenant, &owner).await?;
                all.retain(|c| provider.as_ref().is_none_or(|p| &c.key.provider == p));
                all
            }
            None => self.all(tenant, provider.as_ref()).await?,
        };
        Ok(json!({"items": items.iter().map(connection_json).collect::<Vec<_>>()}))
    }

    async fn all(
        &self,
        tenant: &TenantId,
        provider: Option<&ProviderName>,
    ) -> Result<Vec<Connection>, AdminError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .connections
                .list_for_tenant(tenant, provider, PAGE, cursor.as_deref())
                .await?;
            out.extend(page.items);
            match page.next {
                Some(n) => cursor = Some(n),
                None => return Ok(out),
            }
        }
    }

    fn key(
        tenant: &TenantId,
        provider: &str,
        user_id: Option<&str>,
    ) -> Result<ConnectionKey, AdminError> {
        Ok(ConnectionKey {
            tenant: tenant.clone(),
            owner: parse_owner(user_id)?,
            provider: parse_provider(provider)?,
        })
    }

    /// One connection: a user's (`user_id`) or the tenant's service one.
    pub async fn get(
        &self,
        tenant: &TenantId,
        provider: &str,
        user_id: Option<&str>,
    ) -> Result<Value, AdminError> {
        let key = Self::key(tenant, provider, user_id)?;
        match self.connections.get(&key).await? {
            Some(c) => Ok(connection_json(&c)),
            None => fail(no_connection(provider, user_id)),
        }
    }

    /// Removes one connection and revokes its refresh token at the provider
    /// where it can.
    pub async fn remove(
        &self,
        tenant: &TenantId,
        provider: &str,
        user_id: Option<&str>,
    ) -> Result<Value, AdminError> {
        let key = Self::key(tenant, provider, user_id)?;
        let mut keys = Keys::default();
        match self.remove_one(&key, &mut keys).await? {
            Some(r) => Ok(json!({
                "tenant": tenant.as_str(),
                "provider": key.provider.as_str(),
                "user_id": user_id,
                "removed": true,
                "revoked": r.revoked(),
                "revocation": r.as_str(),
            })),
            None => fail(no_connection(provider, user_id)),
        }
    }

    /// Removes (and revokes) every connection `which` names.
    pub async fn purge(&self, tenant: &TenantId, which: &Purge) -> Result<Purged, AdminError> {
        let found = match which {
            Purge::User(u) => {
                self.connections
                    .list_for_owner(tenant, &Owner::User(u.clone()))
                    .await?
            }
            Purge::Provider(p) => self.all(tenant, Some(p)).await?,
            Purge::Tenant => self.all(tenant, None).await?,
        };
        let mut keys = Keys::default();
        let mut purged = Purged::default();
        for c in found {
            if let Some(r) = self.remove_one(&c.key, &mut keys).await? {
                purged.removed += 1;
                purged.revoked += usize::from(r.revoked());
            }
        }
        Ok(purged)
    }

    /// `None`: there was no such connection (or someone removed it first).
    async fn remove_one(
        &self,
        key: &ConnectionKey,
        keys: &mut Keys,
    ) -> Result<Option<Revocation>, AdminError> {
        let Some(removed) = self.connections.remove(key).await? else {
            return Ok(None);
        };
        let r = self.revoke(&removed, keys).await;
        audit::upstream(
            UpstreamEvent::Disconnected,
            &key.tenant,
            key.provider.as_str(),
            key.owner.as_key(),
            r.as_str(),
        );
        Ok(Some(r))
    }

    async fn revoke(&self, removed: &Connection, keys: &mut Keys) -> Revocation {
        let k = &removed.key;
        let name = k.provider.as_str();
        if !keys.providers.contains_key(name) {
            match self.providers.provider(&k.tenant, name).await {
                Ok(p) => {
                    keys.providers.insert(name.to_owned(), p);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "provider unreadable: refresh token not revoked");
                    return Revocation::Unavailable;
                }
            }
        }
        let provider = keys.providers.get(name).and_then(Option::as_ref);
        let provider = match disconnect::revocable(provider, removed) {
            Ok(p) => p,
            Err(why) => return why,
        };
        if keys.vault.is_none() {
            keys.vault = Some(self.vault(&k.tenant).await);
        }
        let vault = match keys.vault.as_ref() {
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "vault unavailable: refresh token not revoked");
                return Revocation::Unavailable;
            }
            None => return Revocation::Unavailable,
        };
        if !keys.client_secrets.contains_key(name) {
            let s = self.client_secret(provider).await;
            keys.client_secrets.insert(name.to_owned(), s);
        }
        let secret = match keys.client_secrets.get(name) {
            Some(Ok(s)) => s.as_ref(),
            _ => {
                tracing::warn!("upstream client secret unavailable: refresh token not revoked");
                return Revocation::Unavailable;
            }
        };
        disconnect::revoke(self.upstream, provider, secret, &vault, removed).await
    }

    async fn vault(&self, tenant: &TenantId) -> Result<Arc<Vault>, String> {
        let raw = self
            .secrets
            .fetch(&self.config.vault_key_secret(tenant))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the tenant has no vault keys".to_owned())?;
        let vault = VaultKeys::parse(&raw)
            .and_then(|k| k.vault())
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(vault))
    }

    async fn client_secret(
        &self,
        provider: &Provider,
    ) -> Result<Option<secrecy::SecretString>, String> {
        if !provider.has_client_secret {
            return Ok(None);
        }
        let name = self
            .config
            .upstream_secret_name(&provider.tenant, &provider.name);
        match self.secrets.fetch(&name).await {
            Ok(s) => Ok(s.map(secrecy::SecretString::from)),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn no_connection(provider: &str, user_id: Option<&str>) -> String {
    match user_id {
        Some(u) => format!("user {u} has no connection to {provider}"),
        None => format!("the tenant has no service connection to {provider}"),
    }
}

impl Admin {
    /// The connection commands on DynamoDB, Secrets Manager and `upstream`.
    pub fn connection_ops<'a>(&'a self, upstream: &'a dyn UpstreamHttp) -> ConnectionOps<'a> {
        ConnectionOps {
            config: &self.config,
            connections: &self.db,
            providers: &self.db,
            secrets: &self.secrets,
            upstream,
        }
    }

    /// The HTTP client revocations go through (the stack's outbound policy).
    pub fn upstream_client(&self) -> ReqwestUpstream {
        ReqwestUpstream::new(OutboundPolicy::for_stack(&self.config))
    }

    pub async fn list_connections(
        &self,
        alias: &str,
        user_id: Option<&str>,
        provider: Option<&str>,
    ) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let upstream = crate::ports::NoUpstream;
        self.connection_ops(&upstream)
            .list(&tenant, user_id, provider)
            .await
    }

    pub async fn get_connection(
        &self,
        alias: &str,
        provider: &str,
        user_id: Option<&str>,
    ) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let upstream = crate::ports::NoUpstream;
        self.connection_ops(&upstream)
            .get(&tenant, provider, user_id)
            .await
    }

    pub async fn remove_connection(
        &self,
        alias: &str,
        provider: &str,
        user_id: Option<&str>,
    ) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let upstream = self.upstream_client();
        self.connection_ops(&upstream)
            .remove(&tenant, provider, user_id)
            .await
    }

    /// Removes (and revokes) the connections `which` names.
    pub async fn purge_connections(
        &self,
        tenant: &TenantId,
        which: &Purge,
    ) -> Result<Purged, AdminError> {
        let upstream = self.upstream_client();
        self.connection_ops(&upstream).purge(tenant, which).await
    }
}
