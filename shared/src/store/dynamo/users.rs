//! Users and the username pointers.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl Db {
    // ---- users -------------------------------------------------------------

    /// Creates the user and its username pointer in one transaction; the
    /// username is unique per tenant (case-insensitive).
    pub async fn create_user(&self, u: &User) -> Result<(), StoreError> {
        let mut pointer = key(&u.tenant, sk::username(&normalize_username(&u.username)));
        pointer.insert("user_id".into(), s(u.user_id.as_str()));
        let items = vec![
            self.put_op(pointer, Some("attribute_not_exists(pk)"))?,
            self.put_op(u.into(), Some("attribute_not_exists(pk)"))?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(reasons) if reasons.iter().any(|r| r == "ConditionalCheckFailed") => {
                Err(StoreError::AlreadyExists)
            }
            Err(reasons) => Err(StoreError::Backend(format!(
                "transaction cancelled: {reasons:?}"
            ))),
        }
    }
}

impl ports::UserStore for Db {
    fn user<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a UserId,
    ) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(async move {
            self.get_item(key(tenant, sk::user(id)), true)
                .await?
                .as_ref()
                .map(User::try_from)
                .transpose()
        })
    }

    /// The user with this username (case-insensitive). Always two reads, the
    /// pointer and then a user item (a key no user has when the name is
    /// unknown), so known and unknown usernames cost the same.
    fn user_by_username<'a>(
        &'a self,
        tenant: &'a TenantId,
        username: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(async move {
            let normalized = normalize_username(username);
            let pointer = if normalized.is_empty() {
                None
            } else {
                self.get_item(key(tenant, sk::username(&normalized)), true)
                    .await?
            };
            let id = pointer
                .as_ref()
                .map(|p| Get(p).user_id("user_id"))
                .transpose()?;
            let user_sk = id.as_ref().map_or_else(|| sk::NO_USER.to_owned(), sk::user);
            self.get_item(key(tenant, user_sk), true)
                .await?
                .filter(|_| id.is_some())
                .as_ref()
                .map(User::try_from)
                .transpose()
        })
    }

    /// Sets a new password hash if the user is still at `expected_version`;
    /// clears the change-required flag and bumps the version (which kills
    /// every refresh-token family born before). `false` if the version moved.
    fn change_password<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a UserId,
        expected_version: u64,
        new_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            match self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(tenant, sk::user(id))))
                .update_expression(
                    "SET password_hash = :h, require_password_change = :f, pwd_version = :nv",
                )
                .condition_expression("attribute_exists(pk) AND pwd_version = :v")
                .expression_attribute_values(":h", s(new_hash))
                .expression_attribute_values(":f", b(false))
                .expression_attribute_values(":v", n(expected_version))
                .expression_attribute_values(":nv", n(expected_version.saturating_add(1)))
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => match e.as_service_error() {
                    Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                    _ => Err(backend(e)),
                },
            }
        })
    }
}
