//! In-memory fakes of every port, for fast tests of every grant and endpoint
//! (`crate::testing::endpoints`) and for the contract suite (`crate::testing::contract`), which
//! runs the same checks against these fakes and against DynamoDB Local, so the
//! fakes cannot drift from the adapter.
//!
//! [`FakeStore`] implements all the storage ports over one mutex-guarded set
//! of maps, with the DynamoDB adapter's semantics (`store/dynamo/*.rs` is the
//! reference): create-if-absent puts, expiry checked on every read (nothing is
//! ever deleted, as TTL deletion lags), the code redemption as a single
//! transaction and the refresh rotation as one conditional write, each with the
//! adapter's conditions, tombstones left by a family revocation, the throttle's read and
//! per-slot compare-and-swap, case-insensitive usernames. Every operation
//! first yields once (a round trip), so concurrent callers interleave as they
//! do against the real table, even on a single-threaded runtime; a
//! transaction then runs under the lock, atomically.
//!
//! [`FakeSecrets`] is a [`SecretSource`] of named secrets, [`ManualClock`] a
//! [`Clock`] that tests set and advance, [`ports`] wires the three into
//! [`Ports`] for `AppState::with_ports`.

use crate::clock::Now;
use crate::domain::records::{
    AuthCode, Client, DEFAULT_REFRESH_TOKEN_TTL, Family, LastRotation, RefreshChain, Reservation,
    Tenant, User, normalize_username,
};
use crate::domain::throttling::ThrottleSlots;
use crate::domain::throttling::{Budget, Decision, Held, Slot, Source};
use crate::ids::{ClientId, TenantId, UserId};
use crate::ports::SecretError;
use crate::ports::StoreError;
use crate::ports::{
    AccessTokenRecord, AccessTokenState, AccessTokenStore, BoxFuture, Clock, CodeStore, Directory,
    LoginTxStore, RefreshStore, SecretSource, StoreResult, ThrottleStore, UserStore,
};
use crate::state::Ports;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

mod connections;
mod federation;
mod providers;
mod upstream;
pub use federation::FakeFetcher;
pub use upstream::{FakeUpstream, Fault, Posted};

/// Locks, taking over a mutex poisoned by a panicking test thread: every
/// update below is a single assignment or insert, so the data stays whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Pending once, then ready: lets other futures run, like a network round trip.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

type Key = (TenantId, String);

fn k(t: &TenantId, s: &str) -> Key {
    (t.clone(), s.to_owned())
}

/// A code item: the record as put (never with a family), and what a
/// redemption or burn wrote.
#[derive(Clone)]
struct StoredCode {
    code: AuthCode,
    used_at: Option<u64>,
}

impl StoredCode {
    fn redeemable(&self, now: Now) -> bool {
        self.used_at.is_none() && self.code.expires_at > now.secs()
    }

    fn mark_used(&mut self, family_id: &str, now: Now) {
        self.used_at = Some(now.secs());
        self.code.family_id = Some(family_id.to_owned());
    }
}

/// A family item, attribute by attribute: a revocation of a family that does
/// not exist yet leaves a tombstone (`revoked`, `revoked_at`, `expires_at`).
#[derive(Clone, Default)]
struct StoredFamily {
    client_id: Option<ClientId>,
    user_id: Option<UserId>,
    pwd_version: Option<u64>,
    revoked: Option<bool>,
    revoked_at: Option<u64>,
    created_at: Option<u64>,
    expires_at: Option<u64>,
    auth_time: Option<u64>,
    /// The refresh-token chain's attributes (`rt_*`, `rotated_at`, `retry_scope`).
    chain: Option<RefreshChain>,
}

impl StoredFamily {
    fn live(&self, now: Now) -> bool {
        self.expires_at.is_none_or(|e| e > now.secs())
    }

    /// As the adapter reads the item: a missing required attribute is
    /// `Malformed` (so a tombstone alone does not read as a family).
    fn to_family(&self, tenant: &TenantId, family_id: &str) -> StoreResult<Family> {
        let missing = |a: &str| StoreError::Malformed(format!("missing {a}"));
        Ok(Family {
            tenant: tenant.clone(),
            family_id: family_id.to_owned(),
            client_id: self.client_id.clone().ok_or_else(|| missing("client_id"))?,
            user_id: self.user_id.clone().ok_or_else(|| missing("user_id"))?,
            pwd_version: self.pwd_version.unwrap_or(0),
            revoked: self.revoked.unwrap_or(false),
            created_at: self.created_at.unwrap_or(0),
            expires_at: self.expires_at.ok_or_else(|| missing("expires_at"))?,
            auth_time: self.auth_time,
            refresh: self.chain.clone(),
        })
    }

    /// The adapter's family write: created, or completed over a tombstone, in
    /// which case it stays revoked (`revoked` is only set if absent).
    fn write(&mut self, f: &Family) {
        self.client_id = Some(f.client_id.clone());
        self.user_id = Some(f.user_id.clone());
        self.pwd_version = Some(f.pwd_version);
        self.created_at = Some(f.created_at);
        self.revoked = Some(self.revoked.unwrap_or(f.revoked));
        self.expires_at = Some(f.expires_at);
        if f.auth_time.is_some() {
            self.auth_time = f.auth_time;
        }
        if let Some(c) = &f.refresh {
            // The adapter SETs the chain's attributes and leaves a stored
            // rotation record alone.
            let last_rotation = self.chain.as_ref().and_then(|s| s.last_rotation.clone());
            self.chain = Some(RefreshChain {
                last_rotation,
                ..c.clone()
            });
        }
    }
}

#[derive(Clone, Default)]
struct StoredThrottle {
    slots: HashMap<usize, Held>,
    version: u64,
    expires_at: u64,
}

#[derive(Default)]
struct Tables {
    tenants: HashMap<TenantId, Tenant>,
    clients: HashMap<(TenantId, ClientId), Client>,
    users: HashMap<(TenantId, UserId), User>,
    /// Username pointers, by normalized username.
    usernames: HashMap<Key, UserId>,
    codes: HashMap<Key, StoredCode>,
    families: HashMap<Key, StoredFamily>,
    throttles: HashMap<Key, StoredThrottle>,
    login_txs: HashMap<Key, u64>,
    access_tokens: HashMap<Key, StoredAccessToken>,
    /// Trusted issuers, by issuer name.
    issuers: HashMap<Key, crate::domain::records::TrustedIssuer>,
    /// Links, by (issuer, subject).
    links: HashMap<(TenantId, String, String), UserId>,
    /// Upstream connections, in the listing index's order.
    connections:
        std::collections::BTreeMap<connections::ConnKey, crate::domain::connections::Connection>,
    /// Upstream providers, by name.
    providers: HashMap<Key, crate::domain::providers::Provider>,
}

/// An access token's record, as the adapter stores it.
#[derive(Clone, Copy, Default)]
struct StoredAccessToken {
    record: AccessTokenRecord,
    retire_at: u64,
}

/// Every storage port in memory, with the DynamoDB adapter's semantics.
#[derive(Default)]
pub struct FakeStore {
    tables: Mutex<Tables>,
    /// Port operations whose name matches fail with `StoreError::Backend`
    /// (`"*"`: all of them), to test outage handling.
    failing: Mutex<Vec<String>>,
    calls: Mutex<Vec<&'static str>>,
    /// One-shot actions run at the start of the next call of an operation
    /// (a concurrent writer slipping in just before it).
    before: Mutex<Vec<(String, BeforeHook)>>,
}

type BeforeHook = Box<dyn FnOnce(&FakeStore) + Send>;

impl FakeStore {
    pub fn new() -> FakeStore {
        FakeStore::default()
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        lock(&self.tables)
    }

    /// The start of every port operation: logged, one round trip, and the
    /// injected outage if any.
    async fn round_trip(&self, op: &'static str) -> StoreResult<()> {
        lock(&self.calls).push(op);
        YieldOnce(false).await;
        let hooks: Vec<BeforeHook> = {
            let mut before = lock(&self.before);
            let (due, keep) = std::mem::take(&mut *before)
                .into_iter()
                .partition(|(o, _)| o == op);
            *before = keep;
            due.into_iter().map(|(_, h)| h).collect()
        };
        for hook in hooks {
            hook(self);
        }
        let failing = lock(&self.failing);
        if failing.iter().any(|f| f == "*" || f == op) {
            return Err(StoreError::Backend(format!("injected outage: {op}")));
        }
        Ok(())
    }

    // ---- fault injection and observation -----------------------------------

    /// Makes the named operation (e.g. `"codes.redeem"`, or `"*"` for every
    /// one) fail with `StoreError::Backend` until [`FakeStore::heal`].
    pub fn fail(&self, op: &str) {
        lock(&self.failing).push(op.to_owned());
    }

    /// Runs `action` at the start of the next call of `op` (e.g.
    /// `"refresh.rotate"`): a concurrent writer that commits just before it.
    pub fn before(&self, op: &str, action: impl FnOnce(&FakeStore) + Send + 'static) {
        lock(&self.before).push((op.to_owned(), Box::new(action)));
    }

    pub fn heal(&self) {
        lock(&self.failing).clear();
    }

    /// The port operations called so far, in order (`"users.by_username"`,
    /// `"throttle.reserve"`, …).
    pub fn calls(&self) -> Vec<&'static str> {
        lock(&self.calls).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.calls).clear();
    }

    // ---- set-up (what provisioning writes) ----------------------------------

    /// Create-if-absent, as `Db::create_tenant`.
    pub fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let mut tables = self.tables();
        if tables.tenants.contains_key(&t.id) {
            return Err(StoreError::AlreadyExists);
        }
        tables.tenants.insert(t.id.clone(), t.clone());
        Ok(())
    }

    /// Overwrites a tenant record (tests mark one as being deleted, or
    /// re-create an alias with other keys).
    pub fn put_tenant_raw(&self, t: &Tenant) {
        self.tables().tenants.insert(t.id.clone(), t.clone());
    }

    /// Create-if-absent, as `Db::create_client`.
    pub fn create_client(&self, c: &Client) -> StoreResult<()> {
        let mut tables = self.tables();
        let key = (c.tenant.clone(), c.client_id.clone());
        if tables.clients.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        tables.clients.insert(key, c.clone());
        Ok(())
    }

    /// Overwrites a client (tests disable or change one).
    pub fn put_client_raw(&self, c: &Client) {
        self.tables()
            .clients
            .insert((c.tenant.clone(), c.client_id.clone()), c.clone());
    }

    /// The user and its username pointer, both create-if-absent, atomically
    /// (usernames are unique per tenant without regard to case), as
    /// `Db::create_user`.
    pub fn create_user(&self, u: &User) -> StoreResult<()> {
        let mut tables = self.tables();
        let pointer = k(&u.tenant, &normalize_username(&u.username));
        let key = (u.tenant.clone(), u.user_id.clone());
        if tables.usernames.contains_key(&pointer) || tables.users.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        tables.usernames.insert(pointer, u.user_id.clone());
        tables.users.insert(key, u.clone());
        Ok(())
    }

    /// Overwrites a user record as given, leaving its username pointer alone,
    /// as `Db::put_user_raw`.
    pub fn put_user_raw(&self, u: &User) {
        self.tables()
            .users
            .insert((u.tenant.clone(), u.user_id.clone()), u.clone());
    }

    /// A family as stored, expired or not (for assertions).
    pub fn family_raw(&self, tenant: &TenantId, family_id: &str) -> Option<Family> {
        self.tables()
            .families
            .get(&k(tenant, family_id))
            .and_then(|f| f.to_family(tenant, family_id).ok())
    }

    /// A tenant as stored (for assertions).
    pub fn tenant_raw(&self, id: &TenantId) -> Option<Tenant> {
        self.tables().tenants.get(id).cloned()
    }

    /// A user as stored (for assertions).
    pub fn user_raw(&self, tenant: &TenantId, id: &UserId) -> Option<User> {
        self.tables()
            .users
            .get(&(tenant.clone(), id.clone()))
            .cloned()
    }
}

impl Directory for FakeStore {
    fn tenant<'a>(&'a self, id: &'a TenantId) -> BoxFuture<'a, StoreResult<Option<Tenant>>> {
        Box::pin(async move {
            self.round_trip("directory.tenant").await?;
            Ok(self.tables().tenants.get(id).cloned())
        })
    }

    fn client<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a ClientId,
    ) -> BoxFuture<'a, StoreResult<Option<Client>>> {
        Box::pin(async move {
            self.round_trip("directory.client").await?;
            Ok(self
                .tables()
                .clients
                .get(&(tenant.clone(), id.clone()))
                .cloned())
        })
    }

    fn web_origins<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<String>>> {
        Box::pin(async move {
            self.round_trip("directory.web_origins").await?;
            let mut out: Vec<String> = Vec::new();
            for ((t, _), c) in &self.tables().clients {
                if t == tenant && c.enabled {
                    for o in &c.web_origins {
                        if !out.contains(o) {
                            out.push(o.clone());
                        }
                    }
                }
            }
            Ok(out)
        })
    }
}

impl UserStore for FakeStore {
    fn user<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a UserId,
    ) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(async move {
            self.round_trip("users.by_id").await?;
            Ok(self.user_raw(tenant, id))
        })
    }

    fn user_by_username<'a>(
        &'a self,
        tenant: &'a TenantId,
        username: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(async move {
            self.round_trip("users.by_username").await?;
            let normalized = normalize_username(username);
            if normalized.is_empty() {
                return Ok(None);
            }
            let tables = self.tables();
            let Some(id) = tables.usernames.get(&k(tenant, &normalized)) else {
                return Ok(None);
            };
            Ok(tables.users.get(&(tenant.clone(), id.clone())).cloned())
        })
    }

    fn change_password<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a UserId,
        expected_version: u64,
        new_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.round_trip("users.change_password").await?;
            let mut tables = self.tables();
            match tables.users.get_mut(&(tenant.clone(), id.clone())) {
                Some(u) if u.pwd_version == expected_version => {
                    u.password_hash = new_hash.to_owned();
                    u.require_password_change = false;
                    u.pwd_version = expected_version.saturating_add(1);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }
}

impl CodeStore for FakeStore {
    fn put<'a>(&'a self, code: &'a AuthCode) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("codes.put").await?;
            let mut tables = self.tables();
            let key = k(&code.tenant, &code.code_hash);
            if tables.codes.contains_key(&key) {
                return Err(StoreError::AlreadyExists);
            }
            // The item never carries a family until a redemption writes one.
            let code = AuthCode {
                family_id: None,
                ..code.clone()
            };
            tables.codes.insert(
                key,
                StoredCode {
                    code,
                    used_at: None,
                },
            );
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<AuthCode>>> {
        Box::pin(async move {
            self.round_trip("codes.get").await?;
            let tables = self.tables();
            Ok(match tables.codes.get(&k(tenant, code_hash)) {
                // A used code stays readable after expiry (a replay can still
                // revoke what it issued); an unused one expires.
                Some(c) if c.used_at.is_some() || c.code.expires_at > now.secs() => {
                    Some(c.code.clone())
                }
                _ => None,
            })
        })
    }

    fn redeem<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        family_id: &'a str,
        family: Option<&'a Family>,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Result<(), ()>>> {
        Box::pin(async move {
            self.round_trip("codes.redeem").await?;
            let mut tables = self.tables();
            let key = k(tenant, code_hash);
            let code = tables.codes.get(&key);
            if !code.is_some_and(|c| c.redeemable(now)) {
                // The code's condition failed: our own earlier attempt may be
                // what used it (the adapter's answer to a retried transaction).
                let mine = code.is_some_and(|c| c.code.family_id.as_deref() == Some(family_id));
                return Ok(if mine { Ok(()) } else { Err(()) });
            }
            if let Some(c) = tables.codes.get_mut(&key) {
                c.mark_used(family_id, now);
            }
            if let Some(f) = family {
                tables
                    .families
                    .entry(k(&f.tenant, &f.family_id))
                    .or_default()
                    .write(f);
            }
            Ok(Ok(()))
        })
    }

    fn burn<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("codes.burn").await?;
            let never_issued = crate::crypto::random_token(16);
            let mut tables = self.tables();
            if let Some(c) = tables.codes.get_mut(&k(tenant, code_hash))
                && c.redeemable(now)
            {
                c.mark_used(&never_issued, now);
            }
            Ok(())
        })
    }
}

impl RefreshStore for FakeStore {
    fn start_family<'a>(&'a self, family: &'a Family) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("refresh.start_family").await?;
            self.tables()
                .families
                .entry(k(&family.tenant, &family.family_id))
                .or_default()
                .write(family);
            Ok(())
        })
    }

    fn family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Family>>> {
        Box::pin(async move {
            self.round_trip("refresh.family").await?;
            let tables = self.tables();
            match tables.families.get(&k(tenant, family_id)) {
                Some(f) if f.live(now) && f.client_id.is_none() => Ok(None),
                Some(f) if f.live(now) => f.to_family(tenant, family_id).map(Some),
                _ => Ok(None),
            }
        })
    }

    fn rotate<'a>(
        &'a self,
        read: &'a Family,
        next: &'a RefreshChain,
        family_expires_at: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.round_trip("refresh.rotate").await?;
            let mut tables = self.tables();
            let Some(read_chain) = &read.refresh else {
                return Ok(false);
            };
            let Some(stored) = tables.families.get_mut(&k(&read.tenant, &read.family_id)) else {
                return Ok(false);
            };
            // The adapter's condition: `rt_hash = :cur AND revoked = :f AND
            // rt_expires_at > :now` (an absent attribute fails it).
            let holds = stored.revoked == Some(false)
                && stored.chain.as_ref().is_some_and(|c| {
                    c.current_hash == read_chain.current_hash && c.expires_at > now.secs()
                });
            if !holds {
                return Ok(false);
            }
            if let Some(c) = stored.chain.as_mut() {
                c.current_hash = next.current_hash.clone();
                c.generation = next.generation;
                c.salt = next.salt.clone();
                c.issued_at = now.secs();
                c.expires_at = next.expires_at;
                c.last_rotation = Some(LastRotation {
                    at: now.secs(),
                    retry_scope: next
                        .last_rotation
                        .as_ref()
                        .map(|r| r.retry_scope.clone())
                        .unwrap_or_default(),
                });
            }
            stored.expires_at = Some(family_expires_at);
            Ok(true)
        })
    }

    fn revoke_family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("refresh.revoke_family").await?;
            let mut tables = self.tables();
            let f = tables.families.entry(k(tenant, family_id)).or_default();
            f.revoked = Some(true);
            f.revoked_at = Some(now.secs());
            f.expires_at
                .get_or_insert(now.plus(DEFAULT_REFRESH_TOKEN_TTL));
            Ok(())
        })
    }
}

impl ThrottleStore for FakeStore {
    /// The adapter's algorithm: read the slots and the version, decide, then
    /// write only if the version is still the one read (compare-and-swap); on
    /// a lost race, read again.
    fn reserve<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a str,
        source: &'a Source,
        budget: Budget,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Reservation>> {
        Box::pin(async move {
            lock(&self.calls).push("throttle.reserve");
            let tkey = k(tenant, key);
            for _ in 0..budget.cas_attempts() {
                self.round_trip("throttle.read").await?;
                let (held, version): (Vec<Option<Held>>, u64) = {
                    let tables = self.tables();
                    let item = tables.throttles.get(&tkey);
                    (
                        (0..budget.all_sources)
                            .map(|i| item.and_then(|t| t.slots.get(&i).cloned()))
                            .collect(),
                        item.map_or(0, |t| t.version),
                    )
                };
                let index = match ThrottleSlots(&held).decide(source, budget, now.secs()) {
                    Decision::Take(i) => i,
                    Decision::Deny { retry_after } => {
                        return Ok(Reservation::Denied { retry_after });
                    }
                };
                self.round_trip("throttle.write").await?;
                let mut tables = self.tables();
                let item = tables.throttles.entry(tkey.clone()).or_default();
                if item.version == version {
                    let slot = Slot {
                        index,
                        at: now.secs(),
                        source: source.as_str().to_owned(),
                    };
                    item.slots.insert(
                        index,
                        Held {
                            at: slot.at,
                            source: slot.source.clone(),
                        },
                    );
                    item.version += 1;
                    item.expires_at = now.plus(budget.window);
                    return Ok(Reservation::Granted(slot));
                }
                // Another reservation landed first: look again.
            }
            // Heavy contention on one key: refusing is the safe answer.
            Ok(Reservation::Denied { retry_after: 1 })
        })
    }

    fn release<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a str,
        slot: &'a Slot,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("throttle.release").await?;
            let mut tables = self.tables();
            if let Some(item) = tables.throttles.get_mut(&k(tenant, key)) {
                let ours = item
                    .slots
                    .get(&slot.index)
                    .is_some_and(|h| h.at == slot.at && h.source == slot.source);
                if ours {
                    item.slots.remove(&slot.index);
                }
            }
            Ok(())
        })
    }
}

impl LoginTxStore for FakeStore {
    fn use_once<'a>(
        &'a self,
        tenant: &'a TenantId,
        tx_id: &'a str,
        expires_at: u64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("login_txs.use_once").await?;
            let mut tables = self.tables();
            let key = k(tenant, tx_id);
            if tables.login_txs.contains_key(&key) {
                return Err(StoreError::AlreadyExists);
            }
            tables.login_txs.insert(key, expires_at);
            Ok(())
        })
    }
}

/// Named secrets in memory (client-secret hashes, signing keys, the login key).
#[derive(Default)]
pub struct FakeSecrets {
    map: Mutex<HashMap<String, String>>,
    outage: AtomicBool,
    fetches: AtomicU64,
}

impl FakeSecrets {
    pub fn new() -> FakeSecrets {
        FakeSecrets::default()
    }

    pub fn put(&self, name: impl Into<String>, value: impl Into<String>) {
        lock(&self.map).insert(name.into(), value.into());
    }

    pub fn remove(&self, name: &str) {
        lock(&self.map).remove(name);
    }

    /// Every fetch fails with `SecretError::Backend` while set.
    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }

    /// How many times a secret was fetched (the cache in front of it works).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl SecretSource for FakeSecrets {
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            YieldOnce(false).await;
            if self.outage.load(Ordering::SeqCst) {
                return Err(SecretError::Backend("injected outage".into()));
            }
            Ok(lock(&self.map).get(name).cloned())
        })
    }
}

/// A clock tests set and advance (seconds since the epoch).
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start: u64) -> ManualClock {
        ManualClock(AtomicU64::new(start))
    }

    pub fn set(&self, secs: u64) {
        self.0.store(secs, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        Now(self.0.load(Ordering::SeqCst))
    }
}

/// The fakes wired as the state's ports.
pub fn ports(
    store: &Arc<FakeStore>,
    secrets: &Arc<FakeSecrets>,
    clock: &Arc<ManualClock>,
) -> Ports {
    Ports {
        directory: store.clone(),
        users: store.clone(),
        codes: store.clone(),
        refresh: store.clone(),
        throttle: store.clone(),
        login_txs: store.clone(),
        access_tokens: store.clone(),
        federation: store.clone(),
        connections: store.clone(),
        providers: store.clone(),
        fetcher: Arc::new(FakeFetcher::new()),
        upstream: Arc::new(FakeUpstream::new()),
        secrets: secrets.clone(),
        clock: clock.clone(),
    }
}

/// One set of fakes, shared by a test and the state it drives.
#[derive(Clone)]
pub struct Fakes {
    pub store: Arc<FakeStore>,
    pub secrets: Arc<FakeSecrets>,
    pub clock: Arc<ManualClock>,
    pub fetcher: Arc<FakeFetcher>,
    pub upstream: Arc<FakeUpstream>,
}

impl Fakes {
    /// Empty storage and secrets, the clock at `start`.
    pub fn new(start: u64) -> Fakes {
        Fakes {
            store: Arc::new(FakeStore::new()),
            secrets: Arc::new(FakeSecrets::new()),
            clock: Arc::new(ManualClock::new(start)),
            fetcher: Arc::new(FakeFetcher::new()),
            upstream: Arc::new(FakeUpstream::new()),
        }
    }

    pub fn ports(&self) -> Ports {
        Ports {
            fetcher: self.fetcher.clone(),
            upstream: self.upstream.clone(),
            ..ports(&self.store, &self.secrets, &self.clock)
        }
    }
}

impl AccessTokenStore for FakeStore {
    fn state<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        family_id: Option<&'a str>,
        user: Option<&'a UserId>,
    ) -> BoxFuture<'a, StoreResult<AccessTokenState>> {
        Box::pin(async move {
            self.round_trip("access_tokens.state").await?;
            let tables = self.tables();
            // Like the adapter's BatchGetItem: items as stored (TTL lag aside,
            // a retired record is still read), a tombstone is no family.
            let record = tables.access_tokens.get(&k(tenant, jti)).map(|a| a.record);
            let family = family_id.and_then(|f| {
                tables
                    .families
                    .get(&k(tenant, f))
                    .and_then(|sf| sf.to_family(tenant, f).ok())
            });
            let user = user.and_then(|u| tables.users.get(&(tenant.clone(), u.clone())).cloned());
            Ok(AccessTokenState {
                record,
                family,
                user,
            })
        })
    }

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
            self.round_trip("access_tokens.extend").await?;
            let mut tables = self.tables();
            let entry = tables.access_tokens.entry(k(tenant, jti)).or_default();
            let later = entry.record.deadline.is_none_or(|d| d < deadline);
            let quiet = entry
                .record
                .last_write
                .is_none_or(|w| w <= now.secs().saturating_sub(min_interval));
            if !(later && quiet) {
                return Ok(false);
            }
            entry.record.deadline = Some(deadline);
            entry.record.last_write = Some(now.secs());
            entry.retire_at = retire_at;
            Ok(true)
        })
    }

    fn revoke<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        retire_at: u64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("access_tokens.revoke").await?;
            let mut tables = self.tables();
            let entry = tables.access_tokens.entry(k(tenant, jti)).or_default();
            entry.record.revoked = true;
            if entry.retire_at == 0 {
                entry.retire_at = retire_at;
            }
            Ok(())
        })
    }
}
