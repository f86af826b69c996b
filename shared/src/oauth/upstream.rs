//! The refresh protocol of the token vault (SPEC: Upstream providers —
//! Freshness, Refreshing; research §4): a fresh upstream access token for a
//! connection, refreshing a single-use refresh token exactly once at any
//! concurrency, even when answers are lost.
//!
//! 1. Read the connection (strongly consistent). Dead → `reconnect_required`.
//!    A cached token with more than the freshness margin left is served.
//! 2. A live lease means a refresh is under way: wait for its commit (poll,
//!    bounded by the deadline). A cooldown lease (a transient failure) is
//!    answered at once: 503 with `Retry-After`.
//! 3. Take the lease (one conditional write on the generation read). It also
//!    re-reads; losing means someone else leased or committed: back to 1.
//! 4. Call the provider once. A lost answer (the provider may have rotated)
//!    is retried once at once with the same token — as is the token of a
//!    holder that died mid-call (`Leased::interrupted`). If that retry is
//!    refused, the grant is dead unless a newer generation was stored (the
//!    failure is fenced on the generation).
//! 5. Commit the new tokens fenced on the generation *before* answering; a
//!    storage failure is retried until the deadline, audited either way.
//!
//! Transient failures (down, slow, 429, garbage) leave the grant alive:
//! `degraded`, one failure more, and a cooldown during which no one calls the
//! provider for this connection.

use crate::AppState;
use crate::audit::{self, UpstreamEvent};
use crate::clock::Now;
use crate::crypto::random_token;
use crate::domain::connections::{Connection, ConnectionKey, Failure, Field, Leased, Status};
use crate::domain::providers::engine::{self, CallError, Refusal, UpstreamClient};
use crate::domain::providers::{Provider, UpstreamGrant};
use crate::domain::upstream_refresh::{
    self as timing, TRANSIENT_COOLDOWN, UPSTREAM_CALL, is_fresh, lease_until,
};
use crate::ports::StoreError;
use crate::tokens::vault::Vault;
use secrecy::SecretString;
use std::time::Duration;
use tokio::time::Instant;

/// A token served to a caller (never the refresh token).
pub struct Served {
    pub access_token: SecretString,
    pub expires_at: u64,
    pub scope: String,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why no token could be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// No connection to this provider.
    NotLinked,
    /// The stored grant is dead: connect again.
    ReconnectRequired,
    /// The provider (or storage) is down, slow, rate-limiting or answering
    /// garbage, or a refresh by someone else did not finish in time.
    Unavailable { retry_after: u64 },
}

/// What the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A token with more than the freshness margin left (the exchange).
    Serve,
    /// Refresh the grant of generation `.0` even if its access token is
    /// fresh (the maintenance function's upkeep of idle refresh tokens);
    /// done when the generation moved past it.
    Upkeep(u64),
}

/// How long a waiter sleeps between reads of a connection being refreshed.
const POLL_FIRST: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_millis(250);
/// The longest a waiter waits for someone else's refresh: the upstream call
/// and its commit. Longer, and it answers 503 (a slow provider must not hold
/// every instance of the function).
const MAX_WAIT: Duration = Duration::from_secs(UPSTREAM_CALL.as_secs() + 2);
/// Time kept back before the deadline for answering.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// What a holder keeps back of its lease after an upstream call: the commit.
const LEASE_MARGIN: Duration = Duration::from_secs(3);

/// What a refresh needs before it takes the lease (read first, so that a
/// slow read never eats into the lease): Tollgate's client secret at the
/// provider and the redirect URI some providers want again.
struct Registration {
    secret: Option<SecretString>,
    redirect_uri: String,
}

/// A fresh upstream access token for the connection `key` of provider `p`,
/// refreshing when needed, all before `deadline`.
pub async fn token(
    state: &AppState,
    p: &Provider,
    key: &ConnectionKey,
    mode: Mode,
    deadline: Instant,
) -> Result<Served, Unserved> {
    let vault = state.vault(&key.tenant).await.map_err(|e| {
        tracing::error!(error = %e, "vault keys unavailable");
        unavailable(2)
    })?;
    let store = &state.ports().connections;
    let started = Instant::now();
    let mut delay = POLL_FIRST;
    let mut first_generation = None;
    let mut registration = None;
    loop {
        let now = state.now();
        let c = store
            .get(key)
            .await
            .map_err(outage)?
            .ok_or(Unserved::NotLinked)?;
        if c.status == Status::ReconnectRequired {
            return Err(Unserved::ReconnectRequired);
        }
        let first = *first_generation.get_or_insert(c.generation);
        let cached = c.access_token.as_ref();
        let wanted = match mode {
            // Fresh, or refreshed by someone else since this request began
            // (a token living less than the margin is never "fresh": without
            // this, every waiter would refresh again).
            Mode::Serve => cached.is_some_and(|at| {
                is_fresh(at.issued_at, at.expires_at, now.secs())
                    || (c.generation != first && at.expires_at > now.secs())
            }),
            Mode::Upkeep(generation) => c.generation != generation,
        };
        if wanted && let Some(served) = serve(&vault, &c) {
            return Ok(served);
        }
        if let Some(lease) = c.lease.as_ref().filter(|l| l.until >= now.secs()) {
            if lease.is_cooldown() {
                return Err(unavailable(lease.until - now.secs() + 1));
            }
            // A refresh is under way: its commit comes before its answer.
            let waited = started.elapsed() + delay;
            if waited >= MAX_WAIT || Instant::now() + delay + ANSWER_MARGIN >= deadline {
                return Err(unavailable(1));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(POLL_MAX);
            continue;
        }
        if registration.is_none() {
            registration = Some(registration_of(state, p).await?);
            // That took time: look again before leasing.
            continue;
        }
        if !timing::may_start(deadline.saturating_duration_since(Instant::now())) {
            return Err(unavailable(1));
        }
        let holder = random_token(12);
        let leased = store
            .lease(key, c.generation, &holder, lease_until(now.secs()), now)
            .await
            .map_err(outage)?;
        let Some(leased) = leased else {
            // Someone else leased or committed first: read again.
            continue;
        };
        let reg = registration.as_ref().ok_or_else(|| unavailable(1))?;
        let lease_end = Instant::now() + timing::LEASE;
        let limits = Limits {
            deadline,
            lease_end,
        };
        if let Some(served) = refresh(state, &vault, p, reg, &leased, limits).await? {
            return Ok(served);
        }
        // The generation moved under us (a reconnect, or a slow holder's
        // commit): read again.
    }
}

async fn registration_of(state: &AppState, p: &Provider) -> Result<Registration, Unserved> {
    let secret = state.upstream_client_secret(p).await.map_err(|e| {
        tracing::error!(error = %e, "upstream client secret unavailable");
        unavailable(2)
    })?;
    let redirect_uri = state
        .urls()
        .await
        .map_err(|_| unavailable(2))?
        .upstream_callback(&p.tenant, &p.name);
    Ok(Registration {
        secret,
        redirect_uri,
    })
}

/// The cached access token, opened. `None` when there is none or it does
/// not open: it is only a cache, so the caller refreshes (the refresh token
/// is what must fail closed).
fn serve(vault: &Vault, c: &Connection) -> Option<Served> {
    let at = c.access_token.as_ref()?;
    match vault.open(&c.key, Field::AccessToken, &at.sealed) {
        Ok(token) => Some(Served {
            access_token: token,
            expires_at: at.expires_at,
            scope: c.scope.clone(),
        }),
        Err(_) => {
            tracing::warn!(provider = %c.key.provider, "cached upstream access token undecryptable; refreshing");
            None
        }
    }
}

/// When a holder must be done: the function's deadline, and the end of its
/// lease (after which another holder may use the same refresh token).
#[derive(Clone, Copy)]
struct Limits {
    deadline: Instant,
    lease_end: Instant,
}

impl Limits {
    /// Whether an upstream call started now ends with time to commit, both
    /// before the deadline and well inside the lease.
    fn may_call(&self) -> bool {
        let now = Instant::now();
        now + UPSTREAM_CALL + Duration::from_secs(1) <= self.deadline
            && now + UPSTREAM_CALL + LEASE_MARGIN <= self.lease_end
    }
}

/// One leased refresh. `Ok(None)`: the generation moved, read again.
async fn refresh(
    state: &AppState,
    vault: &Vault,
    p: &Provider,
    reg: &Registration,
    leased: &Leased,
    limits: Limits,
) -> Result<Option<Served>, Unserved> {
    let c = &leased.connection;
    let generation = c.generation;
    let started = state.now();
    let client = UpstreamClient {
        id: &p.client_id,
        secret: reg.secret.as_ref(),
    };
    let call = match &c.refresh_token {
        Some(sealed) => match vault.open(&c.key, Field::RefreshToken, sealed) {
            Ok(rt) => engine::refresh_call(p, &client, &rt, &reg.redirect_uri),
            Err(_) => return mark_dead(state, c, generation, "undecryptable", started).await,
        },
        None if p.grant == UpstreamGrant::ClientCredentials => {
            engine::client_credentials_call(p, &client)
        }
        None => return mark_dead(state, c, generation, "no_refresh_token", started).await,
    };
    // The previous holder died mid-call: its token's fate is unknown, and
    // this call is the one retry it gets.
    let mut retried = leased.interrupted();
    loop {
        if !limits.may_call() {
            // Reads were slow: no call that could outlive the lease. The
            // token is unused; the next holder may go at once.
            return transient(state, c, "no_time", Some(1), started, false).await;
        }
        let sent_at = state.now();
        let outcome =
            match tokio::time::timeout(UPSTREAM_CALL, state.ports().upstream.post(&call)).await {
                Ok(o) => o,
                Err(_) => Err(CallError::Lost("timeout".into())),
            };
        let answer = match outcome {
            Ok(a) => a,
            Err(CallError::NotSent(why)) => {
                tracing::warn!(provider = %p.name, why = %why, "upstream refresh not sent");
                return transient(state, c, "unreachable", None, sent_at, retried).await;
            }
            Err(CallError::Lost(why)) => {
                tracing::warn!(provider = %p.name, why = %why, retried, "upstream refresh answer lost");
                if !retried && limits.may_call() {
                    retried = true;
                    continue;
                }
                return transient(state, c, "answer_lost", None, sent_at, true).await;
            }
        };
        return match engine::read_token_answer(p.quirks(), &answer) {
            Ok(tokens) => commit(state, vault, p, c, &tokens, sent_at, limits.deadline).await,
            Err(Refusal::Dead { reason }) => {
                let reason = if retried {
                    "refresh_outcome_unknown".to_owned()
                } else {
                    reason
                };
                mark_dead(state, c, generation, &reason, sent_at).await
            }
            Err(Refusal::PasswordChangeRequired { .. }) => {
                mark_dead(state, c, generation, "password_change_required", sent_at).await
            }
            Err(Refusal::Transient { class, retry_after }) => {
                // A 2xx the engine could not accept: the provider may have
                // rotated, so the token's fate is unknown (the next holder's
                // call is its one retry). Any other answer used nothing.
                let unknown = retried || (200..300).contains(&answer.status);
                transient(state, c, class, retry_after, sent_at, unknown).await
            }
        };
    }
}

/// Stores a refresh's outcome before anyone is answered, retrying a storage
/// failure until the deadline.
async fn commit(
    state: &AppState,
    vault: &Vault,
    p: &Provider,
    c: &Connection,
    tokens: &engine::TokenAnswer,
    sent_at: Now,
    deadline: Instant,
) -> Result<Option<Served>, Unserved> {
    let refreshed = crate::tokens::upstream::refreshed(
        vault,
        c.key.clone(),
        p.quirks(),
        tokens,
        c.refresh_token.is_some(),
        sent_at,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "sealing refreshed tokens failed");
        unavailable(2)
    })?;
    let owner = c.key.owner.as_key();
    let mut backoff = Duration::from_millis(50);
    let mut storage_failures = 0u32;
    loop {
        match state
            .ports()
            .connections
            .commit(&refreshed, c.generation, sent_at)
            .await
        {
            Ok(true) => {
                let detail = if storage_failures > 0 {
                    "stored_after_retry"
                } else {
                    ""
                };
                audit::upstream(
                    UpstreamEvent::Refreshed,
                    &c.key.tenant,
                    &p.name,
                    owner,
                    detail,
                );
                return Ok(Some(Served {
                    access_token: tokens.access_token.clone(),
                    expires_at: refreshed.access_token.expires_at,
                    scope: refreshed.scope.clone().unwrap_or_else(|| c.scope.clone()),
                }));
            }
            Ok(false) => return Ok(None),
            Err(e) => {
                storage_failures += 1;
                tracing::error!(error = %e, attempt = storage_failures, "storing refreshed upstream tokens failed");
                if Instant::now() + backoff + ANSWER_MARGIN >= deadline {
                    audit::upstream(
                        UpstreamEvent::CommitFailed,
                        &c.key.tenant,
                        &p.name,
                        owner,
                        "storage_unavailable",
                    );
                    return Err(unavailable(2));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The grant is dead (fenced on the generation): `reconnect_required`.
/// `Ok(None)` when a newer generation was stored meanwhile (read again).
async fn mark_dead(
    state: &AppState,
    c: &Connection,
    generation: u64,
    reason: &str,
    now: Now,
) -> Result<Option<Served>, Unserved> {
    let failure = Failure::Dead {
        reason: reason.to_owned(),
    };
    let recorded = state
        .ports()
        .connections
        .record_failure(&c.key, generation, &failure, now)
        .await
        .map_err(outage)?;
    if !recorded {
        return Ok(None);
    }
    audit::upstream(
        UpstreamEvent::ReconnectRequired,
        &c.key.tenant,
        c.key.provider.as_str(),
        c.key.owner.as_key(),
        reason,
    );
    Err(Unserved::ReconnectRequired)
}

/// A passing failure: degraded, one failure more, a cooldown (at least
/// [`TRANSIENT_COOLDOWN`], or the provider's `Retry-After`; `no_time`: the
/// wait given). `outcome_unknown`: the refresh token may have been used.
async fn transient(
    state: &AppState,
    c: &Connection,
    class: &'static str,
    retry_after: Option<u64>,
    now: Now,
    outcome_unknown: bool,
) -> Result<Option<Served>, Unserved> {
    let wait = if class == "no_time" {
        retry_after.unwrap_or(1)
    } else {
        retry_after
            .unwrap_or(0)
            .max(TRANSIENT_COOLDOWN.as_secs())
            .min(3600)
    };
    let failure = Failure::Transient {
        class: class.to_owned(),
        retry_at: now.secs() + wait,
        outcome_unknown,
    };
    let recorded = state
        .ports()
        .connections
        .record_failure(&c.key, c.generation, &failure, now)
        .await
        .map_err(outage)?;
    if !recorded {
        return Ok(None);
    }
    audit::upstream(
        UpstreamEvent::RefreshFailed,
        &c.key.tenant,
        c.key.provider.as_str(),
        c.key.owner.as_key(),
        class,
    );
    Err(unavailable(wait))
}

fn unavailable(retry_after: u64) -> Unserved {
    Unserved::Unavailable {
        retry_after: retry_after.max(1),
    }
}

fn outage(e: StoreError) -> Unserved {
    tracing::error!(error = %e, "connection store unavailable");
    unavailable(2)
}
