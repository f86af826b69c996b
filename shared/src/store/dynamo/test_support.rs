//! Test hooks, compiled only with the `test-support` feature (the integration
//! tests enable it; no function's release build does). They let tests plant
//! and age items without knowing an attribute name or a key.

use super::*;

/// One stored item, as a test sees it.
#[derive(Debug, Clone)]
pub struct RawItem {
    pub partition_key: String,
    pub sort_key: String,
    /// Every attribute, for "is this secret stored anywhere" checks.
    pub dump: String,
}

impl Db {
    /// Writes a family as given (tests use it to plant expired items).
    pub async fn put_family_raw(&self, f: &Family) -> Result<(), StoreError> {
        crate::ports::RefreshStore::start_family(self, f).await
    }

    /// Overwrites a user record as given (tests change claims behind a session).
    pub async fn put_user_raw(&self, u: &User) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(u.into()))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Moves the expiry of a family's current refresh token (to the past,
    /// to test expiry).
    pub async fn set_refresh_expiry(
        &self,
        tenant: &TenantId,
        family_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::family(family_id))))
            .update_expression("SET rt_expires_at = :t")
            .expression_attribute_values(":t", n(expires_at))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Moves a family's last rotation time (tests cannot wait 10 s).
    pub async fn set_rotated_at(
        &self,
        tenant: &TenantId,
        family_id: &str,
        at: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::family(family_id))))
            .update_expression("SET rotated_at = :t")
            .expression_attribute_values(":t", n(at))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Every item of a tenant (a scan: tests only), with its keys.
    pub async fn tenant_items(&self, tenant: &TenantId) -> Result<Vec<RawItem>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("pk = :p OR begins_with(pk, :prefix)")
                .expression_attribute_values(":p", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s(format!("{}#", tenant_pk(tenant))))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for i in page.items() {
                out.push(RawItem {
                    partition_key: Get(i).s(PK)?,
                    sort_key: Get(i).s(SK)?,
                    dump: format!("{i:?}"),
                });
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }
}
