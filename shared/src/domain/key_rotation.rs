//! Signing keys rotate by themselves (SPEC: Tokens): publish, then sign, then
//! retire — and never sign with a key a verifier could not have seen.
//!
//! - A new key is *published* (in the tenant's JWKS) first; it starts
//!   *signing* only [`PROPAGATION`] seconds later, once every cache that could
//!   hold the JWKS without it has expired: the JWKS response's
//!   `Cache-Control: max-age` ([`JWKS_MAX_AGE`]), the functions' tenant-record
//!   cache ([`RECORD_CACHE`], which introspection verifies against), plus a
//!   margin. The switch is a time, not a write: a function signs with the new
//!   key once that time has come, whichever copy of the key set it holds.
//! - A function may hold its copy of the key set for [`KEY_SET_CACHE`]
//!   seconds, so a replaced key that was published but not yet signing
//!   (`key rotate` twice in quick succession) can never sign: its switch time
//!   is later than any copy that still names it can live ([`PROPAGATION`] >
//!   [`KEY_SET_CACHE`]).
//! - Every key it replaced stays published until every token it signed has
//!   expired: the switch, plus the functions' key-set cache (a warm copy may
//!   still sign with it), plus the longest token life (the access token
//!   lifetime or the sliding maximum), plus the margin. Each replaced key
//!   keeps its own retirement time: a rotation never pushes out a key whose
//!   tokens may still be alive (with a sliding maximum longer than the
//!   rotation period, several replaced keys are published at once). At most
//!   [`MAX_RETIRING`] are: a rotation that would need one more waits until
//!   the oldest leaves (`key rotate` says when).
//! - The maintenance function publishes a next key when the current one is
//!   `--key-rotation-days` old (default [`DEFAULT_ROTATION_DAYS`]).
//! - A key change writes two stores: the tenant item (JWKS, under a
//!   generation number, by a conditional write) first, then the key set
//!   (Secrets Manager). A writer that finds the key set behind the tenant's
//!   generation waits [`COMMIT_GRACE`] for the other writer's second write;
//!   past that it takes the other writer to have died between its writes and
//!   carries on from the key set it has, keeping every key the JWKS names.

/// `Cache-Control: max-age` of the JWKS and the metadata (discovery).
pub const JWKS_MAX_AGE: u64 = 300;
/// How long the functions keep a tenant record (its JWKS) in memory.
pub const RECORD_CACHE: u64 = 30;
/// How long the functions keep a tenant's key set in memory.
pub const KEY_SET_CACHE: u64 = 300;
/// Slack for clocks and in-flight requests.
pub const MARGIN: u64 = 60;
/// From publication to signing.
pub const PROPAGATION: u64 = JWKS_MAX_AGE + RECORD_CACHE + MARGIN;
pub const DEFAULT_ROTATION_DAYS: u64 = 90;
/// How many replaced keys may be published at once (each until its own
/// retirement): bounds the JWKS and the secret.
pub const MAX_RETIRING: usize = 8;
/// How long after a key change committed on the tenant item its key set may
/// still be on its way to Secrets Manager (one write, within the SDK's
/// timeouts); a key set behind the tenant for longer was abandoned.
pub const COMMIT_GRACE: u64 = MARGIN;
/// When the maintenance looks again at a tenant whose upkeep failed.
pub const RETRY_FAILED: u64 = 3_600;

/// When a key published at `published_at` may sign.
pub fn signs_from(published_at: u64) -> u64 {
    published_at.saturating_add(PROPAGATION)
}

/// When a key that stopped signing at `switched_at` may leave the JWKS.
pub fn retire_at(switched_at: u64, longest_token_life: u64) -> u64 {
    switched_at
        .saturating_add(KEY_SET_CACHE)
        .saturating_add(longest_token_life)
        .saturating_add(MARGIN)
}

/// When a current key made at `since` is due for rotation.
pub fn rotation_at(since: u64, rotation_days: u64) -> u64 {
    since.saturating_add(rotation_days.saturating_mul(86_400))
}

/// Whether a current key made at `since` is due for rotation at `now`.
pub fn rotation_due(since: u64, rotation_days: u64, now: u64) -> bool {
    now >= rotation_at(since, rotation_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_pending_key_can_never_sign() {
        // Any copy of the key set that names a pending key dies before it may sign.
        const { assert!(PROPAGATION > KEY_SET_CACHE) };
        assert_eq!(signs_from(1_000), 1_390);
    }

    #[test]
    fn the_old_key_outlives_every_token_it_signed() {
        // Switched at 2_000; a warm copy signs with it until 2_300; that
        // token lives a day (sliding maximum).
        assert!(retire_at(2_000, 86_400) > 2_000 + KEY_SET_CACHE + 86_400);
    }

    #[test]
    fn rotation_is_due_after_the_configured_days() {
        assert!(!rotation_due(0, 90, 90 * 86_400 - 1));
        assert!(rotation_due(0, 90, 90 * 86_400));
    }
}
