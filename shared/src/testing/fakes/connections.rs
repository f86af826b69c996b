//! The fake of [`ConnectionStore`], with the DynamoDB adapter's semantics
//! (`store/dynamo/connections.rs`): each operation one atomic step under the
//! lock, with the adapter's conditions; listings in the index's order (owner,
//! then provider).

use super::{FakeStore, lock};
use crate::clock::Now;
use crate::domain::connections::*;
use crate::ids::{ProviderName, TenantId};
use crate::ports::{BoxFuture, ConnectionPage, ConnectionStore, StoreResult};

/// The map key: the listing index's order is the owner, then the provider.
pub(super) type ConnKey = (TenantId, String, String);

fn ck(k: &ConnectionKey) -> ConnKey {
    (
        k.tenant.clone(),
        k.owner.as_key().to_owned(),
        k.provider.as_str().to_owned(),
    )
}

impl FakeStore {
    /// A connection as stored (for assertions).
    pub fn connection_raw(&self, k: &ConnectionKey) -> Option<Connection> {
        lock(&self.tables).connections.get(&ck(k)).cloned()
    }

    /// Changes a stored connection behind the port's back (a tampered or
    /// swapped ciphertext, for tests).
    pub fn tamper_connection(&self, k: &ConnectionKey, f: impl FnOnce(&mut Connection)) {
        if let Some(c) = lock(&self.tables).connections.get_mut(&ck(k)) {
            f(c);
        }
    }
}

impl ConnectionStore for FakeStore {
    fn get<'a>(&'a self, k: &'a ConnectionKey) -> BoxFuture<'a, StoreResult<Option<Connection>>> {
        Box::pin(async move {
            self.round_trip("connections.get").await?;
            Ok(self.connection_raw(k))
        })
    }

    fn connect<'a>(
        &'a self,
        c: &'a NewConnection,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Connection>> {
        Box::pin(async move {
            self.round_trip("connections.connect").await?;
            let mut tables = self.tables();
            let generation = tables
                .connections
                .get(&ck(&c.key))
                .map_or_else(|| first_generation_base(now), |old| old.generation)
                .saturating_add(1);
            let conn = Connection {
                key: c.key.clone(),
                refresh_token: c.refresh_token.clone(),
                access_token: c.access_token.clone(),
                scope: c.scope.clone(),
                account: c.account.clone(),
                status: Status::Active,
                reason: None,
                generation,
                lease: None,
                attempt: None,
                connected_at: now.secs(),
                last_refresh_at: None,
                failures: 0,
                refresh_due_at: c.refresh_due_at,
            };
            tables.connections.insert(ck(&c.key), conn.clone());
            Ok(conn)
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
            self.round_trip("connections.lease").await?;
            let mut tables = self.tables();
            let Some(c) = tables.connections.get_mut(&ck(k)) else {
                return Ok(None);
            };
            if c.generation != read_generation || !c.leasable(now.secs()) {
                return Ok(None);
            }
            let previous_attempt = c.attempt;
            c.lease = Some(Lease {
                owner: owner.to_owned(),
                until,
            });
            c.attempt = Some(Attempt {
                generation: read_generation,
                at: now.secs(),
            });
            Ok(Some(Leased {
                connection: c.clone(),
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
            self.round_trip("connections.commit").await?;
            let mut tables = self.tables();
            let Some(c) = tables.connections.get_mut(&ck(&r.key)) else {
                return Ok(false);
            };
            if c.generation != used_generation {
                return Ok(false);
            }
            if let Some(rt) = &r.refresh_token {
                c.refresh_token = Some(rt.clone());
            }
            c.access_token = Some(r.access_token.clone());
            if let Some(scope) = &r.scope {
                c.scope = scope.clone();
            }
            if r.refresh_due_at.is_some() {
                c.refresh_due_at = r.refresh_due_at;
            }
            c.generation = used_generation.saturating_add(1);
            c.status = Status::Active;
            c.failures = 0;
            c.last_refresh_at = Some(now.secs());
            c.lease = None;
            c.reason = None;
            Ok(true)
        })
    }

    fn record_failure<'a>(
        &'a self,
        k: &'a ConnectionKey,
        generation: u64,
        failure: &'a Failure,
        _now: Now,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.round_trip("connections.record_failure").await?;
            let mut tables = self.tables();
            let Some(c) = tables.connections.get_mut(&ck(k)) else {
                return Ok(false);
            };
            if c.generation != generation {
                return Ok(false);
            }
            match failure {
                Failure::Transient {
                    class,
                    retry_at,
                    outcome_unknown,
                } => {
                    if c.status == Status::ReconnectRequired {
                        return Ok(false);
                    }
                    c.status = Status::Degraded;
                    c.reason = Some(class.clone());
                    if !outcome_unknown {
                        c.attempt = None;
                    }
                    c.lease = Some(Lease {
                        owner: COOLDOWN_OWNER.to_owned(),
                        until: *retry_at,
                    });
                }
                Failure::Dead { reason } => {
                    c.status = Status::ReconnectRequired;
                    c.reason = Some(reason.clone());
                    c.lease = None;
                }
            }
            c.failures = c.failures.saturating_add(1);
            Ok(true)
        })
    }

    fn remove<'a>(
        &'a self,
        k: &'a ConnectionKey,
    ) -> BoxFuture<'a, StoreResult<Option<Connection>>> {
        Box::pin(async move {
            self.round_trip("connections.remove").await?;
            Ok(self.tables().connections.remove(&ck(k)))
        })
    }

    fn list_for_owner<'a>(
        &'a self,
        tenant: &'a TenantId,
        owner: &'a Owner,
    ) -> BoxFuture<'a, StoreResult<Vec<Connection>>> {
        Box::pin(async move {
            self.round_trip("connections.list_for_owner").await?;
            Ok(self
                .tables()
                .connections
                .iter()
                .filter(|((t, o, _), _)| t == tenant && o == owner.as_key())
                .map(|(_, c)| c.clone())
                .collect())
        })
    }

    fn list_for_tenant<'a>(
        &'a self,
        tenant: &'a TenantId,
        provider: Option<&'a ProviderName>,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<ConnectionPage>> {
        Box::pin(async move {
            self.round_trip("connections.list_for_tenant").await?;
            let limit = limit.clamp(1, 1000);
            let tables = self.tables();
            let after = |o: &str, p: &str| cursor.is_none_or(|c| format!("{o}#{p}").as_str() > c);
            let mut rest = tables
                .connections
                .iter()
                .filter(|((t, o, p), _)| t == tenant && after(o, p))
                .filter(|((_, _, p), _)| provider.is_none_or(|want| want.as_str() == p));
            let items: Vec<Connection> =
                rest.by_ref().take(limit).map(|(_, c)| c.clone()).collect();
            let next = match (rest.next(), items.last()) {
                (Some(_), Some(last)) => {
                    Some(format!("{}#{}", last.key.owner.as_key(), last.key.provider))
                }
                _ => None,
            };
            Ok(ConnectionPage { items, next })
        })
    }

    fn due<'a>(
        &'a self,
        now: Now,
        limit: usize,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<ConnectionPage>> {
        Box::pin(async move {
            self.round_trip("connections.due").await?;
            let limit = limit.clamp(1, 100);
            let tables = self.tables();
            // The adapter's order: the due time, then the item's key.
            let order = |c: &Connection| {
                format!(
                    "{:020}\t{}\t{}\t{}",
                    c.refresh_due_at.unwrap_or(0),
                    c.key.tenant,
                    c.key.owner.as_key(),
                    c.key.provider
                )
            };
            let mut due: Vec<&Connection> = tables
                .connections
                .values()
                .filter(|c| c.status != Status::ReconnectRequired)
                .filter(|c| c.refresh_due_at.is_some_and(|d| d <= now.secs()))
                .filter(|c| cursor.is_none_or(|cur| order(c).as_str() > cur))
                .collect();
            due.sort_by_key(|c| order(c));
            let items: Vec<Connection> = due.iter().take(limit).map(|c| (*c).clone()).collect();
            let next = (due.len() > limit)
                .then(|| items.last().map(order))
                .flatten();
            Ok(ConnectionPage { items, next })
        })
    }
}
