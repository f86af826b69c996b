//! Narrow ports: one small trait per capability the flows need. The DynamoDB
//! adapter (`store::Db`) and the Secrets Manager adapter implement them for
//! the functions; the in-memory fakes (`fakes`, behind `test-support` or in
//! unit tests) implement them for fast tests of every grant and endpoint, and
//! one contract suite (`tests/integration/contract.rs`) runs against both, so
//! the fakes cannot drift from DynamoDB's semantics.
//!
//! The traits are object-safe (boxed futures), so `AppState` holds them as
//! `Arc<dyn …>` and no handler is generic.

use crate::clock::Now;
use crate::domain::connections::{
    Connection, ConnectionKey, Failure, Leased, NewConnection, Owner, Refreshed,
};
use crate::domain::providers::Provider;
use crate::domain::records::{
    AuthCode, Client, Family, RefreshChain, Reservation, Tenant, TrustedIssuer, User,
};
use crate::domain::throttling::{Budget, Slot, Source};
use crate::ids::{ClientId, ProviderName, TenantId, UserId};
use std::future::Future;
use std::pin::Pin;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("item already exists")]
    AlreadyExists,
    #[error("stored item is malformed: {0}")]
    Malformed(String),
    #[error("storage backend: {0}")]
    Backend(String),
}

/// A Secrets Manager failure.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret already exists")]
    AlreadyExists,
    #[error("secrets backend: {0}")]
    Backend(String),
}

/// Why fetching an issuer's keys failed (for the log; the client sees a
/// generic `invalid_request`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type StoreResult<T> = Result<T, StoreError>;

/// Tenants and their clients (read by every request; cached by `AppState`).
pub trait Directory: Send + Sync {
    fn tenant<'a>(&'a self, id: &'a TenantId) -> BoxFuture<'a, StoreResult<Option<Tenant>>>;
    fn client<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a ClientId,
    ) -> BoxFuture<'a, StoreResult<Option<Client>>>;
    /// Every web origin registered for an enabled client of the tenant (the
    /// CORS preflight's answer, which cannot know the client yet).
    fn web_origins<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<String>>>;
}

/// Users: by id, by username (always the same reads, known or not), and the
/// password change that bumps the password version.
pub trait UserStore: Send + Sync {
    fn user<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a UserId,
    ) -> BoxFuture<'a, StoreResult<Option<User>>>;
    fn user_by_username<'a>(
        &'a self,
        tenant: &'a TenantId,
        username: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<User>>>;
    /// Sets a new hash if the user is still at `expected_version`, clears the
    /// change-required flag and bumps the version; `false` if it moved.
    fn change_password<'a>(
        &'a self,
        tenant: &'a TenantId,
        id: &'a UserId,
        expected_version: u64,
        new_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}

/// Authorization codes: stored once, redeemed once with what they yield.
pub trait CodeStore: Send + Sync {
    /// Create-if-absent.
    fn put<'a>(&'a self, code: &'a AuthCode) -> BoxFuture<'a, StoreResult<()>>;
    /// A code, used or not; an unused expired code is absent. A used code
    /// carries the family its redemption started.
    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<AuthCode>>>;
    /// Atomically: the code marked used (if unused and unexpired) with
    /// `family_id`, and the family (the session the access token belongs to,
    /// with its first refresh token if any) written. `Err(())` when the code
    /// was used or expired meanwhile; nothing written then.
    fn redeem<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        family_id: &'a str,
        family: Option<&'a Family>,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Result<(), ()>>>;
    /// Marks the code used without issuing anything (a wrong binding burns it).
    fn burn<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// Refresh-token families: one item each, holding the session and its
/// refresh-token chain (`RefreshChain`: only the current token's hash).
pub trait RefreshStore: Send + Sync {
    /// Writes a new family (a session, with its first refresh token if it
    /// has a chain). A family revoked before it was written (a code replayed
    /// while its first redemption was still issuing) stays revoked.
    fn start_family<'a>(&'a self, family: &'a Family) -> BoxFuture<'a, StoreResult<()>>;
    /// A family by id, read strongly consistently; expired families (and
    /// revocation tombstones) are absent.
    fn family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Family>>>;
    /// One conditional write: the chain moves to `next` only if its current
    /// token is still `read`'s current token, unexpired at `now`, and the
    /// family is not revoked. The family then lives at least until
    /// `family_expires_at`. `false` when the condition failed (someone
    /// rotated or revoked first): nothing written — or, after an unknown
    /// outcome, when the chain is found at `next` (read the family again and
    /// judge the token: it is now the previous one).
    fn rotate<'a>(
        &'a self,
        read: &'a Family,
        next: &'a RefreshChain,
        family_expires_at: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Revokes a family: every token of it, the newest included, and the
    /// access tokens naming it as `sid`. Leaves a tombstone if the family
    /// does not exist (yet).
    fn revoke_family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// What storage says about an access token, read in one call: its own record
/// (present once it was used under sliding expiry or revoked), its session
/// (family) and its user.
#[derive(Debug, Clone, Default)]
pub struct AccessTokenState {
    pub record: Option<AccessTokenRecord>,
    /// The family named by the token's `sid`, when it exists and is readable
    /// (a revocation tombstone reads as absent).
    pub family: Option<Family>,
    pub user: Option<User>,
}

/// An access token's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessTokenRecord {
    /// The sliding deadline, once a use moved it.
    pub deadline: Option<u64>,
    /// When the deadline was last written (writes happen at most once a minute).
    pub last_write: Option<u64>,
    pub revoked: bool,
}

/// Access tokens: their sliding deadline and revocation (SPEC: Introspection,
/// Revocation). Nothing is stored when a token is issued; the record appears on
/// the first use that moves the deadline, or on revocation.
pub trait AccessTokenStore: Send + Sync {
    /// The token's record, its family (`sid`) and its user, in ONE read.
    fn state<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        family_id: Option<&'a str>,
        user: Option<&'a UserId>,
    ) -> BoxFuture<'a, StoreResult<AccessTokenState>>;
    /// Moves the deadline to `deadline` if that is later than the stored one
    /// and the last write was at least `min_interval` seconds before `now`
    /// (a conditional update: concurrent uses never shorten a deadline).
    /// `retire_at` is when the record may be deleted. `true` if written.
    fn extend<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        deadline: u64,
        min_interval: u64,
        retire_at: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Marks the token revoked (kept until `retire_at`).
    fn revoke<'a>(
        &'a self,
        tenant: &'a TenantId,
        jti: &'a str,
        retire_at: u64,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// The password-guess throttle (`domain::throttling`): a reservation taken
/// before the check, given back after a correct password.
pub trait ThrottleStore: Send + Sync {
    /// Takes one slot of `key`'s budgets for a check from `source`, or says
    /// which budget is spent; at any concurrency, never more reservations in
    /// any window than the budgets allow.
    fn reserve<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a str,
        source: &'a Source,
        budget: Budget,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Reservation>>;

    /// Gives a granted slot back (a correct password). Does nothing when the
    /// slot no longer holds that reservation.
    fn release<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a str,
        slot: &'a Slot,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// Login transactions: each id can be used once.
pub trait LoginTxStore: Send + Sync {
    /// `Err(StoreError::AlreadyExists)` if it was used before.
    fn use_once<'a>(
        &'a self,
        tenant: &'a TenantId,
        tx_id: &'a str,
        expires_at: u64,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// Upstream connections (SPEC: Upstream providers; `domain::connections`):
/// one item each, every operation ONE strongly consistent read or ONE
/// conditional write, so a single-use refresh token is used once at any
/// concurrency (research §4.2: lease, re-read, one upstream call, commit
/// fenced on the generation).
pub trait ConnectionStore: Send + Sync {
    /// The connection, read strongly consistently.
    fn get<'a>(&'a self, key: &'a ConnectionKey) -> BoxFuture<'a, StoreResult<Option<Connection>>>;
    /// Creates the connection, or replaces it on a fresh grant: a new
    /// generation (above any earlier one, so nothing a holder of the old grant
    /// commits can land), status active, no lease, no failures.
    fn connect<'a>(
        &'a self,
        new: &'a NewConnection,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Connection>>;
    /// Takes the lease for a refresh: only if the connection is active or
    /// degraded, still at `read_generation`, and its lease is free or expired
    /// at `now`. Records the attempt (generation, time). `Some`: the item as
    /// it now is (the strongly consistent re-read) with the attempt it
    /// replaced; `None`: someone else holds it or refreshed it (or it is dead
    /// or gone) — read again.
    fn lease<'a>(
        &'a self,
        key: &'a ConnectionKey,
        read_generation: u64,
        owner: &'a str,
        until: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Leased>>>;
    /// Stores a refresh's outcome, fenced on `used_generation` only (not on
    /// the lease: a slow holder whose lease expired still holds the one live
    /// successor if nobody advanced the generation). The generation moves on,
    /// the lease is released, status active, failures 0; without a new
    /// refresh token the stored one is kept. `false`: the generation moved
    /// (someone else committed or reconnected) — nothing written.
    fn commit<'a>(
        &'a self,
        refreshed: &'a Refreshed,
        used_generation: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Records a failed refresh of `generation` (fenced on it). Transient:
    /// `degraded`, one failure more, the lease held until the cooldown ends —
    /// never `reconnect_required`, and never over it. Dead:
    /// `reconnect_required` with the reason, lease released. `false`: the
    /// generation moved (or a transient failure met a dead grant).
    fn record_failure<'a>(
        &'a self,
        key: &'a ConnectionKey,
        generation: u64,
        failure: &'a Failure,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Deletes the connection; what it held (to revoke at the provider).
    fn remove<'a>(
        &'a self,
        key: &'a ConnectionKey,
    ) -> BoxFuture<'a, StoreResult<Option<Connection>>>;
    /// The owner's connections, by provider name (`GET …/connections`).
    fn list_for_owner<'a>(
        &'a self,
        tenant: &'a TenantId,
        owner: &'a Owner,
    ) -> BoxFuture<'a, StoreResult<Vec<Connection>>>;
    /// A page of the tenant's connections, of one provider or all (the
    /// operator's `connection list`, `provider remove`), by owner then
    /// provider; `next` is the cursor of the following page.
    fn list_for_tenant<'a>(
        &'a self,
        tenant: &'a TenantId,
        provider: Option<&'a ProviderName>,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<ConnectionPage>>;
    /// A page of the connections due for background upkeep at `now` (their
    /// `refresh_due_at` passed, the grant alive), the longest overdue first,
    /// across tenants: the maintenance function's work list.
    fn due<'a>(
        &'a self,
        now: Now,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<ConnectionPage>>;
}

/// One page of a tenant's connections.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPage {
    pub items: Vec<Connection>,
    pub next: Option<String>,
}

/// Secrets (client-secret hashes, signing keys, the login key, the URL
/// document): read one by name; `None` when it does not exist.
pub trait SecretSource: Send + Sync {
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>>;
}

/// Trusted issuers and the links from their subjects to users (SPEC: Trusted
/// issuers; token exchange).
pub trait FederationStore: Send + Sync {
    /// The tenant's trusted issuer whose name is exactly `issuer`.
    fn trusted_issuer<'a>(
        &'a self,
        tenant: &'a TenantId,
        issuer: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<TrustedIssuer>>>;
    /// The user the issuer's subject is linked to.
    fn linked_user<'a>(
        &'a self,
        tenant: &'a TenantId,
        issuer: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<UserId>>>;
    /// Creates the user, its username pointer and the link, atomically and
    /// each only if absent: `Err(StoreError::AlreadyExists)` when the link
    /// (a concurrent first exchange) or the username exists; nothing written then.
    fn create_linked_user<'a>(
        &'a self,
        user: &'a User,
        issuer: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// The named fields of a provider that `provider update` changes (`None`:
/// left alone; an inner `None` removes an optional endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderChanges {
    pub display_name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub client_id: Option<String>,
    pub has_client_secret: Option<bool>,
    pub sign_in: Option<bool>,
    pub create_users: Option<bool>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub refresh_url: Option<Option<String>>,
    pub revocation_url: Option<Option<String>>,
}

/// Upstream providers (SPEC: Upstream providers): tenant-level records the
/// admin writes and the functions read (cached by `AppState`).
pub trait ProviderStore: Send + Sync {
    /// The tenant's provider named `name`.
    fn provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>>;
    /// Every provider of the tenant (a tenant has a handful), by name.
    fn providers<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, StoreResult<Vec<Provider>>>;
    /// Create-if-absent: `Err(StoreError::AlreadyExists)` when the name is taken.
    fn create_provider<'a>(&'a self, p: &'a Provider) -> BoxFuture<'a, StoreResult<()>>;
    /// One conditional write of the named fields of an existing provider:
    /// the provider as it now is, or `None` when there is none.
    fn update_provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        changes: &'a ProviderChanges,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>>;
    /// Removes the provider: the record as it was, or `None` if there was none.
    fn remove_provider<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Provider>>>;
}

/// An HTTP GET of a JSON document: a trusted issuer's discovery document and
/// JWKS (reqwest in the functions, a map in the fakes).
pub trait JsonFetcher: Send + Sync {
    /// Builds what the first fetch would (TLS configuration, trust store):
    /// for a function's init phase.
    fn prepare(&self) {}
    fn get_json<'a>(
        &'a self,
        url: &'a str,
    ) -> BoxFuture<'a, Result<serde_json::Value, crate::ports::FetchError>>;
}

/// Calls to upstream providers' token, revocation and password-change
/// endpoints (the token vault): one POST, bounded, timed out, never following
/// a redirect, only to addresses the stack's outbound policy allows. What the
/// answer means is the engine's call (`domain::providers::engine`).
pub trait UpstreamHttp: Send + Sync {
    /// Builds the HTTP client now (a function's init phase, at full CPU).
    fn prepare(&self) {}
    fn post<'a>(
        &'a self,
        call: &'a crate::domain::providers::engine::Call,
    ) -> BoxFuture<
        'a,
        Result<
            crate::domain::providers::engine::HttpAnswer,
            crate::domain::providers::engine::CallError,
        >,
    >;
}

/// For functions that never call a provider: every call is refused unsent.
pub struct NoUpstream;

impl UpstreamHttp for NoUpstream {
    fn post<'a>(
        &'a self,
        _call: &'a crate::domain::providers::engine::Call,
    ) -> BoxFuture<
        'a,
        Result<
            crate::domain::providers::engine::HttpAnswer,
            crate::domain::providers::engine::CallError,
        >,
    > {
        Box::pin(async {
            Err(crate::domain::providers::engine::CallError::NotSent(
                "this function does not call upstream providers".into(),
            ))
        })
    }
}

/// The time, read at the edge of a request (and when a rotation commits).
pub trait Clock: Send + Sync {
    fn now(&self) -> Now;
}

/// The system clock: the one place that reads it.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now::system()
    }
}
