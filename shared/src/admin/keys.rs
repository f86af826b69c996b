//! The tenants' signing keys as `tollgate-admin key rotate` and the hourly
//! maintenance change them (SPEC: Tokens; the rule: `domain::key_rotation`).
//!
//! A key change writes two stores that no transaction spans: the public JWKS
//! on the tenant item (DynamoDB) and the key set (Secrets Manager). Every
//! writer goes the same way, so a rotation racing the maintenance run (or a
//! writer dying half-way) never leaves a key that may sign unpublished:
//!
//! 1. read the tenant item strongly consistently: its JWKS and its key
//!    generation `G`; then the key set, which carries the generation it was
//!    written with;
//! 2. a key set at `G` is the base. One past `G` means a change committed
//!    between the two reads: read again. One behind `G` means the writer of
//!    `G` has committed the JWKS and not yet written the key set: wait (read
//!    again) while that may still come ([`key_rotation::COMMIT_GRACE`]);
//!    after that the writer is taken for dead, and the stored set is the base
//!    — with every key the JWKS names kept published
//!    ([`KeySet::adopt_published`]), so a key set that does land late still
//!    signs only with published keys;
//! 3. derive the new set from the base (settle, publish, retire);
//! 4. commit the JWKS, the generation `G + 1` and the next due time on the
//!    tenant item, on the condition that it is still at `G` with the JWKS
//!    read; if not, someone else changed the keys: start again from 1;
//! 5. only then write the key set (at `G + 1`).
//!
//! The JWKS is written first and derived from the set it replaces, so it
//! always holds every key of both the old and the new set: any key a function
//! may sign with (from either) is published. Removal happens only from a
//! consistent base and only for keys past their retirement.
//!
//! The maintenance run ([`Admin::maintain`]) reads only the tenants due (the
//! due index: each tenant's next switch, retirement or rotation, written with
//! its keys), the longest overdue first, for as long as its time allows;
//! whatever it does not reach stays due for the next run. A tenant whose
//! upkeep fails is logged, reported and looked at again an hour later; the
//! others go on. Tenants written before the due index are entered in it by a
//! sweep that runs once, resuming from a cursor stored in the table.

use super::*;
use crate::domain::key_rotation;
use crate::domain::key_rotation::COMMIT_GRACE;
use crate::domain::key_rotation::RETRY_FAILED;
use crate::domain::records::Tenant;
use crate::ids::TenantId;
use crate::ports::Clock;
use crate::store::KeyCommit;
use crate::store::Sweep;
use crate::store::secrets_manager::SecretSource;
use crate::tokens::keys::KeySet;
use serde_json::Value;
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

/// Rounds of read-derive-commit a key change tries (another writer won the
/// commit, or is between its two writes) before it reports [`KeyOutcome::Busy`].
const KEY_CHANGE_ATTEMPTS: u32 = 5;

/// Tenants per query of the due index.
const DUE_PAGE: i32 = 100;

/// What a maintenance invocation keeps back from its deadline: one tenant's
/// upkeep (an RSA key generation takes seconds at 128 MB; three calls, each
/// within the SDK's timeouts).
pub const RUN_RESERVE: Duration = Duration::from_secs(60);

/// What a key change did.
pub enum KeyOutcome {
    /// The new key set, written (tenant item, then secret).
    Changed(KeySet),
    /// Nothing to write (the tenant's due time may have moved).
    Unchanged(KeySet),
    /// Another key change is between its two writes: nothing written; try
    /// again in a minute.
    Busy,
}

#[derive(Clone, Copy)]
enum Change {
    /// `key rotate`: publish a next key now.
    Rotate,
    /// The schedule: settle, retire, and rotate when due.
    Upkeep,
}

/// How much of its time a maintenance run may still use: one step is one
/// tenant or one page of the sweep.
pub struct Budget {
    deadline: Option<Instant>,
    steps: Option<AtomicUsize>,
}

impl Budget {
    /// Until `deadline_ms` (epoch milliseconds: the Lambda context's
    /// deadline) minus [`RUN_RESERVE`], `now` being the time at the start.
    pub fn before_deadline(deadline_ms: u64, now: crate::Now) -> Budget {
        let left =
            Duration::from_millis(deadline_ms.saturating_sub(now.secs().saturating_mul(1000)));
        Budget {
            deadline: Some(Instant::now() + left.saturating_sub(RUN_RESERVE)),
            steps: None,
        }
    }

    /// At most `n` steps (tests).
    pub fn steps(n: usize) -> Budget {
        Budget {
            deadline: None,
            steps: Some(AtomicUsize::new(n)),
        }
    }

    pub fn unlimited() -> Budget {
        Budget {
            deadline: None,
            steps: None,
        }
    }

    /// Takes one step if there is time for it.
    fn take(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match &self.steps {
            None => true,
            Some(n) => n
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// What a maintenance run did.
#[derive(Debug, Default)]
pub struct Report {
    /// One entry per tenant whose keys changed.
    pub changed: Vec<Value>,
    /// Tenants whose upkeep failed (looked at again in an hour).
    pub failed: Vec<Value>,
    /// Tenants left for the next run: another key change was being written.
    pub busy: usize,
    /// Tenants the sweep entered in the due index.
    pub swept: usize,
    /// The time ran out with work left (the next run goes on).
    pub more: bool,
}

impl Report {
    pub fn to_json(&self) -> Value {
        json!({
            "changed": self.changed,
            "failed": self.failed,
            "busy": self.busy,
            "swept": self.swept,
            "more": self.more,
        })
    }

    /// The invocation's result: an error when a tenant failed, so the
    /// failure is counted (the maintenance alarm); nothing else reruns.
    pub fn into_result(self) -> Result<Value, AdminError> {
        if self.failed.is_empty() {
            Ok(self.to_json())
        } else {
            err(format!(
                "key upkeep failed for {} tenant(s): {}",
                self.failed.len(),
                self.to_json()
            ))
        }
    }
}

/// The longest an access token this tenant signs may stay valid.
pub(super) fn longest_token_life(t: &Tenant) -> u64 {
    t.access_token_ttl.max(t.sliding_max.unwrap_or(0))
}

pub(super) fn rotation_days(t: &Tenant) -> u64 {
    t.key_rotation_days
        .unwrap_or(key_rotation::DEFAULT_ROTATION_DAYS)
}

impl Admin {
    /// Publishes a new key now; it signs from `signs_from` (publish, then
    /// sign: `domain::key_rotation`). A second rotation while that key waits
    /// changes nothing.
    pub async fn rotate_key(&self, alias: &str) -> Result<Value, AdminError> {
        self.rotate_key_at(alias, crate::Now::system().secs()).await
    }

    /// [`Admin::rotate_key`] at a given time (tests drive the schedule).
    pub async fn rotate_key_at(&self, alias: &str, now: u64) -> Result<Value, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        let set = match self.change_keys(&id, now, Change::Rotate).await? {
            KeyOutcome::Changed(s) | KeyOutcome::Unchanged(s) => s,
            KeyOutcome::Busy => {
                return err(format!(
                    "another key change of tenant {alias} is being written; run it again in a minute"
                ));
            }
        };
        // `kid`: the key this rotation published; it signs from `signs_from`.
        // `previous_kid`: the key it replaces (signing until then).
        Ok(json!({
            "tenant": alias,
            "kid": set.next.as_ref().map(|k| k.kid.clone()),
            "signs_from": set.next_since.map(key_rotation::signs_from),
            "previous_kid": set.current.kid,
        }))
    }

    pub(crate) async fn load_key_set(&self, tenant: &TenantId) -> Result<KeySet, AdminError> {
        let name = self.config.signing_key_secret(tenant);
        let Some(raw) = self.secrets.fetch(&name).await? else {
            return err(format!("signing key secret {name} is missing"));
        };
        serde_json::from_str(&raw).map_err(|e| AdminError(format!("stored key set: {e}")))
    }

    /// One tenant's scheduled upkeep at `now` (what the maintenance run does
    /// for each tenant due).
    pub async fn upkeep(&self, id: &TenantId, now: u64) -> Result<KeyOutcome, AdminError> {
        self.change_keys(id, now, Change::Upkeep).await
    }

    /// The protocol of the module comment.
    async fn change_keys(
        &self,
        id: &TenantId,
        now: u64,
        change: Change,
    ) -> Result<KeyOutcome, AdminError> {
        for attempt in 0..KEY_CHANGE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            let t = match self.db.get_tenant_consistent(id).await? {
                Some(t) if !t.deleting => t,
                _ => return err(format!("unknown tenant: {id}")),
            };
            let read = self.load_key_set(id).await?;
            let generation = t.keys.generation;
            if read.generation > generation {
                // A change committed (and wrote its set) between our two reads.
                continue;
            }
            let abandoned = read.generation < generation;
            if abandoned && now < t.keys.changed_at.saturating_add(COMMIT_GRACE) {
                // The writer of `generation` is between its two writes.
                continue;
            }
            if abandoned {
                tracing::warn!(
                    tenant = %id,
                    generation,
                    key_set_generation = read.generation,
                    "key set behind the tenant's keys: carrying on from it, every published key kept"
                );
            }
            let life = longest_token_life(&t);
            let days = rotation_days(&t);
            let mut base = read.clone();
            let adopted = base.adopt_published(&t.public_jwks, now, life);
            let set = match change {
                Change::Rotate => base.publish_next(t.signing_alg, now, life),
                Change::Upkeep => base.upkeep(t.signing_alg, now, days, life),
            }
            .map_err(|e| AdminError(e.to_string()))?;
            let due = set.next_due(now, days, life);
            if !abandoned && !adopted && set == read && t.public_jwks == set.public_jwks() {
                if t.keys.due != due && !self.db.set_tenant_due(id, generation, due).await? {
                    continue;
                }
                return Ok(KeyOutcome::Unchanged(set));
            }
            let set = KeySet {
                generation: generation.saturating_add(1),
                ..set
            };
            let committed = self
                .db
                .commit_keys(
                    id,
                    &KeyCommit {
                        public_jwks: &set.public_jwks(),
                        current_kid: &set.signing(now).kid,
                        alg: t.signing_alg,
                        read_gen: generation,
                        read_jwks: &t.public_jwks,
                        at: now,
                        due,
                    },
                )
                .await?;
            if !committed {
                continue;
            }
            let json = serde_json::to_string(&set).map_err(|e| AdminError(e.to_string()))?;
            self.secrets
                .put(&self.config.signing_key_secret(id), &json)
                .await?;
            return Ok(KeyOutcome::Changed(set));
        }
        Ok(KeyOutcome::Busy)
    }

    /// The maintenance run: the upkeep of every tenant due, each at the
    /// clock's time, then the sweep while it is not done (the tenants it
    /// enters are due at once: the next run looks after them), while
    /// `budget` allows.
    pub async fn maintain(&self, clock: &dyn Clock, budget: &Budget) -> Result<Report, AdminError> {
        let mut report = Report::default();
        let run_at = clock.now().secs();
        let mut start = None;
        loop {
            let (due, next) = self.db.due_tenants(run_at, DUE_PAGE, start).await?;
            for id in due {
                if !budget.take() {
                    report.more = true;
                    return Ok(report);
                }
                let now = clock.now().secs();
                match self.upkeep(&id, now).await {
                    Ok(KeyOutcome::Changed(set)) => report.changed.push(json!({
                        "tenant": id.as_str(),
                        "signing_kid": set.signing(now).kid,
                        "next_kid": set.next.as_ref().map(|k| k.kid.clone()),
                        "retiring_kids": set.retiring.iter().map(|r| r.kid.clone()).collect::<Vec<_>>(),
                    })),
                    Ok(KeyOutcome::Unchanged(_)) => {}
                    Ok(KeyOutcome::Busy) => report.busy += 1,
                    Err(e) => {
                        // One tenant's trouble never stops the others, and is
                        // not retried before an hour has passed.
                        tracing::error!(tenant = %id, error = %e, "key upkeep failed");
                        report
                            .failed
                            .push(json!({"tenant": id.as_str(), "error": e.0}));
                        self.retry_later(&id, now).await;
                    }
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
        let mut sweep = self.db.sweep().await?;
        while !sweep.done {
            if !budget.take() {
                report.more = true;
                return Ok(report);
            }
            let (entered, next) = self
                .db
                .sweep_page(sweep.cursor.as_deref(), clock.now().secs())
                .await?;
            report.swept += entered;
            sweep = Sweep {
                done: next.is_none(),
                cursor: next,
            };
            self.db.save_sweep(&sweep).await?;
        }
        Ok(report)
    }

    /// Moves a failed tenant an hour down the schedule (best effort: if this
    /// fails too, it stays due and the next run tries it again).
    pub(super) async fn retry_later(&self, id: &TenantId, now: u64) {
        let moved = match self.db.get_tenant_consistent(id).await {
            Ok(Some(t)) if !t.deleting => {
                self.db
                    .set_tenant_due(id, t.keys.generation, now.saturating_add(RETRY_FAILED))
                    .await
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        if let Err(e) = moved {
            tracing::error!(tenant = %id, error = %e, "could not reschedule the tenant's key upkeep");
        }
    }
}
