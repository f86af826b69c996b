//! Upstream connections (SPEC: Upstream providers — Storage, Health): one
//! record per tenant, owner (a user, or the tenant's service connection) and
//! provider, holding the encrypted refresh token, the cached access token, the
//! health fields, and the lease and token generation that make a refresh of a
//! single-use refresh token happen exactly once (research §4.1–§4.2).
//!
//! Tokens appear here only sealed ([`Sealed`], a vault envelope made and
//! opened by `tokens::vault`); nothing in this file can read one.

use crate::ids::{ProviderName, TenantId, UserId};

/// Whose connection it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A user's own account at the provider (the browser connect flow).
    User(UserId),
    /// The tenant's service connection (`provider connect`; at most one per
    /// provider).
    Service,
}

impl Owner {
    /// The owner as it appears in keys and in the vault's authenticated data:
    /// the user id, or `~` (never a user id character) for the service.
    pub fn as_key(&self) -> &str {
        match self {
            Owner::User(u) => u.as_str(),
            Owner::Service => "~",
        }
    }

    pub fn from_key(s: &str) -> Option<Owner> {
        if s == "~" {
            Some(Owner::Service)
        } else {
            UserId::parse(s).ok().map(Owner::User)
        }
    }
}

/// What names a connection: tenant, owner, provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionKey {
    pub tenant: TenantId,
    pub owner: Owner,
    pub provider: ProviderName,
}

/// The connection's health (SPEC: Health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// The last refresh failed transiently; the refresh token is presumed alive.
    Degraded,
    /// The stored grant is dead (refused, revoked, undecryptable, outcome
    /// unknown): only a new connect revives it.
    ReconnectRequired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Degraded => "degraded",
            Status::ReconnectRequired => "reconnect_required",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "degraded" => Some(Status::Degraded),
            "reconnect_required" => Some(Status::ReconnectRequired),
            _ => None,
        }
    }
}

/// Which secret of a connection a ciphertext holds (bound into the vault's
/// authenticated data, so one cannot stand in for the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    RefreshToken,
    AccessToken,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::RefreshToken => "rt",
            Field::AccessToken => "at",
        }
    }
}

/// A vault envelope as stored: `v1.{kid}.{b64url(nonce ‖ ciphertext ‖ tag)}`.
/// Opaque here; its `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps a stored envelope (its format is checked when it is opened).
    pub fn from_stored(s: String) -> Sealed {
        Sealed(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// The cached upstream access token, shared by every sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    pub sealed: Sealed,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// The lease owner a transient failure leaves for its cooldown: no refresh is
/// in progress, and waiters answer at once (503 with `Retry-After`). Never a
/// live holder's id (those are random tokens).
pub const COOLDOWN_OWNER: &str = "~cooldown";

/// Where a new connection's generations start (the item did not exist, or
/// was removed): from the clock (`now` × 10⁶) plus a random offset below
/// 10⁶, never from 0. Only equality matters to the fences (lease and commit
/// require the generation read), so a holder of a removed grant cannot
/// commit onto (or kill) the one made after it: a later second is beyond
/// any old generation (that would take 10⁶ refreshes per second of the old
/// grant's age), and within the same second the offsets differ but for a
/// one-in-a-million chance.
pub fn first_generation_base(now: crate::clock::Now) -> u64 {
    let r = u32::from_le_bytes(crate::crypto::random_bytes::<4>());
    now.secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(r % 1_000_000))
}

/// A refresh in progress: who holds the connection, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: u64,
}

/// The last refresh attempt started: on which generation, when. An attempt on
/// the current generation that no commit followed is an interrupted one (a
/// holder that timed out: its upstream call's outcome is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub generation: u64,
    pub at: u64,
}

/// One stored connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub key: ConnectionKey,
    /// Absent for upstreams that issue none (client_credentials).
    pub refresh_token: Option<Sealed>,
    pub access_token: Option<CachedToken>,
    pub scope: String,
    /// The account label the provider gave (Maximizer `login_hint`, Keap's app).
    pub account: Option<String>,
    pub status: Status,
    /// Why the status is not `active` (`invalid_grant`, `undecryptable`,
    /// `refresh_outcome_unknown`, a transient class); never upstream text.
    pub reason: Option<String>,
    /// The token generation: moves on every commit and every connect; every
    /// write of a refresh is fenced on it.
    pub generation: u64,
    pub lease: Option<Lease>,
    pub attempt: Option<Attempt>,
    pub connected_at: u64,
    pub last_refresh_at: Option<u64>,
    pub failures: u32,
    /// When the maintenance should refresh it even if idle (per preset).
    pub refresh_due_at: Option<u64>,
}

impl Lease {
    /// Whether this is a transient failure's cooldown, not a live refresh.
    pub fn is_cooldown(&self) -> bool {
        self.owner == COOLDOWN_OWNER
    }
}

impl Connection {
    /// Whether a refresh may take the lease at `now`: the grant is alive and
    /// no live lease is held.
    pub fn leasable(&self, now: u64) -> bool {
        self.status != Status::ReconnectRequired
            && self.lease.as_ref().is_none_or(|l| l.until < now)
    }
}

/// What `connect` stores: a fresh grant (the callback's code redemption, or a
/// service connection's password / client_credentials grant).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub key: ConnectionKey,
    pub refresh_token: Option<Sealed>,
    pub access_token: Option<CachedToken>,
    pub scope: String,
    pub account: Option<String>,
    pub refresh_due_at: Option<u64>,
}

/// What a successful refresh commits. `refresh_token: None` keeps the stored
/// one (the provider did not rotate it).
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub key: ConnectionKey,
    pub refresh_token: Option<Sealed>,
    pub access_token: CachedToken,
    /// The scope the provider granted, when it said.
    pub scope: Option<String>,
    pub refresh_due_at: Option<u64>,
}

/// A connection just leased: the item as it now is (the lease and the attempt
/// set; a strongly consistent re-read, coming from the write itself), and the
/// attempt it replaced.
#[derive(Debug, Clone)]
pub struct Leased {
    pub connection: Connection,
    pub previous_attempt: Option<Attempt>,
}

impl Leased {
    /// A previous holder started a refresh of this very generation and never
    /// committed: the provider may have consumed the refresh token (§4.4).
    pub fn interrupted(&self) -> bool {
        self.previous_attempt
            .is_some_and(|a| a.generation == self.connection.generation)
    }
}

/// Why a refresh failed, for `record_failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The provider was down, slow, rate-limiting or answered garbage: the
    /// connection is `degraded`, one failure more, and no one calls the
    /// provider for it again before `retry_at` (the lease is held until then).
    ///
    /// `outcome_unknown`: the provider may have used the refresh token (its
    /// answer was lost, or was unreadable after it rotated): the attempt stays
    /// recorded, so the next holder's call is the one retry of that token
    /// (`Leased::interrupted`). Otherwise the attempt is cleared: the token
    /// was certainly not used, and the next holder's call is a first call.
    Transient {
        class: String,
        retry_at: u64,
        outcome_unknown: bool,
    },
    /// The grant is dead: `reconnect_required` with the reason.
    Dead { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        Connection {
            key: ConnectionKey {
                tenant: TenantId::parse("acme").unwrap(),
                owner: Owner::Service,
                provider: ProviderName::parse("maximizer").unwrap(),
            },
            refresh_token: Some(Sealed::from_stored("v1.k.secretish".into())),
            access_token: None,
            scope: String::new(),
            account: None,
            status: Status::Active,
            reason: None,
            generation: 3,
            lease: None,
            attempt: Some(Attempt {
                generation: 3,
                at: 10,
            }),
            connected_at: 1,
            last_refresh_at: None,
            failures: 0,
            refresh_due_at: None,
        }
    }

    #[test]
    fn owner_keys_round_trip_and_service_is_no_user() {
        assert_eq!(Owner::from_key("~"), Some(Owner::Service));
        let u = Owner::User(UserId::parse("u_1-x").unwrap());
        assert_eq!(Owner::from_key(u.as_key()), Some(u));
        assert_eq!(Owner::from_key("a#b"), None);
        assert!(UserId::parse("~").is_err());
    }

    #[test]
    fn status_names_round_trip() {
        for s in [Status::Active, Status::Degraded, Status::ReconnectRequired] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("dead"), None);
    }

    #[test]
    fn a_live_lease_or_a_dead_grant_blocks_leasing() {
        let mut c = conn();
        assert!(c.leasable(100));
        c.lease = Some(Lease {
            owner: "a".into(),
            until: 100,
        });
        assert!(!c.leasable(100));
        assert!(c.leasable(101));
        c.lease = None;
        c.status = Status::ReconnectRequired;
        assert!(!c.leasable(100));
    }

    #[test]
    fn an_attempt_on_the_current_generation_is_interrupted() {
        let mut l = Leased {
            connection: conn(),
            previous_attempt: Some(Attempt {
                generation: 3,
                at: 5,
            }),
        };
        assert!(l.interrupted());
        l.previous_attempt = Some(Attempt {
            generation: 2,
            at: 5,
        });
        assert!(!l.interrupted());
        l.previous_attempt = None;
        assert!(!l.interrupted());
    }

    #[test]
    fn sealed_debug_shows_no_content() {
        let s = Sealed::from_stored("v1.k.c2VjcmV0".into());
        assert_eq!(format!("{s:?}"), "Sealed(13 bytes)");
    }
}
