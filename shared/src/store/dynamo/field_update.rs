//! The CLI's `update`s: one UpdateItem that SETs or REMOVEs only the fields
//! the command names, on an item that exists, never a read-modify-write of
//! the whole record (SPEC: Provisioning CLI).

use super::*;
use crate::store::{ClientChanges, MapChange, TenantChanges, Updated, UserChanges};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

/// An update expression built a field at a time; every attribute name and
/// value goes through a placeholder (`name` is a reserved word).
#[derive(Default)]
pub(super) struct Fields {
    sets: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Fields {
    /// A placeholder for an attribute name or a path (`attrs.tier`), one
    /// per segment.
    fn name(&mut self, path: &[&str]) -> String {
        path.iter()
            .map(|seg| {
                let p = format!("#a{}", self.names.len());
                self.names.insert(p.clone(), (*seg).to_owned());
                p
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), v);
        p
    }

    pub(super) fn set(&mut self, path: &[&str], v: AttributeValue) {
        let n = self.name(path);
        let v = self.value(v);
        self.sets.push(format!("{n} = {v}"));
    }

    fn remove(&mut self, path: &[&str]) {
        let n = self.name(path);
        self.removes.push(n);
    }

    /// `Some` sets the attribute, `None` removes it.
    pub(super) fn set_or_remove(&mut self, attr: &str, v: Option<AttributeValue>) {
        match v {
            Some(v) => self.set(&[attr], v),
            None => self.remove(&[attr]),
        }
    }

    /// A map attribute written whole, if it is still what was read.
    fn map(&mut self, attr: &str, c: &MapChange) {
        if let Some(expected) = &c.expected {
            let a = self.name(&[attr]);
            let cond = if expected.is_empty() {
                let zero = self.value(n(0));
                format!("(attribute_not_exists({a}) OR size({a}) = {zero})")
            } else {
                let v = self.value(string_map(expected));
                format!("{a} = {v}")
            };
            self.conditions.push(cond);
        }
        if c.new.is_empty() {
            self.remove(&[attr]);
        } else {
            self.set(&[attr], string_map(&c.new));
        }
    }

    fn is_empty(&self) -> bool {
        self.sets.is_empty() && self.removes.is_empty()
    }

    fn expression(&self) -> String {
        let mut e = String::new();
        if !self.sets.is_empty() {
            e.push_str(&format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            if !e.is_empty() {
                e.push(' ');
            }
            e.push_str(&format!("REMOVE {}", self.removes.join(", ")));
        }
        e
    }
}

fn string_map(m: &BTreeMap<String, String>) -> AttributeValue {
    AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect())
}

impl Db {
    /// One UpdateItem of the item at `k`, if it exists and meets the
    /// fields' conditions: the item as it now is, or `None` when a condition
    /// failed (no such item, or a value changed meanwhile). With nothing to
    /// change, a strongly consistent read.
    pub(super) async fn update_fields(
        &self,
        k: Item,
        f: Fields,
    ) -> Result<Option<Item>, StoreError> {
        if f.is_empty() {
            return self.get_item(k, true).await;
        }
        let mut condition = "attribute_exists(pk)".to_owned();
        for c in &f.conditions {
            condition.push_str(&format!(" AND {c}"));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .update_expression(f.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(f.names))
            // A REMOVE-only update has no values, and DynamoDB refuses an
            // empty map.
            .set_expression_attribute_values((!f.values.is_empty()).then_some(f.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.attributes),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
                _ => Err(backend(e)),
            },
        }
    }

    /// `client update`: the named fields of an existing client.
    pub async fn update_client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
        c: &ClientChanges,
    ) -> Result<Option<Client>, StoreError> {
        let mut f = Fields::default();
        if let Some(v) = &c.name {
            f.set(&["name"], s(v.clone()));
        }
        if let Some(v) = &c.redirect_uris {
            f.set(&["redirect_uris"], list(v));
        }
        if let Some(v) = &c.scopes {
            f.set(&["scopes"], list(v));
        }
        if let Some(v) = &c.web_origins {
            f.set(&["web_origins"], list(v));
        }
        if let Some(v) = c.introspect {
            f.set(&["introspect"], b(v));
        }
        self.update_fields(key(tenant, sk::client(id)), f)
            .await?
            .as_ref()
            .map(Client::try_from)
            .transpose()
    }

    /// The tenant as `tenant update` edits it: a strongly consistent read,
    /// so a retry after [`Updated::ChangedMeanwhile`] sees the change.
    pub async fn get_tenant_for_update(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get_item(key(id, sk::TENANT.into()), true)
            .await?
            .as_ref()
            .map(Tenant::try_from)
            .transpose()
    }

    /// `tenant update`: the named settings of an existing tenant (never its
    /// keys). A new access-token lifetime or sliding maximum is written only
    /// if the other still fits it (`access_token_ttl <= sliding_max`), and
    /// the scope descriptions only if they are still what was read.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        t: &TenantChanges,
    ) -> Result<Updated<Tenant>, StoreError> {
        let mut f = Fields::default();
        if let Some(v) = &t.name {
            f.set(&["name"], s(v.clone()));
        }
        if let Some(a) = t.access_token_ttl {
            f.set(&["access_token_ttl"], n(a));
            if t.sliding_max.is_none() {
                let m = f.name(&["sliding_max"]);
                let a = f.value(n(a));
                f.conditions
                    .push(format!("(attribute_not_exists({m}) OR {m} >= {a})"));
            }
        }
        if let Some(v) = t.refresh_token_ttl {
            f.set(&["refresh_token_ttl"], n(v));
        }
        if let Some(v) = &t.audiences {
            f.set(&["audiences"], list(v));
        }
        if let Some(m) = t.sliding_max {
            f.set_or_remove("sliding_max", m.map(n));
            if let (Some(m), None) = (m, t.access_token_ttl) {
                let a = f.name(&["access_token_ttl"]);
                let m = f.value(n(m));
                f.conditions.push(format!("{a} <= {m}"));
            }
        }
        if let Some(v) = t.key_rotation_days {
            f.set(&["key_rotation_days"], n(v));
        }
        if let Some(d) = t.keys_due {
            // Only the due time: a tenant being deleted stays out of the index.
            f.set(&[DUE], n(d));
        }
        if let Some(v) = &t.display_name {
            f.set_or_remove("display_name", v.clone().map(s));
        }
        if let Some(v) = &t.logo {
            f.set_or_remove(
                "logo_png",
                v.as_ref()
                    .map(|l| AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(l.bytes()))),
            );
        }
        if let Some(v) = &t.primary_color {
            f.set_or_remove("primary_color", v.map(|c| s(c.css())));
        }
        if let Some(m) = &t.scope_descriptions {
            f.map("scope_descriptions", m);
        }
        let k = key(id, sk::TENANT.into());
        match self.update_fields(k.clone(), f).await? {
            Some(i) => Ok(Updated::Done(Tenant::try_from(&i)?)),
            None => match self.get_item(k, true).await? {
                None => Ok(Updated::NoSuchRecord),
                Some(_) => Ok(Updated::ChangedMeanwhile),
            },
        }
    }

    /// `user update`: the named profile fields of an existing user; each
    /// attribute named is set or removed on its own, the others are kept.
    pub async fn update_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        u: &UserChanges,
    ) -> Result<Option<User>, StoreError> {
        let mut f = Fields::default();
        if let Some(v) = &u.email {
            f.set_or_remove("email", v.clone().map(s));
        }
        if let Some(v) = &u.name {
            f.set_or_remove("name", v.clone().map(s));
        }
        // Every user item has the `attrs` map (`From<&User>`), so a key can
        // be set on its own.
        for (k, v) in &u.attrs {
            match v {
                Some(v) => f.set(&["attrs", k], s(v.clone())),
                None => f.remove(&["attrs", k]),
            }
        }
        if let Some(v) = u.require_password_change {
            f.set(&["require_password_change"], b(v));
        }
        self.update_fields(key(tenant, sk::user(id)), f)
            .await?
            .as_ref()
            .map(User::try_from)
            .transpose()
    }
}
