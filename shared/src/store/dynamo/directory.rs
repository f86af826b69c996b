//! Tenants and their clients: tenant-level items, under the tenant's partition.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl Db {
    /// The web origins of the tenant's enabled clients: one query of the
    /// tenant's partition (only its clients carry the attribute).
    pub async fn tenant_web_origins(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :c)")
                .expression_attribute_values(":p", s(tenant_pk(tenant)))
                .expression_attribute_values(":c", s(sk::client_prefix()))
                .projection_expression("web_origins, enabled")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for i in page.items() {
                if Get(i).bool_or("enabled", true) {
                    for o in Get(i).list("web_origins") {
                        if !out.contains(&o) {
                            out.push(o);
                        }
                    }
                }
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }

    // ---- tenants -----------------------------------------------------------

    pub async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        self.put_if_absent(t.into()).await
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(key(id, sk::TENANT.into()), false)
            .await?
            .as_ref()
            .map(Tenant::try_from)
            .transpose()
    }

    /// Publishes a tenant's keys if its JWKS is still `expected` (what the
    /// caller read): two rotations at once cannot interleave, the second
    /// finds the JWKS changed and gets `Ok(false)`, writing nothing.
    pub async fn set_tenant_keys(
        &self,
        id: &TenantId,
        public_jwks: &str,
        current_kid: &str,
        alg: SigningAlg,
        expected: &str,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .update_expression("SET public_jwks = :j, current_kid = :k, signing_alg = :a")
            .condition_expression("attribute_exists(pk) AND public_jwks = :old")
            .expression_attribute_values(":j", s(public_jwks))
            .expression_attribute_values(":k", s(current_kid))
            .expression_attribute_values(":a", s(alg.as_str()))
            .expression_attribute_values(":old", s(expected))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(backend(e)),
            },
        }
    }

    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    // ---- clients -----------------------------------------------------------

    pub async fn create_client(&self, c: &Client) -> Result<(), StoreError> {
        self.put_if_absent(c.into()).await
    }

    pub async fn get_client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Client>, StoreError> {
        self.get(key(tenant, sk::client(id)), false)
            .await?
            .as_ref()
            .map(Client::try_from)
            .transpose()
    }
}

impl ports::Directory for Db {
    fn tenant<'a>(&'a self, id: &'a TenantId) -> BoxFuture<'a, StoreResult<Option<Tenant>>> {
        Box::pin(self.get_tenant(id))
    }
    fn client<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a ClientId,
    ) -> BoxFuture<'a, StoreResult<Option<Client>>> {
        Box::pin(self.get_client(tenant, id))
    }
    fn web_origins<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(self.tenant_web_origins(tenant))
    }
}
