//! Trusted issuers (in the tenant's partition) and the links from an issuer's
//! subjects to users (hot items). A user item lists its links (`links`, a
//! string set of link keys), so deleting the user deletes them too.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};
use aws_sdk_dynamodb::types::Delete;

impl TryFrom<&Item> for TrustedIssuer {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(TrustedIssuer {
            tenant: g.tenant()?,
            issuer: g.s("issuer")?,
            audiences: g.list("audiences"),
            jwks_uri: g.opt_s("jwks_uri"),
            create_users: g.bool_or("create_users", false),
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&TrustedIssuer> for Item {
    fn from(t: &TrustedIssuer) -> Item {
        let mut i = key(&t.tenant, sk::issuer(&t.issuer));
        i.insert("issuer".into(), s(t.issuer.clone()));
        i.insert("audiences".into(), list(&t.audiences));
        if let Some(u) = &t.jwks_uri {
            i.insert("jwks_uri".into(), s(u.clone()));
        }
        i.insert("create_users".into(), b(t.create_users));
        i.insert("created_at".into(), n(t.created_at));
        i
    }
}

fn link_item(l: &ExternalLink) -> Item {
    let mut i = key(&l.tenant, sk::link(&l.issuer, &l.subject));
    i.insert("issuer".into(), s(l.issuer.clone()));
    i.insert("subject".into(), s(l.subject.clone()));
    i.insert("user_id".into(), s(l.user_id.as_str()));
    i
}

impl Db {
    /// A transaction's delete, optionally conditional (`expr`, its one value).
    pub(super) fn delete_op(
        &self,
        k: Item,
        condition: Option<(&str, &str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut d = Delete::builder().table_name(&self.table).set_key(Some(k));
        if let Some((expr, name, value)) = condition {
            d = d
                .condition_expression(expr)
                .expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder()
            .delete(build(d.build())?)
            .build())
    }

    fn links_op(
        &self,
        u: &TenantId,
        user: &UserId,
        action: &str,
        link_sk: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let up = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(u, sk::user(user))))
                .update_expression(format!("{action} links :l"))
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":l", AttributeValue::Ss(vec![link_sk.to_owned()]))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(up).build())
    }

    // ---- trusted issuers (the CLI) ------------------------------------------

    /// Adds or replaces a trusted issuer.
    pub async fn put_trusted_issuer(&self, t: &TrustedIssuer) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(t.into()))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Every trusted issuer of the tenant (a tenant has a handful).
    pub async fn list_trusted_issuers(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<TrustedIssuer>, StoreError> {
        self.tenant_level(tenant, sk::issuer_prefix()).await
    }

    /// Removes a trusted issuer; `false` if there was none. Its links stay
    /// (they are inert without the issuer, and come back to life if the
    /// issuer is added again).
    pub async fn remove_trusted_issuer(
        &self,
        tenant: &TenantId,
        issuer: &str,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::issuer(issuer))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.attributes.is_some())
    }

    // ---- links --------------------------------------------------------------

    /// Links an issuer's subject to an existing user: the link is created
    /// only if absent and the user must exist (one transaction).
    /// `AlreadyExists`: the subject is linked already; `Malformed`: no such user.
    pub async fn create_link(&self, l: &ExternalLink) -> Result<(), StoreError> {
        let link_sk = sk::link(&l.issuer, &l.subject);
        let items = vec![
            self.put_op(link_item(l), Some("attribute_not_exists(pk)"))?,
            self.links_op(&l.tenant, &l.user_id, "ADD", &link_sk)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(r) if r.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                Err(StoreError::AlreadyExists)
            }
            Err(r) if r.get(1).is_some_and(|c| c == "ConditionalCheckFailed") => {
                Err(StoreError::Malformed("no such user".into()))
            }
            Err(r) => Err(StoreError::Backend(format!("transaction cancelled: {r:?}"))),
        }
    }

    /// Removes the link if it points at `user`; `false` if there was none.
    pub async fn remove_link(
        &self,
        tenant: &TenantId,
        user: &UserId,
        issuer: &str,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let link_sk = sk::link(issuer, subject);
        let items = vec![
            self.delete_op(
                key(tenant, link_sk.clone()),
                Some(("user_id = :u", ":u", s(user.as_str()))),
            )?,
            self.links_op(tenant, user, "DELETE", &link_sk)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(true),
            Err(r) if r.iter().any(|c| c == "ConditionalCheckFailed") => Ok(false),
            Err(r) => Err(StoreError::Backend(format!("transaction cancelled: {r:?}"))),
        }
    }

    /// The link keys a user item lists (for deleting the user).
    pub(super) async fn user_link_keys(&self, u: &User) -> Result<Vec<String>, StoreError> {
        Ok(self
            .get_item(key(&u.tenant, sk::user(&u.user_id)), true)
            .await?
            .and_then(|i| match i.get("links") {
                Some(AttributeValue::Ss(v)) => Some(v.clone()),
                _ => None,
            })
            .unwrap_or_default())
    }
}

impl ports::FederationStore for Db {
    fn trusted_issuer<'a>(
        &'a self,
        tenant: &'a TenantId,
        issuer: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<TrustedIssuer>>> {
        Box::pin(async move {
            self.get_item(key(tenant, sk::issuer(issuer)), true)
                .await?
                .as_ref()
                .map(TrustedIssuer::try_from)
                .transpose()
        })
    }

    fn linked_user<'a>(
        &'a self,
        tenant: &'a TenantId,
        issuer: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<UserId>>> {
        Box::pin(async move {
            self.get_item(key(tenant, sk::link(issuer, subject)), true)
                .await?
                .as_ref()
                .map(|i| Get(i).user_id("user_id"))
                .transpose()
        })
    }

    /// The user, its username pointer and its link, each only if absent.
    fn create_linked_user<'a>(
        &'a self,
        u: &'a User,
        issuer: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let l = ExternalLink {
                tenant: u.tenant.clone(),
                issuer: issuer.to_owned(),
                subject: subject.to_owned(),
                user_id: u.user_id.clone(),
            };
            let mut user_item: Item = u.into();
            user_item.insert(
                "links".into(),
                AttributeValue::Ss(vec![sk::link(issuer, subject)]),
            );
            let mut pointer = key(&u.tenant, sk::username(&normalize_username(&u.username)));
            pointer.insert("user_id".into(), s(u.user_id.as_str()));
            let items = vec![
                self.put_op(link_item(&l), Some("attribute_not_exists(pk)"))?,
                self.put_op(pointer, Some("attribute_not_exists(pk)"))?,
                self.put_op(user_item, Some("attribute_not_exists(pk)"))?,
            ];
            match self.transact_idempotent(items).await? {
                Ok(()) => Ok(()),
                Err(r) if r.iter().any(|c| c == "ConditionalCheckFailed") => {
                    Err(StoreError::AlreadyExists)
                }
                Err(r) if r.iter().any(|c| c == "TransactionConflict") => {
                    // A concurrent first exchange is writing the same link.
                    Err(StoreError::AlreadyExists)
                }
                Err(r) => Err(StoreError::Backend(format!("transaction cancelled: {r:?}"))),
            }
        })
    }
}
