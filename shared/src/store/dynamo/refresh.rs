//! Refresh-token families: one item each (`FAM#{id}`), holding the session
//! and its refresh-token chain. Starting a family is one write, a rotation one
//! conditional write of the same item, a revocation one update.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl ports::RefreshStore for Db {
    /// Writes a new family (with its first refresh token if it has a chain)
    /// in one UpdateItem. A family revoked before it was written (a code
    /// replayed while its first redemption was still issuing) stays revoked.
    fn start_family<'a>(&'a self, f: &'a Family) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let u = self.family_write(f)?;
            self.client
                .update_item()
                .table_name(u.table_name)
                .set_key(Some(u.key))
                .update_expression(u.update_expression)
                .set_expression_attribute_names(u.expression_attribute_names)
                .set_expression_attribute_values(u.expression_attribute_values)
                .send()
                .await
                .map(|_| ())
                .map_err(backend)
        })
    }

    /// A family by id (strongly consistent); expired families are absent.
    fn family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Family>>> {
        Box::pin(async move {
            let item = self
                .get_item(key(tenant, sk::family(family_id)), true)
                .await?;
            match live(item.as_ref(), now) {
                // A revocation tombstone (no client, no user yet) is no family.
                Some(i) if Get(i).opt_s("client_id").is_none() => Ok(None),
                other => other.map(Family::try_from).transpose(),
            }
        })
    }

    /// Rotates the family's chain to `next` in ONE conditional UpdateItem:
    /// only if its current token is still the one `read` saw (single use),
    /// unexpired, and the family not revoked. `Ok(false)`: the condition
    /// failed, nothing written.
    fn rotate<'a>(
        &'a self,
        read: &'a Family,
        next: &'a RefreshChain,
        family_expires_at: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let Some(current) = &read.refresh else {
                return Ok(false);
            };
            let retry_scope = next
                .last_rotation
                .as_ref()
                .map(|r| r.retry_scope.clone())
                .unwrap_or_default();
            let res = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(&read.tenant, sk::family(&read.family_id))))
                .update_expression(
                    "SET rt_hash = :next, rt_gen = :gen, rt_salt = :salt, rt_issued_at = :now, \
                     rt_expires_at = :rexp, rotated_at = :now, retry_scope = :rs, \
                     expires_at = :fexp, #ttl = :fexp",
                )
                .condition_expression("rt_hash = :cur AND revoked = :f AND rt_expires_at > :now")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":next", s(next.current_hash.clone()))
                .expression_attribute_values(":gen", n(next.generation))
                .expression_attribute_values(":salt", s(next.salt.clone()))
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":rexp", n(next.expires_at))
                .expression_attribute_values(":rs", s(retry_scope))
                .expression_attribute_values(":fexp", n(family_expires_at))
                .expression_attribute_values(":cur", s(current.current_hash.clone()))
                .expression_attribute_values(":f", b(false))
                .send()
                .await;
            match res {
                Ok(_) => Ok(true),
                Err(e) => match e.as_service_error() {
                    Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                    _ => {
                        // Unknown outcome (no answer, a reset, a timeout). If the
                        // chain moved to our successor, something committed it —
                        // this write, or a concurrent request with the same token
                        // — and the caller judges the token again from a fresh
                        // read (an exact retry gets that successor, anything else
                        // is reuse). If not, the outage is the answer.
                        let moved =
                            ports::RefreshStore::family(self, &read.tenant, &read.family_id, now)
                                .await
                                .ok()
                                .flatten()
                                .and_then(|f| f.refresh)
                                .is_some_and(|c| c.current_hash == next.current_hash);
                        if moved { Ok(false) } else { Err(backend(e)) }
                    }
                },
            }
        })
    }

    /// Revokes a family: every token of it, the newest included, stops working.
    /// Writes a tombstone if the family item does not exist (yet).
    fn revoke_family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::family(family_id))))
            .update_expression(
                "SET revoked = :t, revoked_at = :now, expires_at = if_not_exists(expires_at, :exp), #ttl = if_not_exists(#ttl, :exp)",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":now", n(now.secs()))
            .expression_attribute_values(":exp", n(now.plus(DEFAULT_REFRESH_TOKEN_TTL)))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
        })
    }
}
