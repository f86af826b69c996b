//! The connect flow's upstream transactions in [`FakeStore`], with the
//! adapter's semantics (`store/dynamo/upstream_tx.rs`): create-if-absent,
//! expiry checked on read, a take that is one atomic conditional delete.

use super::{FakeStore, k};
use crate::clock::Now;
use crate::domain::upstream_tx::UpstreamTx;
use crate::ids::TenantId;
use crate::ports::{BoxFuture, StoreError, StoreResult, UpstreamTxStore};

impl FakeStore {
    /// Whether a transaction is stored under `state_hash` (expired or not).
    pub fn upstream_tx_raw(&self, tenant: &TenantId, state_hash: &str) -> Option<UpstreamTx> {
        self.tables()
            .upstream_txs
            .get(&k(tenant, state_hash))
            .cloned()
    }

    /// How many transactions the tenant has stored.
    pub fn upstream_tx_count(&self, tenant: &TenantId) -> usize {
        self.tables()
            .upstream_txs
            .keys()
            .filter(|(t, _)| t == tenant)
            .count()
    }
}

impl UpstreamTxStore for FakeStore {
    fn put<'a>(&'a self, tx: &'a UpstreamTx) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.round_trip("upstream_txs.put").await?;
            let mut tables = self.tables();
            let key = k(&tx.tenant, &tx.state_hash);
            if tables.upstream_txs.contains_key(&key) {
                return Err(StoreError::AlreadyExists);
            }
            tables.upstream_txs.insert(key, tx.clone());
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        state_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<UpstreamTx>>> {
        Box::pin(async move {
            self.round_trip("upstream_txs.get").await?;
            Ok(self
                .upstream_tx_raw(tenant, state_hash)
                .filter(|t| t.expires_at > now.secs()))
        })
    }

    fn take<'a>(
        &'a self,
        tenant: &'a TenantId,
        state_hash: &'a str,
        binding_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<UpstreamTx>>> {
        Box::pin(async move {
            self.round_trip("upstream_txs.take").await?;
            let mut tables = self.tables();
            let key = k(tenant, state_hash);
            let takeable = tables
                .upstream_txs
                .get(&key)
                .is_some_and(|t| t.expires_at > now.secs() && t.binding_hash == binding_hash);
            Ok(if takeable {
                tables.upstream_txs.remove(&key)
            } else {
                None
            })
        })
    }
}
