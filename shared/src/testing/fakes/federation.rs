//! Fakes for token exchange: trusted issuers and links in [`FakeStore`] (the
//! adapter's semantics: `store/dynamo/federation.rs`), and [`FakeFetcher`], a
//! map of URLs to JSON documents standing in for the issuers' web servers.

use super::{FakeStore, k, lock};
use crate::domain::records::{TrustedIssuer, User, normalize_username};
use crate::ids::{TenantId, UserId};
use crate::ports::FetchError;
use crate::ports::StoreError;
use crate::ports::{BoxFuture, FederationStore, JsonFetcher, StoreResult};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

impl FakeStore {
    /// Adds or replaces a trusted issuer, as `Db::put_trusted_issuer`.
    pub fn put_trusted_issuer(&self, t: &TrustedIssuer) {
        self.tables()
            .issuers
            .insert(k(&t.tenant, &t.issuer), t.clone());
    }

    /// Links a subject to an existing user, as `Db::create_link`.
    pub fn create_link(
        &self,
        tenant: &TenantId,
        issuer: &str,
        subject: &str,
        user: &UserId,
    ) -> StoreResult<()> {
        let mut tables = self.tables();
        let key = (tenant.clone(), issuer.to_owned(), subject.to_owned());
        if tables.links.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        if !tables.users.contains_key(&(tenant.clone(), user.clone())) {
            return Err(StoreError::Malformed("no such user".into()));
        }
        tables.links.insert(key, user.clone());
        Ok(())
    }

    /// How many users the tenant has (for assertions).
    pub fn user_count(&self, tenant: &TenantId) -> usize {
        self.tables()
            .users
            .keys()
            .filter(|(t, _)| t == tenant)
            .count()
    }
}

impl FederationStore for FakeStore {
    fn trusted_issuer<'a>(
        &'a self,
        tenant: &'a TenantId,
        issuer: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<TrustedIssuer>>> {
        Box::pin(async move {
            self.round_trip("federation.issuer").await?;
            Ok(self.tables().issuers.get(&k(tenant, issuer)).cloned())
        })
    }

    fn linked_user<'a>(
        &'a self,
        tenant: &'a TenantId,
        issuer: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<UserId>>> {
        Box::pin(async move {
            self.round_trip("federation.link").await?;
            Ok(self
                .tables()
                .links
                .get(&(tenant.clone(), issuer.to_owned(), subject.to_owned()))
                .cloned())
        })
    }

    fn create_linked_user<'a>(
        &'a self,
        user: &'a User,
        issuer: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("federation.create_linked_user").await?;
            let mut tables = self.tables();
            let link = (user.tenant.clone(), issuer.to_owned(), subject.to_owned());
            let pointer = k(&user.tenant, &normalize_username(&user.username));
            let id = (user.tenant.clone(), user.user_id.clone());
            if tables.links.contains_key(&link)
                || tables.usernames.contains_key(&pointer)
                || tables.users.contains_key(&id)
            {
                return Err(StoreError::AlreadyExists);
            }
            tables.links.insert(link, user.user_id.clone());
            tables.usernames.insert(pointer, user.user_id.clone());
            tables.users.insert(id, user.clone());
            Ok(())
        })
    }
}

/// URLs → JSON documents, with a request log and an outage switch.
#[derive(Default)]
pub struct FakeFetcher {
    docs: Mutex<HashMap<String, Value>>,
    requests: Mutex<Vec<String>>,
    down: AtomicBool,
}

impl FakeFetcher {
    pub fn new() -> FakeFetcher {
        FakeFetcher::default()
    }

    /// Serves `doc` at `url` (replacing what was there).
    pub fn serve(&self, url: impl Into<String>, doc: Value) {
        lock(&self.docs).insert(url.into(), doc);
    }

    /// Every fetch fails while on (an unreachable issuer).
    pub fn set_down(&self, on: bool) {
        self.down.store(on, Ordering::SeqCst);
    }

    /// The URLs fetched so far, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.requests).clone()
    }
}

impl JsonFetcher for FakeFetcher {
    fn get_json<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Value, FetchError>> {
        Box::pin(async move {
            lock(&self.requests).push(url.to_owned());
            if self.down.load(Ordering::SeqCst) {
                return Err(FetchError("connection refused or unreachable".into()));
            }
            lock(&self.docs)
                .get(url)
                .cloned()
                .ok_or_else(|| FetchError("answered HTTP 404".into()))
        })
    }
}
