//! Authorization codes: issued, read, redeemed once (with what they yield), burnt.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl Db {
    // ---- authorization codes ----------------------------------------------

    /// Consume-once: marks the code used and records the family its redemption
    /// will issue. Exactly one caller gets `Ok(Ok(code))`; every other caller
    /// (and any caller after expiry) gets `Ok(Err(previous))`, where `previous`
    /// is the code as stored (with the winner's family id) if it still exists.
    pub async fn consume_code(
        &self,
        tenant: &TenantId,
        code_hash: &str,
        family_id: &str,
        now: Now,
    ) -> Result<Result<AuthCode, Option<AuthCode>>, StoreError> {
        let k = key(tenant, sk::code(code_hash));
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k.clone()))
            .update_expression("SET used_at = :now, family_id = :fam, #ttl = :keep")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(used_at) AND expires_at > :now",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now.secs()))
            .expression_attribute_values(":fam", s(family_id))
            .expression_attribute_values(":keep", n(now.plus(USED_CODE_RETENTION)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Malformed("no attributes returned".into()))?;
                Ok(Ok(AuthCode::try_from(&item)?))
            }
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    let prev = self.get_item(k, true).await?;
                    Ok(Err(prev.as_ref().map(AuthCode::try_from).transpose()?))
                }
                _ => Err(backend(e)),
            },
        }
    }

    /// The family item's write (with its refresh-token chain, if any):
    /// created, or completed if a revocation left a tombstone first, in which
    /// case it stays revoked (`revoked` is only set if absent).
    pub(super) fn family_write(&self, f: &Family) -> Result<Update, StoreError> {
        let mut expr = String::from(
            "SET client_id = :c, user_id = :u, pwd_version = :v, created_at = :now, \
             revoked = if_not_exists(revoked, :f), expires_at = :exp, #ttl = :exp",
        );
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&f.tenant, sk::family(&f.family_id))))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":c", s(f.client_id.as_str()))
            .expression_attribute_values(":u", s(f.user_id.as_str()))
            .expression_attribute_values(":v", n(f.pwd_version))
            .expression_attribute_values(":now", n(f.created_at))
            .expression_attribute_values(":f", b(f.revoked))
            .expression_attribute_values(":exp", n(f.expires_at));
        if let Some(t) = f.auth_time {
            expr.push_str(", auth_time = :at");
            u = u.expression_attribute_values(":at", n(t));
        }
        if let Some(c) = &f.refresh {
            expr.push_str(
                ", rt_scope = :rs, rt_gen = :rg, rt_hash = :rh, rt_key = :rk, \
                 rt_salt = :rsalt, rt_issued_at = :ri, rt_expires_at = :re",
            );
            u = u
                .expression_attribute_values(":rs", s(c.scope.clone()))
                .expression_attribute_values(":rg", n(c.generation))
                .expression_attribute_values(":rh", s(c.current_hash.clone()))
                .expression_attribute_values(":rk", s(c.key.clone()))
                .expression_attribute_values(":rsalt", s(c.salt.clone()))
                .expression_attribute_values(":ri", n(c.issued_at))
                .expression_attribute_values(":re", n(c.expires_at));
        }
        build(u.update_expression(expr).build())
    }
}

impl ports::CodeStore for Db {
    fn put<'a>(&'a self, c: &'a AuthCode) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.put_if_absent(c.into()).await })
    }

    /// A code by hash, used or not; expired codes are absent. A used code
    /// carries the family its redemption started.
    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<AuthCode>>> {
        Box::pin(async move {
            let item = self
                .get_item(key(tenant, sk::code(code_hash)), true)
                .await?;
            let Some(item) = item else { return Ok(None) };
            let used = item.contains_key("used_at");
            // A used code stays readable after expiry, so a replay can still
            // revoke what its redemption issued.
            if !used && live(Some(&item), now).is_none() {
                return Ok(None);
            }
            AuthCode::try_from(&item).map(Some)
        })
    }

    /// Redeems a code and writes what it yields in ONE transaction: the code
    /// marked used (only if it is unused and unexpired) with the family id,
    /// and the family with its first refresh token, if any: two items. Either
    /// all of it happens or nothing does, so a failure consumes nothing.
    /// `Ok(Err(()))`: the code was used or expired meanwhile.
    fn redeem<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        family_id: &'a str,
        family: Option<&'a Family>,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Result<(), ()>>> {
        Box::pin(async move {
            let consume = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(tenant, sk::code(code_hash))))
                .update_expression("SET used_at = :now, family_id = :fam, #ttl = :keep")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(used_at) AND expires_at > :now",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":fam", s(family_id))
                .expression_attribute_values(":keep", n(now.plus(USED_CODE_RETENTION)))
                .build(),
        )?;
            let mut items = vec![TransactWriteItem::builder().update(consume).build()];
            if let Some(f) = family {
                items.push(
                    TransactWriteItem::builder()
                        .update(self.family_write(f)?)
                        .build(),
                );
            }
            for attempt in 1..=5u64 {
                let outcome = match self.transact_idempotent(items.clone()).await {
                    Ok(o) => o,
                    Err(e) => {
                        // The outcome is unknown (no answer, a reset, a timeout): the
                        // transaction may have committed. Look, so that a committed
                        // redemption is answered with its tokens, not a 503 that
                        // leaves the client with a spent code.
                        return match self.get_item(key(tenant, sk::code(code_hash)), true).await {
                            Ok(Some(item))
                                if Get(&item).opt_s("family_id").as_deref() == Some(family_id) =>
                            {
                                Ok(Ok(()))
                            }
                            _ => Err(e),
                        };
                    }
                };
                match outcome {
                    Ok(()) => return Ok(Ok(())),
                    Err(r) if r.first().is_some_and(|x| x == "ConditionalCheckFailed") => {
                        // Our own earlier attempt may be what used it.
                        let mine = self
                            .get_item(key(tenant, sk::code(code_hash)), true)
                            .await?
                            .is_some_and(|i| {
                                Get(&i).opt_s("family_id").as_deref() == Some(family_id)
                            });
                        return Ok(if mine { Ok(()) } else { Err(()) });
                    }
                    Err(r) if attempt < 5 && r.iter().any(|x| x == "TransactionConflict") => {
                        tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                    }
                    Err(r) => {
                        return Err(StoreError::Backend(format!("transaction cancelled: {r:?}")));
                    }
                }
            }
            Err(StoreError::Backend("transaction kept conflicting".into()))
        })
    }

    fn burn<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let never_issued = crate::crypto::random_token(16);
            self.consume_code(tenant, code_hash, &never_issued, now)
                .await
                .map(|_| ())
        })
    }
}
