//! The CLI's lifecycle operations: listings (paginated), enabling and
//! disabling, deletes, and purging a whole tenant. Rare, operator-driven.

use super::*;
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

/// One page of a listing and the cursor of the next (opaque to callers).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A listing cursor: the last key of a page, as `pk\tsk` (and the index keys).
pub(super) fn cursor_of(k: Option<&Item>) -> Option<String> {
    let k = k?;
    let text = |a: &str| match k.get(a) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    };
    Some(crate::crypto::b64url(
        [text(PK), text(SK), text(LPK), text(LSK)]
            .join("\t")
            .as_bytes(),
    ))
}

pub(super) fn start_of(cursor: Option<&str>) -> Result<Option<Item>, StoreError> {
    let Some(c) = cursor else { return Ok(None) };
    let bad = || StoreError::Malformed("not a listing cursor".into());
    let raw =
        String::from_utf8(crate::crypto::b64url_decode(c).ok_or_else(bad)?).map_err(|_| bad())?;
    let parts: Vec<&str> = raw.split('\t').collect();
    let [pk, sk, lpk, lsk] = parts.as_slice() else {
        return Err(bad());
    };
    let mut k = Item::new();
    for (name, v) in [(PK, pk), (SK, sk), (LPK, lpk), (LSK, lsk)] {
        if !v.is_empty() {
            k.insert(name.to_owned(), s(*v));
        }
    }
    Ok(Some(k))
}

impl Db {
    /// Every tenant (a filtered scan: an operator's listing).
    pub async fn list_tenants(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Tenant>, StoreError> {
        let mut items = Vec::new();
        let mut start = start_of(cursor)?;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :t")
                .expression_attribute_values(":t", s(sk::TENANT))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for i in page.items() {
                items.push(Tenant::try_from(i)?);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() || items.len() >= limit as usize {
                return Ok(Page {
                    next: cursor_of(start.as_ref()),
                    items,
                });
            }
        }
    }

    /// A tenant's clients, a page at a time.
    pub async fn list_clients(
        &self,
        tenant: &TenantId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Client>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :c)")
            .expression_attribute_values(":p", s(tenant_pk(tenant)))
            .expression_attribute_values(":c", s(sk::client_prefix()))
            .limit(limit)
            .set_exclusive_start_key(start_of(cursor)?)
            .send()
            .await
            .map_err(backend)?;
        Ok(Page {
            items: page
                .items()
                .iter()
                .map(Client::try_from)
                .collect::<Result<_, _>>()?,
            next: cursor_of(page.last_evaluated_key()),
        })
    }

    /// A tenant's users, a page at a time (the keys-only `list` index, then
    /// one consistent batch read of the users).
    pub async fn list_users(
        &self,
        tenant: &TenantId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<User>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .key_condition_expression("lpk = :l")
            .expression_attribute_values(":l", s(users_listing(tenant)))
            .limit(limit)
            .set_exclusive_start_key(start_of(cursor)?)
            .send()
            .await
            .map_err(backend)?;
        let keys: Vec<Item> = page.items().iter().filter_map(Db::base_key).collect();
        let mut users = self
            .batch_get_consistent(&keys)
            .await?
            .iter()
            .map(User::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(Page {
            items: users,
            next: cursor_of(page.last_evaluated_key()),
        })
    }

    /// Enables or disables a client; `false` if there is no such client.
    pub async fn set_client_enabled(
        &self,
        tenant: &TenantId,
        id: &ClientId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        self.set_flag(key(tenant, sk::client(id)), "enabled", enabled)
            .await
    }

    /// Enables or disables a user; `false` if there is no such user.
    pub async fn set_user_enabled(
        &self,
        tenant: &TenantId,
        id: &UserId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        self.set_flag(key(tenant, sk::user(id)), "enabled", enabled)
            .await
    }

    async fn set_flag(&self, k: Item, name: &str, value: bool) -> Result<bool, StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .update_expression("SET #f = :v")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#f", name)
            .expression_attribute_values(":v", b(value))
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

    /// Bumps the user's password version: every refresh-token family (and so
    /// every session's access tokens) of the user dies at once. With a hash,
    /// the password is set too. `false` if there is no such user.
    pub async fn bump_password_version(
        &self,
        tenant: &TenantId,
        id: &UserId,
        new_hash: Option<&str>,
        require_change: Option<bool>,
    ) -> Result<bool, StoreError> {
        let mut expr = "ADD pwd_version :one".to_owned();
        let mut sets = Vec::new();
        if new_hash.is_some() {
            sets.push("password_hash = :h");
        }
        if require_change.is_some() {
            sets.push("require_password_change = :r");
        }
        if !sets.is_empty() {
            expr = format!("SET {} {expr}", sets.join(", "));
        }
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::user(id))))
            .update_expression(expr)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1));
        if let Some(h) = new_hash {
            u = u.expression_attribute_values(":h", s(h));
        }
        if let Some(r) = require_change {
            u = u.expression_attribute_values(":r", b(r));
        }
        match u.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(backend(e)),
            },
        }
    }

    /// Clears a throttle (the CLI's `user unlock`).
    pub async fn clear_throttle(&self, tenant: &TenantId, k: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::throttle(k))))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Deletes a client record.
    pub async fn delete_client(&self, tenant: &TenantId, id: &ClientId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::client(id))))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Deletes a user, its username pointer and its links, together.
    pub async fn delete_user(&self, u: &User) -> Result<(), StoreError> {
        let del = |k: Item| self.delete_op(k, None);
        let mut items = vec![
            del(key(&u.tenant, sk::user(&u.user_id)))?,
            del(key(
                &u.tenant,
                sk::username(&normalize_username(&u.username)),
            ))?,
        ];
        // Its links to subjects of trusted issuers go with it (a transaction
        // holds up to 100 items; a user has a few links).
        for link in self.user_link_keys(u).await?.into_iter().take(98) {
            if link.starts_with("LINK#") {
                items.push(del(key(&u.tenant, link))?);
            }
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(r) => Err(StoreError::Backend(format!("transaction cancelled: {r:?}"))),
        }
    }

    /// Removes every item of a tenant — its partition and every hot item whose
    /// key carries its prefix — and nothing of any other tenant (the prefix
    /// ends with `#`, so `acme` never matches `acme2`). Returns the count.
    pub async fn purge_tenant(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let own = tenant_pk(tenant);
        let prefix = format!("{own}#");
        let mut keys: Vec<Item> = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("pk = :p OR begins_with(pk, :prefix)")
                .expression_attribute_values(":p", s(own.clone()))
                .expression_attribute_values(":prefix", s(prefix.clone()))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            keys.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        let count = keys.len();
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    Ok(WriteRequest::builder()
                        .delete_request(build(
                            DeleteRequest::builder().set_key(Some(k.clone())).build(),
                        )?)
                        .build())
                })
                .collect::<Result<_, StoreError>>()?;
            for attempt in 0..8u64 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(backend)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
                }
            }
            if !requests.is_empty() {
                return Err(StoreError::Backend("tenant purge left items behind".into()));
            }
        }
        Ok(count)
    }
}
