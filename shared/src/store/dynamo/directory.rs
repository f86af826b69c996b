//! Tenants and their clients: tenant-level items, under the tenant's partition.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

impl Db {
    // ---- tenants -----------------------------------------------------------

    pub async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        self.put_if_absent(t.into()).await
    }

    /// The tenant read strongly consistently (a key change starts from it).
    pub async fn get_tenant_consistent(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get_item(key(id, sk::TENANT.into()), true)
            .await?
            .as_ref()
            .map(Tenant::try_from)
            .transpose()
    }

    /// Commits a key change on the tenant item — the JWKS, the current key
    /// id, the next generation and when the maintenance is due — if the item
    /// is still at the generation and JWKS the writer read and is not being
    /// deleted. `Ok(false)`: someone else changed the keys first (or the
    /// tenant is going); nothing written.
    pub async fn commit_keys(&self, id: &TenantId, c: &KeyCommit<'_>) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .update_expression(format!(
                "SET public_jwks = :j, current_kid = :k, signing_alg = :a, {KEY_GEN} = :g1, keys_at = :at, {DPK} = :dpk, {DUE} = :due"
            ))
            .condition_expression(format!(
                "attribute_exists(pk) AND attribute_not_exists({DELETING}) AND {} AND public_jwks = :old",
                gen_fence(c.read_gen)
            ))
            .expression_attribute_values(":j", s(c.public_jwks))
            .expression_attribute_values(":k", s(c.current_kid))
            .expression_attribute_values(":a", s(c.alg.as_str()))
            .expression_attribute_values(":g", n(c.read_gen))
            .expression_attribute_values(":g1", n(c.read_gen.saturating_add(1)))
            .expression_attribute_values(":at", n(c.at))
            .expression_attribute_values(":dpk", s(DUE_TENANTS))
            .expression_attribute_values(":due", n(c.due))
            .expression_attribute_values(":old", s(c.read_jwks))
            .send()
            .await;
        conditional(r)
    }

    /// Moves the tenant's place in the due index, if its keys are still at
    /// generation `generation` (a key change sets it itself) and it is not being
    /// deleted. `Ok(false)` when that no longer holds; nothing written.
    pub async fn set_tenant_due(
        &self,
        id: &TenantId,
        generation: u64,
        due: u64,
    ) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .update_expression(format!("SET {DPK} = :dpk, {DUE} = :due"))
            .condition_expression(format!(
                "attribute_exists(pk) AND attribute_not_exists({DELETING}) AND {}",
                gen_fence(generation)
            ))
            .expression_attribute_values(":g", n(generation))
            .expression_attribute_values(":dpk", s(DUE_TENANTS))
            .expression_attribute_values(":due", n(due))
            .send()
            .await;
        conditional(r)
    }

    /// The first step of `tenant delete`: the tenant serves nothing any more
    /// (once the functions' record caches expire), no key change commits on
    /// it, and it leaves the due index. `false` if there is no tenant item.
    pub async fn mark_tenant_deleting(&self, id: &TenantId) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .update_expression(format!("SET {DELETING} = :t REMOVE {DPK}"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", b(true))
            .send()
            .await;
        conditional(r)
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
}

/// A key change as [`Db::commit_keys`] writes it.
pub struct KeyCommit<'a> {
    pub public_jwks: &'a str,
    pub current_kid: &'a str,
    pub alg: SigningAlg,
    /// The generation and the JWKS the writer read; the commit writes
    /// `read_gen + 1`.
    pub read_gen: u64,
    pub read_jwks: &'a str,
    /// The commit's time (`KeyState::changed_at`).
    pub at: u64,
    /// When the maintenance is next due (`KeyState::due`).
    pub due: u64,
}

/// The condition that the tenant item is still at key generation `:g` (an
/// item written before generations has none, which reads as 0).
fn gen_fence(generation: u64) -> String {
    if generation == 0 {
        format!("(attribute_not_exists({KEY_GEN}) OR {KEY_GEN} = :g)")
    } else {
        format!("{KEY_GEN} = :g")
    }
}

/// A conditional write's outcome: `false` when its condition failed.
fn conditional<T, E, R>(r: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(backend(e)),
    }
}

impl ports::Directory for Db {
    fn tenant<'a>(&'a self, id: &'a TenantId) -> BoxFuture<'a, StoreResult<Option<Tenant>>> {
        Box::pin(async move {
            self.get_item(key(id, sk::TENANT.into()), false)
                .await?
                .as_ref()
                .map(Tenant::try_from)
                .transpose()
        })
    }

    fn client<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a ClientId,
    ) -> BoxFuture<'a, StoreResult<Option<Client>>> {
        Box::pin(async move {
            self.get_item(key(tenant, sk::client(id)), false)
                .await?
                .as_ref()
                .map(Client::try_from)
                .transpose()
        })
    }

    /// The web origins of the tenant's enabled clients: one query of the
    /// tenant's partition (only its clients carry the attribute).
    fn web_origins<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(async move {
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
        })
    }
}
