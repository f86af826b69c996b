//! Access tokens: the sliding deadline and revocation, read together with the
//! token's family and user in one BatchGetItem.

use super::*;
use crate::ports::{self, AccessTokenRecord, AccessTokenState, BoxFuture, StoreResult};
use aws_sdk_dynamodb::types::KeysAndAttributes;

/// Rounds of BatchGetItem for keys DynamoDB left unprocessed (throttling).
const BATCH_ATTEMPTS: usize = 4;

impl ports::AccessTokenStore for Db {
    /// One strongly consistent BatchGetItem of the token's record, its family
    /// and its user (each optional).
    fn state<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        family_id: Option<&'a str>,
        user: Option<&'a UserId>,
    ) -> BoxFuture<'a, StoreResult<AccessTokenState>> {
        Box::pin(async move {
            let at_key = key(tenant, sk::access_token(jti));
            let fam_key = family_id.map(|f| key(tenant, sk::family(f)));
            let user_key = user.map(|u| key(tenant, sk::user(u)));
            let mut wanted = vec![at_key.clone()];
            wanted.extend(fam_key.iter().cloned());
            wanted.extend(user_key.iter().cloned());
            let mut found: Vec<Item> = Vec::new();
            for _ in 0..BATCH_ATTEMPTS {
                if wanted.is_empty() {
                    break;
                }
                let keys = build(
                    KeysAndAttributes::builder()
                        .set_keys(Some(std::mem::take(&mut wanted)))
                        .consistent_read(true)
                        .build(),
                )?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(backend)?;
                if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                    found.extend(items);
                }
                if let Some(left) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    wanted = left.keys;
                }
            }
            if !wanted.is_empty() {
                return Err(StoreError::Backend(
                    "BatchGetItem left keys unprocessed".into(),
                ));
            }
            let same = |i: &Item, k: &Item| i.get(PK) == k.get(PK) && i.get(SK) == k.get(SK);
            let record = found.iter().find(|i| same(i, &at_key)).map(|i| {
                let g = Get(i);
                AccessTokenRecord {
                    deadline: g.n("deadline").ok(),
                    last_write: g.n("last_write").ok(),
                    revoked: g.bool_or("revoked", false),
                }
            });
            // A tombstone (revoked before it was written) is not a family.
            let family = fam_key
                .and_then(|k| found.iter().find(|i| same(i, &k)))
                .and_then(|i| Family::try_from(i).ok());
            let user = match user_key.and_then(|k| found.iter().find(|i| same(i, &k))) {
                Some(i) => Some(User::try_from(i)?),
                None => None,
            };
            Ok(AccessTokenState {
                record,
                family,
                user,
            })
        })
    }

    /// Moves the sliding deadline forward, at most once per `min_interval`.
    fn extend<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        deadline: u64,
        min_interval: u64,
        retire_at: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let res = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(tenant, sk::access_token(jti))))
                .update_expression(
                    "SET deadline = :d, last_write = :now, expires_at = :retire, #ttl = :retire",
                )
                .condition_expression(
                    "(attribute_not_exists(deadline) OR deadline < :d) \
                     AND (attribute_not_exists(last_write) OR last_write <= :quiet)",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":d", n(deadline))
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":quiet", n(now.secs().saturating_sub(min_interval)))
                .expression_attribute_values(":retire", n(retire_at))
                .send()
                .await;
            match res {
                Ok(_) => Ok(true),
                Err(e) => match e.as_service_error() {
                    Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                    _ => Err(backend(e)),
                },
            }
        })
    }

    /// Marks an access token revoked.
    fn revoke<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        retire_at: u64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(tenant, sk::access_token(jti))))
                .update_expression(
                    "SET revoked = :t, expires_at = if_not_exists(expires_at, :retire), \
                     #ttl = if_not_exists(#ttl, :retire)",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":t", b(true))
                .expression_attribute_values(":retire", n(retire_at))
                .send()
                .await
                .map(|_| ())
                .map_err(backend)
        })
    }
}
