//! Throttling of password guesses (SPEC: Callback). Guessing is throttled,
//! signing in is not.
//!
//! Every password check first *reserves* one slot of the user's failure
//! budget (reserve, then verify); a wrong password (or an unknown or disabled
//! user) keeps its slot, a correct one gives it back. The budgets, per user of
//! one tenant, per [`WINDOW_SECS`] (a sliding window, no edge), shared by the
//! login page, the password grant and change password:
//! - at most [`PER_SOURCE`] wrong passwords from one source address, so one
//!   attacker cannot lock a user out of their own network, and
//! - at most [`ALL_SOURCES`] from all addresses together, so a distributed
//!   guesser gets at most that many guesses.
//!
//! Both budgets live in one item per user: [`ALL_SOURCES`] slots, each holding
//! the time of a reservation and the source it came from. A reservation is a
//! compare-and-swap on the item's version, so however many requests arrive at
//! once, no more passwords are checked than the budgets allow: in-flight
//! checks plus wrong passwords never exceed the free slots.

use crate::crypto::{b64url, sha256};
use crate::domain::records::{User, normalize_username};
use std::net::IpAddr;

/// Wrong passwords allowed per user per source address per window.
pub const PER_SOURCE: usize = 5;
/// Wrong passwords allowed per user from all addresses together per window.
pub const ALL_SOURCES: usize = 25;
pub const WINDOW_SECS: u64 = 900;

/// The budgets a reservation is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_source: usize,
    pub all_sources: usize,
    pub window: u64,
}

impl Budget {
    /// The SPEC's budgets.
    pub const PASSWORDS: Budget = Budget {
        per_source: PER_SOURCE,
        all_sources: ALL_SOURCES,
        window: WINDOW_SECS,
    };

    /// Compare-and-swap rounds before a reservation gives up (and is
    /// refused): each lost round means another reservation landed, so after
    /// `all_sources` of them the item is full and the next read refuses
    /// anyway; only concurrent releases can make it spin longer.
    pub fn cas_attempts(&self) -> usize {
        self.all_sources + 1
    }
}

/// The throttle key: the user's id when the user exists (so every path, by
/// username or by id, spends the same budget), else a hash of the name asked
/// for (fixed length, whatever the input).
pub fn throttle_key(user: Option<&User>, asked: &str) -> String {
    match user {
        Some(u) => format!("U#{}", u.user_id),
        None => format!(
            "N#{}",
            b64url(&sha256(normalize_username(asked).as_bytes()))
        ),
    }
}

/// Where a request came from: the caller's IP as the function URL reports it
/// (`requestContext.http.sourceIp`), never a header. IPv6 callers are grouped
/// by their /64 (one subscriber's allocation: an address per guess must not
/// buy a fresh budget), an IPv4-mapped IPv6 address counts as its IPv4
/// address. Kept only as a short hash, fixed length whatever the input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(String);

impl Source {
    /// The source of `ip` (as the event reports it); anything that does not
    /// parse shares one bucket (function URLs always report an address).
    pub fn from_ip(ip: Option<&str>) -> Source {
        let canonical = match ip.map(str::trim).and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            None => "unknown".to_owned(),
        };
        Source(b64url(&sha256(canonical.as_bytes()))[..16].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One reservation held in a slot: when, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub at: u64,
    pub source: String,
}

/// A granted reservation: the slot it holds (to give it back after a
/// correct password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub at: u64,
    pub source: String,
}

/// What the slots allow for one more reservation from `source` at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take this free slot (never used, or its reservation left the window).
    Take(usize),
    /// A budget is spent; its oldest reservation leaves the window in this
    /// many seconds (at least 1).
    Deny { retry_after: u64 },
}

/// The reservation times of a user's throttle item, slot by slot (`None` =
/// free). Slots beyond `budget.all_sources` are ignored.
pub struct ThrottleSlots<'a>(pub &'a [Option<Held>]);

impl ThrottleSlots<'_> {
    /// The per-source budget first (a guesser who spent theirs costs the
    /// user nothing more), then the budget of all sources.
    pub fn decide(&self, source: &Source, budget: Budget, now: u64) -> Decision {
        let window = budget.window;
        let live = |h: &&Held| h.at.saturating_add(window) > now;
        let slots = &self.0[..self.0.len().min(budget.all_sources)];
        let held: Vec<&Held> = slots.iter().flatten().filter(live).collect();
        let leaves = |hs: &mut dyn Iterator<Item = &&Held>| {
            hs.map(|h| h.at.saturating_add(window).saturating_sub(now))
                .min()
                .unwrap_or(1)
                .max(1)
        };
        let own = held.iter().filter(|h| h.source == source.as_str());
        if own.clone().count() >= budget.per_source {
            return Decision::Deny {
                retry_after: leaves(&mut own.into_iter()),
            };
        }
        let free = (0..budget.all_sources)
            .filter(|&i| {
                slots
                    .get(i)
                    .is_none_or(|s| s.as_ref().is_none_or(|h| !live(&h)))
            })
            // The oldest first: a free slot, then the longest-expired one.
            .min_by_key(|&i| slots.get(i).and_then(|s| s.as_ref()).map_or(0, |h| h.at));
        match free {
            Some(i) => Decision::Take(i),
            None => Decision::Deny {
                retry_after: leaves(&mut held.iter()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Budget, Decision, Held, Source, ThrottleSlots};

    fn held(at: u64, source: &Source) -> Option<Held> {
        Some(Held {
            at,
            source: source.as_str().to_owned(),
        })
    }

    const B: Budget = Budget {
        per_source: 2,
        all_sources: 3,
        window: 900,
    };

    #[test]
    fn sources_are_canonical_and_ipv6_is_grouped_by_64() {
        let s = |ip: &str| Source::from_ip(Some(ip));
        assert_eq!(s("10.0.0.5"), s("::ffff:10.0.0.5"));
        assert_eq!(s("2001:db8:1:2::1"), s("2001:db8:1:2:ffff::9"));
        assert_ne!(s("2001:db8:1:2::1"), s("2001:db8:1:3::1"));
        assert_ne!(s("10.0.0.5"), s("10.0.0.6"));
        assert_eq!(Source::from_ip(None), s("not an address"));
        assert_eq!(s("10.0.0.5").as_str().len(), 16);
    }

    #[test]
    fn the_per_source_budget_denies_before_the_shared_one() {
        let (a, b) = (
            Source::from_ip(Some("10.0.0.1")),
            Source::from_ip(Some("10.0.0.2")),
        );
        let slots = [held(100, &a), held(200, &a), None];
        assert_eq!(
            ThrottleSlots(&slots).decide(&a, B, 300),
            Decision::Deny { retry_after: 700 }
        );
        assert_eq!(ThrottleSlots(&slots).decide(&b, B, 300), Decision::Take(2));
        let full = [held(100, &a), held(200, &b), held(300, &b)];
        assert_eq!(
            ThrottleSlots(&full).decide(&Source::from_ip(Some("10.0.0.3")), B, 400),
            Decision::Deny { retry_after: 600 }
        );
        // The oldest reservation leaves exactly `window` seconds later.
        assert_eq!(
            ThrottleSlots(&full).decide(&a, B, 999),
            Decision::Deny { retry_after: 1 }
        );
        assert_eq!(ThrottleSlots(&full).decide(&a, B, 1000), Decision::Take(0));
    }

    #[test]
    fn whatever_the_times_no_budget_is_exceeded_in_any_window() {
        let sources: Vec<Source> = (0..4)
            .map(|i| Source::from_ip(Some(&format!("10.0.0.{i}"))))
            .collect();
        let mut slots: Vec<Option<Held>> = vec![None; 3];
        let mut granted: Vec<(u64, usize)> = Vec::new();
        for (step, now) in (0..6000).step_by(7).enumerate() {
            let who = (step * 7 + step / 3) % sources.len();
            if let Decision::Take(i) = ThrottleSlots(&slots).decide(&sources[who], B, now) {
                slots[i] = held(now, &sources[who]);
                granted.push((now, who));
            }
        }
        assert!(granted.len() > 10);
        for (i, (t, _)) in granted.iter().enumerate() {
            let in_window: Vec<_> = granted[i..]
                .iter()
                .take_while(|(u, _)| *u < t + 900)
                .collect();
            assert!(
                in_window.len() <= 3,
                "{} in the window from {t}",
                in_window.len()
            );
            for s in 0..sources.len() {
                let own = in_window.iter().filter(|(_, w)| *w == s).count();
                assert!(own <= 2, "{own} from source {s} in the window from {t}");
            }
        }
    }
}
