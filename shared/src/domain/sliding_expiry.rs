//! Sliding expiry (SPEC: Introspection; Maximizer): for a tenant created with
//! `--sliding-max SECS`, an access token stays active while each use comes
//! within `access_token_ttl` of the previous one (issue counts as the first
//! use), but never past `iat + SECS`. A use (an introspection or a userinfo
//! call that finds the token active) moves the deadline to
//! `now + access_token_ttl`, capped. To keep this cheap a use writes at most
//! once a minute per token ([`WRITE_INTERVAL`]), so a deadline may be up to 60 s
//! earlier than exact. Offline verifiers see the JWT's fixed `exp`.

/// Seconds between two writes of one token's deadline.
pub const WRITE_INTERVAL: u64 = 60;

/// One token's sliding window.
#[derive(Debug, Clone, Copy)]
pub struct Sliding {
    pub iat: u64,
    /// The JWT's `exp` (`iat + access_token_ttl`): the first deadline.
    pub exp: u64,
    pub ttl: u64,
    /// The tenant's `--sliding-max`.
    pub max: u64,
}

impl Sliding {
    /// Never active past this.
    pub fn cap(&self) -> u64 {
        self.iat.saturating_add(self.max)
    }

    /// The deadline now in force: the later of the JWT's `exp` and the stored
    /// deadline, capped.
    pub fn deadline(&self, stored: Option<u64>) -> u64 {
        self.exp.max(stored.unwrap_or(0)).min(self.cap())
    }

    /// The deadline a use at `now` should write, if any: `now + ttl` (capped)
    /// when that is later than `deadline` and the last write is at least
    /// [`WRITE_INTERVAL`] old. The caller checks `now < deadline` first.
    pub fn extension(&self, deadline: u64, last_write: Option<u64>, now: u64) -> Option<u64> {
        let next = now.saturating_add(self.ttl).min(self.cap());
        let quiet = last_write.is_none_or(|w| now >= w.saturating_add(WRITE_INTERVAL));
        (next > deadline && quiet).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maximizer: 600 s, extended by every use, at most 24 h.
    const MAXIMIZER: Sliding = Sliding {
        iat: 1_000,
        exp: 1_600,
        ttl: 600,
        max: 86_400,
    };

    #[test]
    fn expiry_is_exactly_at_the_deadline() {
        assert_eq!(MAXIMIZER.deadline(None), 1_600);
        // Active while now < deadline: at 1_599 yes, at 1_600 no.
        assert!(1_599 < MAXIMIZER.deadline(None));
        assert!(1_600 >= MAXIMIZER.deadline(None));
    }

    #[test]
    fn a_use_moves_the_deadline_to_now_plus_ttl() {
        assert_eq!(MAXIMIZER.extension(1_600, None, 1_300), Some(1_900));
        assert_eq!(MAXIMIZER.deadline(Some(1_900)), 1_900);
    }

    #[test]
    fn writes_happen_at_most_once_a_minute() {
        assert_eq!(MAXIMIZER.extension(1_900, Some(1_300), 1_359), None);
        assert_eq!(MAXIMIZER.extension(1_900, Some(1_300), 1_360), Some(1_960));
    }

    #[test]
    fn the_deadline_never_passes_iat_plus_max() {
        let late = 1_000 + 86_400 - 100;
        assert_eq!(MAXIMIZER.extension(late, None, late - 50), Some(87_400));
        assert_eq!(MAXIMIZER.deadline(Some(99_999)), 87_400);
        assert_eq!(MAXIMIZER.extension(87_400, None, 87_399), None);
    }

    #[test]
    fn a_stored_earlier_deadline_never_shortens_the_jwt_exp() {
        assert_eq!(MAXIMIZER.deadline(Some(1_200)), 1_600);
    }
}
