//! Tenants and their clients: tenant-level items, under the tenant's partition.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl Db {
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

    pub async fn set_tenant_keys(
        &self,
        id: &TenantId,
        public_jwks: &str,
        current_kid: &str,
        alg: SigningAlg,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .update_expression("SET public_jwks = :j, current_kid = :k, signing_alg = :a")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":j", s(public_jwks))
            .expression_attribute_values(":k", s(current_kid))
            .expression_attribute_values(":a", s(alg.as_str()))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
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
}
