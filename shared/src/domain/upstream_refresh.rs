//! When and how long an upstream refresh may take (SPEC: Upstream providers —
//! Freshness, Refreshing; research §4.3, §4.5).
//!
//! The timing chain that makes a lease safe on Lambda:
//! `UPSTREAM_CALL < FUNCTION_TIMEOUT < LEASE`. Lambda kills a holder at its
//! function's timeout, so a lease longer than that timeout can never expire
//! under a live holder (no second sandbox uses the same single-use refresh
//! token while the first may still be waiting for its answer), and the
//! upstream call's own timeout leaves the holder time to commit what it got.
//!
//! The template (infra/template.yaml, checked by infra/tests) gives the token
//! function `Timeout: 20` ([`FUNCTION_TIMEOUT`]); the maintenance function
//! runs for up to 300 s and gives each connection's refresh its own deadline
//! of [`FUNCTION_TIMEOUT`] (`oauth::upkeep`) — the generation fence keeps a
//! late commit safe either way.

use std::time::Duration;

/// One upstream token endpoint call (connect + answer). A lost answer's one
/// retry is a second call, started only with this much time left plus 1 s.
pub const UPSTREAM_CALL: Duration = Duration::from_secs(8);
/// The timeout a refreshing function must run with (or its per-refresh
/// deadline): the upstream call, then the commit and its retries.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a refresh holds a connection.
pub const LEASE: Duration = Duration::from_secs(30);
/// Do not start an upstream call with less than this left before the deadline.
pub const MIN_TIME_TO_START: Duration = Duration::from_secs(UPSTREAM_CALL.as_secs() + 1);
/// After a transient failure, no one calls the provider for this connection
/// again for this long (answer 503 with Retry-After meanwhile).
pub const TRANSIENT_COOLDOWN: Duration = Duration::from_secs(30);

const _: () = assert!(UPSTREAM_CALL.as_secs() < FUNCTION_TIMEOUT.as_secs());
const _: () = assert!(FUNCTION_TIMEOUT.as_secs() < LEASE.as_secs());

/// The freshness margin for a token that lives `lifetime` seconds: a fifth of
/// it, at least 30 s, at most 5 min.
pub fn freshness_margin(lifetime: u64) -> u64 {
    (lifetime / 5).clamp(30, 300)
}

/// Whether the cached token issued at `issued_at`, expiring at `expires_at`,
/// may still be served at `now` (more than the margin left).
pub fn is_fresh(issued_at: u64, expires_at: u64, now: u64) -> bool {
    let margin = freshness_margin(expires_at.saturating_sub(issued_at));
    expires_at.saturating_sub(now) > margin
}

/// When a lease taken at `now` ends.
pub fn lease_until(now: u64) -> u64 {
    now.saturating_add(LEASE.as_secs())
}

/// Whether a refresh may start with `remaining` time before the deadline.
pub fn may_start(remaining: Duration) -> bool {
    remaining >= MIN_TIME_TO_START
}

/// The longest `expires_in` believed (a year): a bogus huge value must not
/// make a token be served forever.
pub const MAX_EXPIRES_IN: u64 = 365 * 86_400;

/// A token answer's `expires_in`, leniently: a JSON number (an integer, or a
/// float, truncated), a string of ASCII digits (B2C sends `"3600"`), or absent
/// (`null` too) → `default` (the preset's). Anything else (a negative number,
/// a non-numeric string, a boolean, an object) is also `default`: the answer
/// carried a token, and refusing it would burn a rotated refresh token. The
/// result is at least 1 and at most [`MAX_EXPIRES_IN`].
pub fn expires_in(value: Option<&serde_json::Value>, default: u64) -> u64 {
    use serde_json::Value;
    let parsed = match value {
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.min(MAX_EXPIRES_IN as f64) as u64)
        }),
        Some(Value::String(s)) => {
            let t = s.trim();
            if !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse::<u64>().ok()
            } else {
                None
            }
        }
        _ => None,
    };
    parsed.unwrap_or(default).clamp(1, MAX_EXPIRES_IN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn margin_is_a_fifth_clamped_to_30_s_and_5_min() {
        assert_eq!(freshness_margin(600), 120); // Maximizer
        assert_eq!(freshness_margin(86_400), 300); // Keap
        assert_eq!(freshness_margin(60), 30);
        assert_eq!(freshness_margin(0), 30);
        assert_eq!(freshness_margin(1500), 300);
    }

    #[test]
    fn served_only_while_more_than_the_margin_is_left() {
        // 600 s token issued at 1000: margin 120, so fresh until 1480.
        assert!(is_fresh(1000, 1600, 1479));
        assert!(!is_fresh(1000, 1600, 1480));
        assert!(!is_fresh(1000, 1600, 1700));
        // A token shorter than 30 s is never served from the cache.
        assert!(!is_fresh(1000, 1020, 1000));
    }

    #[test]
    fn the_lease_outlives_the_function_which_outlives_the_call() {
        assert!(UPSTREAM_CALL < FUNCTION_TIMEOUT && FUNCTION_TIMEOUT < LEASE);
        assert_eq!(lease_until(100), 130);
        assert!(may_start(Duration::from_secs(9)));
        assert!(!may_start(Duration::from_millis(8_999)));
    }

    #[test]
    fn expires_in_is_a_number_a_numeric_string_or_the_default() {
        assert_eq!(expires_in(Some(&json!(600)), 3600), 600);
        assert_eq!(expires_in(Some(&json!("3600")), 60), 3600);
        assert_eq!(expires_in(Some(&json!(" 3600 ")), 60), 3600);
        assert_eq!(expires_in(Some(&json!(599.9)), 60), 599);
        assert_eq!(expires_in(None, 3600), 3600);
        assert_eq!(expires_in(Some(&json!(null)), 3600), 3600);
    }

    #[test]
    fn garbage_expires_in_falls_back_to_the_default() {
        for v in [
            json!(-5),
            json!(-0.5),
            json!("soon"),
            json!("1e3"),
            json!("-60"),
            json!(""),
            json!(true),
            json!({"s": 1}),
            json!("99999999999999999999"),
        ] {
            assert_eq!(expires_in(Some(&v), 900), 900, "{v}");
        }
    }

    #[test]
    fn expires_in_is_bounded() {
        assert_eq!(expires_in(Some(&json!(0)), 900), 1);
        assert_eq!(expires_in(Some(&json!(u64::MAX)), 900), MAX_EXPIRES_IN);
        assert_eq!(expires_in(Some(&json!(1e300)), 900), MAX_EXPIRES_IN);
        assert_eq!(expires_in(None, 0), 1);
    }
}
