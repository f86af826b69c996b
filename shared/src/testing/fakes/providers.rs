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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::providers::{Endpoints, Preset, UpstreamGrant};
    use crate::state::AppState;
    use crate::testing::fakes::Fakes;

    /// The functions read providers through `AppState::provider`: cached like
    /// the records (absent ones too), and a name that is no provider name
    /// (an audience URI) costs no read at all.
    #[tokio::test]
    async fn the_state_caches_provider_reads_and_never_reads_a_malformed_name() {
        let fakes = Fakes::new(1_000);
        let state = AppState::with_ports(crate::Config::from_lookup(|_| None), fakes.ports());
        let tenant = TenantId::parse("acme").unwrap();
        let p = Provider {
            tenant: tenant.clone(),
            name: "crm".into(),
            preset: Preset::Keap,
            vars: Default::default(),
            endpoints: Endpoints {
                token: "https://api.infusionsoft.com/token".into(),
                ..Endpoints::default()
            },
            client_id: "c".into(),
            has_client_secret: true,
            scopes: vec!["full".into()],
            grant: UpstreamGrant::AuthorizationCode,
            display_name: "Keap".into(),
            sign_in: false,
            create_users: false,
            created_at: 1,
        };
        fakes.store.create_provider(&p).await.unwrap();
        fakes.store.clear_calls();
        for _ in 0..3 {
            assert_eq!(
                state.provider(&tenant, "crm").await.unwrap().as_deref(),
                Some(&p)
            );
            assert!(state.provider(&tenant, "other").await.unwrap().is_none());
            assert!(
                state
                    .provider(&tenant, "https://api.acme.example")
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        let reads = fakes
            .store
            .calls()
            .into_iter()
            .filter(|c| *c == "providers.provider")
            .count();
        assert_eq!(
            reads, 2,
            "one read per known or unknown name, none for a malformed one"
        );
    }
}
