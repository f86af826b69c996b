//! Login transactions: marked used once.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl ports::LoginTxStore for Db {
    /// Marks a login transaction used; `AlreadyExists` if it was used before.
    fn use_once<'a>(
        &'a self,
        tenant: &'a TenantId,
        tx_id: &'a str,
        expires_at: u64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut i = key(tenant, sk::login_tx(tx_id));
            i.insert("expires_at".into(), n(expires_at));
            i.insert(TTL.into(), n(expires_at));
            self.put_if_absent(i).await
        })
    }
}
