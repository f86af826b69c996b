//! Upstream providers in [`FakeStore`], with the adapter's semantics
//! (`store/dynamo/providers.rs`): create-if-absent, named-field updates of
//! an existing provider, remove returning what was there.

use super::{FakeStore, k};
use crate::domain::providers::Provider;
use crate::ids::TenantId;
use crate::ports::StoreError;
use crate::ports::{BoxFuture, ProviderChanges, ProviderStore, StoreResult};

impl ProviderStore for FakeStore {
    fn provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>> {
        Box::pin(async move {
            self.round_trip("providers.provider").await?;
            Ok(self.tables().providers.get(&k(tenant, name)).cloned())
        })
    }

    fn providers<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<Provider>>> {
        Box::pin(async move {
            self.round_trip("providers.providers").await?;
            let mut out: Vec<Provider> = self
                .tables()
                .providers
                .iter()
                .filter(|((t, _), _)| t == tenant)
                .map(|(_, p)| p.clone())
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    fn create_provider<'a>(&'a self, p: &'a Provider) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("providers.create_provider").await?;
            let mut tables = self.tables();
            let key = k(&p.tenant, &p.name);
            if tables.providers.contains_key(&key) {
                return Err(StoreError::AlreadyExists);
            }
            tables.providers.insert(key, p.clone());
            Ok(())
        })
    }

    fn update_provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        c: &'a ProviderChanges,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>> {
        Box::pin(async move {
            self.round_trip("providers.update_provider").await?;
            let mut tables = self.tables();
            let Some(p) = tables.providers.get_mut(&k(tenant, name)) else {
                return Ok(None);
            };
            if let Some(v) = &c.display_name {
                p.display_name = v.clone();
            }
            if let Some(v) = &c.scopes {
                p.scopes = v.clone();
            }
            if let Some(v) = &c.client_id {
                p.client_id = v.clone();
            }
            if let Some(v) = c.has_client_secret {
                p.has_client_secret = v;
            }
            if let Some(v) = c.sign_in {
                p.sign_in = v;
            }
            if let Some(v) = c.create_users {
                p.create_users = v;
            }
            if let Some(v) = &c.authorize_url {
                p.endpoints.authorize = Some(v.clone());
            }
            if let Some(v) = &c.token_url {
                p.endpoints.token = v.clone();
            }
            if let Some(v) = &c.refresh_url {
                p.endpoints.refresh = v.clone();
            }
            if let Some(v) = &c.revocation_url {
                p.endpoints.revocation = v.clone();
            }
            Ok(Some(p.clone()))
        })
    }

    fn remove_provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>> {
        Box::pin(async move {
            self.round_trip("providers.remove_provider").await?;
            Ok(self.tables().providers.remove(&k(tenant, name)))
        })
    }
}
