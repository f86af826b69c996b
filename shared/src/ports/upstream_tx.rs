//! The connect flow's upstream transactions (`domain::upstream_tx`): written
//! once when the browser leaves for the provider, found by the upstream
//! `state`'s hash when it comes back, and taken once.

use super::{BoxFuture, StoreResult};
use crate::clock::Now;
use crate::domain::upstream_tx::UpstreamTx;
use crate::ids::TenantId;

pub trait UpstreamTxStore: Send + Sync {
    /// Create-if-absent (expiring at `tx.expires_at`, TTL included):
    /// `Err(StoreError::AlreadyExists)` if the state key is taken.
    fn put<'a>(&'a self, tx: &'a UpstreamTx) -> BoxFuture<'a, StoreResult<()>>;
    /// The transaction stored under `state_hash`, strongly consistent; an
    /// expired one is absent.
    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        state_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<UpstreamTx>>>;
    /// Takes the transaction: ONE conditional delete, only while it exists,
    /// is unexpired at `now` and is bound to `binding_hash`. `Some`: what was
    /// taken (exactly one caller ever gets it); `None`: gone, used, expired or
    /// bound to another browser — nothing happened.
    fn take<'a>(
        &'a self,
        tenant: &'a TenantId,
        state_hash: &'a str,
        binding_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<UpstreamTx>>>;
}
