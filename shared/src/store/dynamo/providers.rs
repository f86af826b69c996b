//! Upstream providers: tenant-level items (`PROVIDER#{name}` in the tenant's
//! partition, like clients), written by the admin and read by the functions.
//! The client secret is never here (Secrets Manager holds it).

use super::field_update::Fields;
use super::*;
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::ports::{self, BoxFuture, ProviderChanges, StoreResult};

fn malformed(what: &str) -> StoreError {
    StoreError::Malformed(format!("bad provider {what}"))
}

impl TryFrom<&Item> for Provider {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(Provider {
            tenant: g.tenant()?,
            name: g.s("name")?,
            preset: Preset::parse(&g.s("preset")?).ok_or_else(|| malformed("preset"))?,
            vars: g.map("vars"),
            endpoints: Endpoints {
                authorize: g.opt_s("authorize_url"),
                token: g.s("token_url")?,
                refresh: g.opt_s("refresh_url"),
                revocation: g.opt_s("revocation_url"),
                password_change: g.opt_s("password_change_url"),
                issuer: g.opt_s("issuer"),
                jwks_uri: g.opt_s("jwks_uri"),
            },
            client_id: g.s("client_id")?,
            has_client_secret: g.bool_or("has_client_secret", false),
            scopes: g.list("scopes"),
            grant: UpstreamGrant::parse(&g.s("grant")?).ok_or_else(|| malformed("grant"))?,
            display_name: g.s("display_name")?,
            sign_in: g.bool_or("sign_in", false),
            create_users: g.bool_or("create_users", false),
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&Provider> for Item {
    fn from(p: &Provider) -> Item {
        let mut i = key(&p.tenant, sk::provider(&p.name));
        let mut put = |k: &str, v: AttributeValue| {
            i.insert(k.to_owned(), v);
        };
        put("name", s(p.name.clone()));
        put("preset", s(p.preset.as_str()));
        if !p.vars.is_empty() {
            put(
                "vars",
                AttributeValue::M(
                    p.vars
                        .iter()
                        .map(|(k, v)| (k.clone(), s(v.clone())))
                        .collect(),
                ),
            );
        }
        let e = &p.endpoints;
        put("token_url", s(e.token.clone()));
        for (k, v) in [
            ("authorize_url", &e.authorize),
            ("refresh_url", &e.refresh),
            ("revocation_url", &e.revocation),
            ("password_change_url", &e.password_change),
            ("issuer", &e.issuer),
            ("jwks_uri", &e.jwks_uri),
        ] {
            if let Some(v) = v {
                put(k, s(v.clone()));
            }
        }
        put("client_id", s(p.client_id.clone()));
        put("has_client_secret", b(p.has_client_secret));
        put("scopes", list(&p.scopes));
        put("grant", s(p.grant.as_str()));
        put("display_name", s(p.display_name.clone()));
        put("sign_in", b(p.sign_in));
        put("create_users", b(p.create_users));
        put("created_at", n(p.created_at));
        i
    }
}

impl Db {
    async fn provider_list(&self, tenant: &TenantId) -> StoreResult<Vec<Provider>> {
        self.tenant_level(tenant, sk::provider_prefix()).await
    }

    async fn provider_update(
        &self,
        tenant: &TenantId,
        name: &str,
        c: &ProviderChanges,
    ) -> StoreResult<Option<Provider>> {
        let mut f = Fields::default();
        if let Some(v) = &c.display_name {
            f.set(&["display_name"], s(v.clone()));
        }
        if let Some(v) = &c.scopes {
            f.set(&["scopes"], list(v));
        }
        if let Some(v) = &c.client_id {
            f.set(&["client_id"], s(v.clone()));
        }
        if let Some(v) = c.has_client_secret {
            f.set(&["has_client_secret"], b(v));
        }
        if let Some(v) = c.sign_in {
            f.set(&["sign_in"], b(v));
        }
        if let Some(v) = c.create_users {
            f.set(&["create_users"], b(v));
        }
        if let Some(v) = &c.authorize_url {
            f.set(&["authorize_url"], s(v.clone()));
        }
        if let Some(v) = &c.token_url {
            f.set(&["token_url"], s(v.clone()));
        }
        if let Some(v) = &c.refresh_url {
            f.set_or_remove("refresh_url", v.clone().map(s));
        }
        if let Some(v) = &c.revocation_url {
            f.set_or_remove("revocation_url", v.clone().map(s));
        }
        self.update_fields(key(tenant, sk::provider(name)), f)
            .await?
            .as_ref()
            .map(Provider::try_from)
            .transpose()
    }

    async fn provider_remove(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> StoreResult<Option<Provider>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::provider(name))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        out.attributes.as_ref().map(Provider::try_from).transpose()
    }
}

impl ports::ProviderStore for Db {
    fn provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>> {
        Box::pin(async move {
            self.get_item(key(tenant, sk::provider(name)), true)
                .await?
                .as_ref()
                .map(Provider::try_from)
                .transpose()
        })
    }

    fn providers<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<Provider>>> {
        Box::pin(self.provider_list(tenant))
    }

    fn create_provider<'a>(&'a self, p: &'a Provider) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.put_if_absent(p.into()))
    }

    fn update_provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        changes: &'a ProviderChanges,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>> {
        Box::pin(self.provider_update(tenant, name, changes))
    }

    fn remove_provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>> {
        Box::pin(self.provider_remove(tenant, name))
    }
}
