//! The connect flow's upstream transactions: one item each, on a partition of
//! its own (`T#{tenant}#UTX#{state hash}`), expiring by TTL (and checked on
//! every read, as TTL deletion lags), taken by one conditional delete.

use super::*;
use crate::domain::upstream_tx::{ClientRequest, Leg, UpstreamTx};
use crate::ids::ProviderName;
use crate::ports::{self, BoxFuture, StoreResult};

const BINDING: &str = "bh";

fn tx_key(tenant: &TenantId, state_hash: &str) -> Item {
    key(tenant, sk::upstream_tx(state_hash))
}

impl From<&UpstreamTx> for Item {
    fn from(t: &UpstreamTx) -> Item {
        let mut i = tx_key(&t.tenant, &t.state_hash);
        let c = &t.client;
        i.insert(BINDING.into(), s(t.binding_hash.clone()));
        i.insert("provider".into(), s(t.provider.as_str()));
        match &t.leg {
            Leg::Connect(user) => {
                i.insert("user_id".into(), s(user.as_str()));
            }
            Leg::SignIn { connect } => {
                i.insert("signin".into(), s(if *connect { "connect" } else { "1" }));
            }
        }
        i.insert("auth_time".into(), n(t.auth_time));
        i.insert("client_id".into(), s(c.client_id.as_str()));
        i.insert("redirect_uri".into(), s(c.redirect_uri.clone()));
        i.insert("ri".into(), b(c.redirect_uri_in_request));
        i.insert("scope".into(), s(c.scope.clone()));
        for (name, v) in [
            ("code_challenge", &c.code_challenge),
            ("nonce", &c.nonce),
            ("client_state", &c.state),
            ("lang", &c.lang),
        ] {
            if let Some(v) = v {
                i.insert(name.into(), s(v.clone()));
            }
        }
        i.insert("expires_at".into(), n(t.expires_at));
        i.insert(TTL.into(), n(t.expires_at));
        i
    }
}

impl TryFrom<&Item> for UpstreamTx {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let prefix = sk::upstream_tx("");
        let state_hash = g
            .s(SK)?
            .strip_prefix(prefix.as_str())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Malformed("bad sk".into()))?;
        Ok(UpstreamTx {
            tenant: g.tenant()?,
            state_hash,
            binding_hash: g.s(BINDING)?,
            provider: ProviderName::parse(&g.s("provider")?)
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
            leg: match g.opt_s("signin").as_deref() {
                None => Leg::Connect(g.user_id("user_id")?),
                Some(v) => Leg::SignIn {
                    connect: v == "connect",
                },
            },
            auth_time: g.n("auth_time")?,
            client: ClientRequest {
                client_id: g.client_id("client_id")?,
                redirect_uri: g.s("redirect_uri")?,
                redirect_uri_in_request: g.bool_or("ri", false),
                scope: g.s("scope")?,
                code_challenge: g.opt_s("code_challenge"),
                nonce: g.opt_s("nonce"),
                state: g.opt_s("client_state"),
                lang: g.opt_s("lang"),
            },
            expires_at: g.n("expires_at")?,
        })
    }
}

impl ports::UpstreamTxStore for Db {
    fn put<'a>(&'a self, tx: &'a UpstreamTx) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.put_if_absent(tx.into()).await })
    }

    fn get<'a>(
        &'a self,
        tenant: &'a TenantId,
        state_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<UpstreamTx>>> {
        Box::pin(async move {
            let item = self.get_item(tx_key(tenant, state_hash), true).await?;
            live(item.as_ref(), now)
                .map(UpstreamTx::try_from)
                .transpose()
        })
    }

    /// One DeleteItem, conditioned on existence, expiry and the binding,
    /// returning what it deleted. If the SDK retried a delete whose answer
    /// was lost, the retry fails its condition and the take reports `None`:
    /// the connect fails closed (the user starts again).
    fn take<'a>(
        &'a self,
        tenant: &'a TenantId,
        state_hash: &'a str,
        binding_hash: &'a str,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<UpstreamTx>>> {
        Box::pin(async move {
            let res = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(tx_key(tenant, state_hash)))
                .condition_expression("attribute_exists(pk) AND expires_at > :now AND #bh = :bh")
                .expression_attribute_names("#bh", BINDING)
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":bh", s(binding_hash))
                .return_values(ReturnValue::AllOld)
                .send()
                .await;
            match res {
                Ok(out) => out
                    .attributes
                    .filter(|a| !a.is_empty())
                    .as_ref()
                    .map(UpstreamTx::try_from)
                    .transpose(),
                Err(e) => match e.as_service_error() {
                    Some(se) if se.is_conditional_check_failed_exception() => Ok(None),
                    _ => Err(backend(e)),
                },
            }
        })
    }
}
