//! Refresh tokens and their families: issue, rotate in one transaction, revoke.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl Db {
    // ---- refresh tokens ----------------------------------------------------

    /// Writes a new family with its first refresh token, atomically. A family
    /// revoked before it was written (a code replayed while its first redemption
    /// was still issuing) stays revoked: `revoked` is only set if absent.
    pub async fn issue_refresh(&self, f: &Family, rt: &RefreshToken) -> Result<(), StoreError> {
        self.start_session(f, Some(rt)).await
    }

    /// A family, with its first refresh token if there is one, atomically.
    pub async fn start_session(
        &self,
        f: &Family,
        rt: Option<&RefreshToken>,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.family_op(f)?];
        if let Some(rt) = rt {
            items.push(self.put_op(rt.into(), Some("attribute_not_exists(pk)"))?);
        }
        // A concurrent revocation of the same family is a transaction
        // conflict, not a failure: try again (the write is idempotent).
        for attempt in 1..=5u64 {
            match self.transact_idempotent(items.clone()).await? {
                Ok(()) => return Ok(()),
                Err(r) if r.iter().any(|x| x == "ConditionalCheckFailed") => {
                    return Err(StoreError::AlreadyExists);
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
    }

    /// A refresh token by hash; expired tokens are absent.
    pub async fn get_refresh(
        &self,
        tenant: &TenantId,
        token_hash: &str,
        now: Now,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let item = self.get(key(tenant, sk::refresh(token_hash)), true).await?;
        live(item.as_ref(), now)
            .map(RefreshToken::try_from)
            .transpose()
    }

    /// A family by id; expired families are absent.
    pub async fn get_family(
        &self,
        tenant: &TenantId,
        family_id: &str,
        now: Now,
    ) -> Result<Option<Family>, StoreError> {
        let item = self.get(key(tenant, sk::family(family_id)), true).await?;
        match live(item.as_ref(), now) {
            // A revocation tombstone (no client, no user yet) is no family.
            Some(i) if Get(i).opt_s("client_id").is_none() => Ok(None),
            other => other.map(Family::try_from).transpose(),
        }
    }

    /// Rotate: in one transaction the old token becomes `Rotated` (only if it is
    /// still active and unexpired), the successor is written, the family must not
    /// be revoked and the user's password version must still match.
    pub async fn rotate_refresh(
        &self,
        old: &RefreshToken,
        successor: &RefreshToken,
        salt: &str,
        retry_scope: &str,
        now: Now,
    ) -> Result<Result<(), RotateFailure>, StoreError> {
        let t = &old.tenant;
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(t, sk::refresh(&old.token_hash))))
                .update_expression(
                    "SET #st = :rotated, rotated_at = :now, successor_salt = :salt, successor_hash = :succ, retry_scope = :rs",
                )
                .expression_attribute_values(":rs", s(retry_scope))
                .condition_expression("#st = :active AND expires_at > :now")
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":rotated", s("rotated"))
                .expression_attribute_values(":active", s("active"))
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":salt", s(salt))
                .expression_attribute_values(":succ", s(successor.token_hash.clone()))
                .build(),
        )?;
        // Touching the family keeps it alive as long as its newest token.
        let family_touch = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(t, sk::family(&old.family_id))))
                .update_expression("SET expires_at = :exp, #ttl = :exp")
                .condition_expression("attribute_exists(pk) AND revoked = :f")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":f", b(false))
                .expression_attribute_values(":exp", n(successor.expires_at))
                .build(),
        )?;
        let user_check = build(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(t, sk::user(&old.user_id))))
                .condition_expression("attribute_exists(pk) AND pwd_version = :v")
                .expression_attribute_values(":v", n(old.pwd_version))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put_op(successor.into(), Some("attribute_not_exists(pk)"))?,
            TransactWriteItem::builder().update(family_touch).build(),
            TransactWriteItem::builder()
                .condition_check(user_check)
                .build(),
        ];
        let outcome = match self.transact_idempotent(items).await {
            Ok(o) => o,
            Err(e) => {
                // Unknown outcome: if the rotation committed, say so, so the
                // client gets the successor it now depends on.
                let committed = self
                    .get(key(t, sk::refresh(&old.token_hash)), true)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|i| {
                        Get(&i).opt_s("successor_hash").as_deref()
                            == Some(successor.token_hash.as_str())
                    });
                return if committed { Ok(Ok(())) } else { Err(e) };
            }
        };
        Ok(match outcome {
            Ok(()) => Ok(()),
            Err(reasons) => {
                let failed = |i: usize| {
                    reasons
                        .get(i)
                        .is_some_and(|r| r == "ConditionalCheckFailed")
                };
                if failed(2) {
                    Err(RotateFailure::FamilyRevoked)
                } else if failed(3) {
                    Err(RotateFailure::PasswordChanged)
                } else if failed(0) {
                    Err(RotateFailure::OldNotActive)
                } else {
                    Err(RotateFailure::Conflict)
                }
            }
        })
    }

    /// Revokes a family: every token of it, the newest included, stops working.
    /// Writes a tombstone if the family item does not exist (yet).
    pub async fn revoke_family(
        &self,
        tenant: &TenantId,
        family_id: &str,
        now: Now,
    ) -> Result<(), StoreError> {
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
    }
}

impl ports::RefreshStore for Db {
    fn start_family<'a>(&'a self, family: &'a Family) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.start_session(family, None))
    }
    fn issue<'a>(
        &'a self,
        family: &'a Family,
        token: &'a RefreshToken,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.issue_refresh(family, token))
    }
    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        token_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<RefreshToken>>> {
        Box::pin(self.get_refresh(tenant, token_hash, now))
    }
    fn family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Family>>> {
        Box::pin(self.get_family(tenant, family_id, now))
    }
    fn rotate<'a>(
        &'a self,
        old: &'a RefreshToken,
        successor: &'a RefreshToken,
        salt: &'a str,
        retry_scope: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Result<(), RotateFailure>>> {
        Box::pin(self.rotate_refresh(old, successor, salt, retry_scope, now))
    }
    fn revoke_family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Db::revoke_family(self, tenant, family_id, now))
    }
}
