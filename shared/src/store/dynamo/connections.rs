//! Upstream connections: one item each on a partition of its own
//! (`T#{tenant}#UC#{owner}#{provider}`), holding the sealed tokens, the
//! health fields, the lease and the token generation. Every operation of the
//! port is one strongly consistent GetItem or one conditional UpdateItem /
//! DeleteItem; listings go through the keys-only `list` index (`lpk =
//! T#{tenant}#CONNS`, `lsk = {owner}#{provider}`), whose keys only `connect`
//! writes (a lease or commit changes no indexed attribute, so it costs the
//! index nothing).
//!
//! The lease returns the item as it was (`ReturnValues=ALL_OLD`, which DynamoDB
//! Local supports like every ReturnValues of UpdateItem): the re-read is that
//! image with what the write set, so the caller also sees the attempt it
//! replaced (an interrupted refresh of the same generation).

use super::*;
use crate::domain::connections::*;
use crate::ids::ProviderName;
use crate::ports::{self, BoxFuture, ConnectionPage, StoreResult};

// The attribute names the mapping (`items.rs`) shares with the expressions.
pub(super) const OWNER: &str = "c_owner";
pub(super) const PROVIDER: &str = "c_provider";
pub(super) const STATUS: &str = "c_status";

fn conn_key(k: &ConnectionKey) -> Item {
    key(
        &k.tenant,
        sk::connection(k.owner.as_key(), k.provider.as_str()),
    )
}

fn listing(t: &TenantId) -> String {
    format!("{}#CONNS", tenant_pk(t))
}

fn conditional_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// An update expression assembled clause by clause, with its values.
#[derive(Default)]
struct Expr {
    set: Vec<String>,
    remove: Vec<&'static str>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn set(&mut self, attr: &str, v: AttributeValue) {
        let name = format!(":{attr}");
        self.set.push(format!("{attr} = {name}"));
        self.values.insert(name, v);
    }
    fn set_or_remove(&mut self, attr: &'static str, v: Option<AttributeValue>) {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove.push(attr),
        }
    }
    fn value(&mut self, name: &str, v: AttributeValue) {
        self.values.insert(name.to_owned(), v);
    }
    fn text(&self) -> String {
        let mut t = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            t.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        t
    }
    /// The due index's keys (`connections_due.rs`): set with the upkeep
    /// time, removed without one.
    fn due(&mut self, at: Option<u64>) {
        match at {
            Some(t) => {
                self.set(DPK, s(DUE_CONNECTIONS));
                self.set(DUE, n(t));
            }
            None => self.remove.extend([DPK, DUE]),
        }
    }

    fn cached(&mut self, at: Option<&CachedToken>) {
        self.set_or_remove("at_ct", at.map(|a| s(a.sealed.as_str())));
        self.set_or_remove("at_iat", at.map(|a| n(a.issued_at)));
        self.set_or_remove("at_exp", at.map(|a| n(a.expires_at)));
    }
}

impl Db {
    async fn update_connection(
        &self,
        k: &ConnectionKey,
        e: Expr,
        condition: Option<&str>,
        returns: ReturnValue,
    ) -> Result<Option<Item>, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(k)))
            .update_expression(e.text())
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(Some(e.values))
            .return_values(returns)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if conditional_failed(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Consistent batch reads of connection items by key.
    async fn connections_by_keys(&self, keys: Vec<Item>) -> Result<Vec<Connection>, StoreError> {
        self.batch_get_consistent(&keys)
            .await?
            .iter()
            .map(Connection::try_from)
            .collect()
    }

    /// One page of the listing index: the base-table keys and the cursor.
    async fn connection_keys(
        &self,
        tenant: &TenantId,
        owner_prefix: Option<String>,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<(String, Item)>, Option<Item>), StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .expression_attribute_values(":l", s(listing(tenant)))
            .set_limit(limit)
            .set_exclusive_start_key(start);
        q = match owner_prefix {
            Some(p) => q
                .key_condition_expression("lpk = :l AND begins_with(lsk, :p)")
                .expression_attribute_values(":p", s(p)),
            None => q.key_condition_expression("lpk = :l"),
        };
        let page = q.send().await.map_err(backend)?;
        let keys = page
            .items()
            .iter()
            .filter_map(|i| {
                let lsk = Get(i).opt_s(LSK)?;
                Some((lsk, Db::base_key(i)?))
            })
            .collect();
        Ok((keys, page.last_evaluated_key().cloned()))
    }
}

impl ports::ConnectionStore for Db {
    fn get<'a>(&'a self, k: &'a ConnectionKey) -> BoxFuture<'a, StoreResult<Option<Connection>>> {
        Box::pin(async move {
            self.get_item(conn_key(k), true)
                .await?
                .as_ref()
                .map(Connection::try_from)
                .transpose()
        })
    }

    /// One UpdateItem: every field of the grant set (absent ones removed),
    /// the generation moved past any earlier one, health reset, no lease.
    fn connect<'a>(
        &'a self,
        c: &'a NewConnection,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Connection>> {
        Box::pin(async move {
            let k = &c.key;
            let mut e = Expr::default();
            e.set(OWNER, s(k.owner.as_key()));
            e.set(PROVIDER, s(k.provider.as_str()));
            e.set_or_remove("rt_ct", c.refresh_token.as_ref().map(|r| s(r.as_str())));
            e.cached(c.access_token.as_ref());
            e.set("c_scope", s(c.scope.clone()));
            e.set_or_remove("c_account", c.account.clone().map(s));
            e.set(STATUS, s(Status::Active.as_str()));
            e.set("connected_at", n(now.secs()));
            e.set("failures", n(0));
            e.set_or_remove("refresh_due_at", c.refresh_due_at.map(n));
            e.due(c.refresh_due_at);
            e.set(LPK, s(listing(&k.tenant)));
            e.set(LSK, s(format!("{}#{}", k.owner.as_key(), k.provider)));
            e.set
                .push("rt_gen = if_not_exists(rt_gen, :base) + :one".into());
            e.value(":base", n(first_generation_base(now)));
            e.value(":one", n(1));
            e.remove.extend([
                "c_reason",
                "lease_owner",
                "lease_until",
                "attempt_gen",
                "attempt_at",
                "last_refresh_at",
                "last_failure_at",
            ]);
            let item = self
                .update_connection(k, e, None, ReturnValue::AllNew)
                .await?
                .ok_or_else(|| StoreError::Backend("connect: no item returned".into()))?;
            Connection::try_from(&item)
        })
    }

    fn lease<'a>(
        &'a self,
        k: &'a ConnectionKey,
        read_generation: u64,
        owner: &'a str,
        until: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Option<Leased>>> {
        Box::pin(async move {
            let mut e = Expr::default();
            e.set("lease_owner", s(owner));
            e.set("lease_until", n(until));
            e.set("attempt_gen", n(read_generation));
            e.set("attempt_at", n(now.secs()));
            e.value(":gen", n(read_generation));
            e.value(":now", n(now.secs()));
            e.value(":active", s(Status::Active.as_str()));
            e.value(":degraded", s(Status::Degraded.as_str()));
            let cond = "rt_gen = :gen AND c_status IN (:active, :degraded) \
                        AND (attribute_not_exists(lease_until) OR lease_until < :now)";
            let Some(old) = self
                .update_connection(k, e, Some(cond), ReturnValue::AllOld)
                .await?
            else {
                // The condition failed. After an SDK retry of a write that did
                // go through (its answer was lost), the item holds this very
                // lease: it is ours (the attempt it replaced is unknown).
                let now_stored = ports::ConnectionStore::get(self, k).await?;
                return Ok(now_stored
                    .filter(|c| {
                        c.generation == read_generation
                            && c.lease
                                .as_ref()
                                .is_some_and(|l| l.owner == owner && l.until == until)
                            && c.attempt
                                == Some(Attempt {
                                    generation: read_generation,
                                    at: now.secs(),
                                })
                    })
                    .map(|connection| Leased {
                        connection,
                        previous_attempt: None,
                    }));
            };
            let mut connection = Connection::try_from(&old)?;
            let previous_attempt = connection.attempt;
            connection.lease = Some(Lease {
                owner: owner.to_owned(),
                until,
            });
            connection.attempt = Some(Attempt {
                generation: read_generation,
                at: now.secs(),
            });
            Ok(Some(Leased {
                connection,
                previous_attempt,
            }))
        })
    }

    fn commit<'a>(
        &'a self,
        r: &'a Refreshed,
        used_generation: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut e = Expr::default();
            if let Some(rt) = &r.refresh_token {
                e.set("rt_ct", s(rt.as_str()));
            }
            e.cached(Some(&r.access_token));
            if let Some(scope) = &r.scope {
                e.set("c_scope", s(scope.clone()));
            }
            if let Some(due) = r.refresh_due_at {
                e.set("refresh_due_at", n(due));
                e.due(Some(due));
            }
            e.set("rt_gen", n(used_generation.saturating_add(1)));
            e.set(STATUS, s(Status::Active.as_str()));
            e.set("failures", n(0));
            e.set("last_refresh_at", n(now.secs()));
            e.value(":used", n(used_generation));
            e.remove
                .extend(["lease_owner", "lease_until", "c_reason", "last_failure_at"]);
            let written = self
                .update_connection(&r.key, e, Some("rt_gen = :used"), ReturnValue::None)
                .await?
                .is_some();
            if written {
                return Ok(true);
            }
            // The condition failed. After an SDK retry of a write that did
            // commit (its answer was lost), the item holds exactly what this
            // commit wrote: the access token's ciphertext is unique (random
            // nonce), so finding it at the next generation means it was ours.
            let now_stored = ports::ConnectionStore::get(self, &r.key).await?;
            Ok(now_stored.is_some_and(|c| {
                c.generation == used_generation.saturating_add(1)
                    && c.access_token
                        .is_some_and(|a| a.sealed == r.access_token.sealed)
            }))
        })
    }

    fn record_failure<'a>(
        &'a self,
        k: &'a ConnectionKey,
        generation: u64,
        failure: &'a Failure,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut e = Expr::default();
            e.set("last_failure_at", n(now.secs()));
            e.set
                .push("failures = if_not_exists(failures, :zero) + :one".into());
            e.value(":zero", n(0));
            e.value(":one", n(1));
            e.value(":gen", n(generation));
            let cond = match failure {
                Failure::Transient {
                    class,
                    retry_at,
                    outcome_unknown,
                } => {
                    if !outcome_unknown {
                        e.remove.extend(["attempt_gen", "attempt_at"]);
                    }
                    e.set(STATUS, s(Status::Degraded.as_str()));
                    e.set("c_reason", s(class.clone()));
                    e.set("lease_until", n(*retry_at));
                    e.set("lease_owner", s(COOLDOWN_OWNER));
                    e.value(":active", s(Status::Active.as_str()));
                    e.value(":degraded", s(Status::Degraded.as_str()));
                    "rt_gen = :gen AND c_status IN (:active, :degraded)"
                }
                Failure::Dead { reason } => {
                    e.set(STATUS, s(Status::ReconnectRequired.as_str()));
                    e.set("c_reason", s(reason.clone()));
                    e.remove.extend(["lease_owner", "lease_until"]);
                    // A dead grant leaves the upkeep's work list.
                    e.due(None);
                    "rt_gen = :gen"
                }
            };
            Ok(self
                .update_connection(k, e, Some(cond), ReturnValue::None)
                .await?
                .is_some())
        })
    }

    fn remove<'a>(
        &'a self,
        k: &'a ConnectionKey,
    ) -> BoxFuture<'a, StoreResult<Option<Connection>>> {
        Box::pin(async move {
            let out = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(conn_key(k)))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(backend)?;
            out.attributes
                .filter(|a| !a.is_empty())
                .as_ref()
                .map(Connection::try_from)
                .transpose()
        })
    }

    fn list_for_owner<'a>(
        &'a self,
        tenant: &'a TenantId,
        owner: &'a Owner,
    ) -> BoxFuture<'a, StoreResult<Vec<Connection>>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut start = None;
            loop {
                let (page, next) = self
                    .connection_keys(tenant, Some(format!("{}#", owner.as_key())), None, start)
                    .await?;
                keys.extend(page.into_iter().map(|(_, k)| k));
                match next {
                    Some(n) => start = Some(n),
                    None => break,
                }
            }
            let mut items = self.connections_by_keys(keys).await?;
            items.sort_by(|a, b| a.key.provider.cmp(&b.key.provider));
            Ok(items)
        })
    }

    fn due<'a>(
        &'a self,
        now: Now,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<ConnectionPage>> {
        Box::pin(self.due_connections(now, limit, cursor))
    }

    fn list_for_tenant<'a>(
        &'a self,
        tenant: &'a TenantId,
        provider: Option<&'a ProviderName>,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<ConnectionPage>> {
        Box::pin(async move {
            let limit = limit.clamp(1, 1000);
            let suffix = provider.map(|p| format!("#{p}"));
            let mut keys = Vec::new();
            let mut start = lifecycle::start_of(cursor)?;
            loop {
                let want = i32::try_from(limit - keys.len()).unwrap_or(1000);
                let (page, next) = self
                    .connection_keys(tenant, None, Some(want), start)
                    .await?;
                keys.extend(
                    page.into_iter()
                        .filter(|(lsk, _)| suffix.as_ref().is_none_or(|s| lsk.ends_with(s)))
                        .map(|(_, k)| k),
                );
                start = next;
                if start.is_none() || keys.len() >= limit {
                    break;
                }
            }
            let mut items = self.connections_by_keys(keys).await?;
            items.sort_by(|a, b| {
                (a.key.owner.as_key(), &a.key.provider)
                    .cmp(&(b.key.owner.as_key(), &b.key.provider))
            });
            Ok(ConnectionPage {
                items,
                next: lifecycle::cursor_of(start.as_ref()),
            })
        })
    }
}
