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
use crate::ids::{ClientId, TenantId, UserId};
use crate::secrets::SecretError;
use crate::store::{
    AuthCode, Client, Family, RefreshToken, Reservation, RotateFailure, StoreError, Tenant, User,
};
use std::future::Future;
use std::pin::Pin;

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
    /// `family_id`, and the family and first refresh token written. `Err(())`
    /// when the code was used or expired meanwhile; nothing written then.
    fn redeem<'a>(
        &'a self,
        tenant: &'a TenantId,
        code_hash: &'a str,
        family_id: &'a str,
        issue: Option<(&'a Family, &'a RefreshToken)>,
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

/// Refresh tokens and their families.
pub trait RefreshStore: Send + Sync {
    /// A new family with its first token, atomically.
    fn issue<'a>(
        &'a self,
        family: &'a Family,
        token: &'a RefreshToken,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// A token by hash; expired tokens are absent.
    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        token_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<RefreshToken>>>;
    /// A family by id; expired families are absent.
    fn family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Family>>>;
    /// One transaction: old → rotated (committed at `now`, recording the
    /// requested scope), successor written, family alive, password unchanged.
    fn rotate<'a>(
        &'a self,
        old: &'a RefreshToken,
        successor: &'a RefreshToken,
        salt: &'a str,
        retry_scope: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Result<(), RotateFailure>>>;
    /// Revokes every token of the family, the newest included.
    fn revoke_family<'a>(
        &'a self,
        tenant: &'a TenantId,
        family_id: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// The password-check throttle: a reservation taken before the check.
pub trait ThrottleStore: Send + Sync {
    fn reserve<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a str,
        max: usize,
        window: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Reservation>>;
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

/// Secrets (client-secret hashes, signing keys, the login key, the URL
/// document): read one by name; `None` when it does not exist.
pub trait SecretSource: Send + Sync {
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>>;
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
