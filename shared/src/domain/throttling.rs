//! Throttling of password checks (SPEC: Callback). At most [`MAX_ATTEMPTS`]
//! passwords are checked per user per [`WINDOW_SECS`], a sliding window,
//! however many requests arrive at once, across the login page, the password
//! grant and change password. An attempt is *reserved* before the password is
//! verified (one conditional write on one slot), never counted afterwards.

use crate::crypto::{b64url, sha256};
use crate::domain::records::{User, normalize_username};

/// Password checks allowed per user per window.
pub const MAX_ATTEMPTS: usize = 5;
pub const WINDOW_SECS: u64 = 900;

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

/// The reservation times of a throttle (one per slot, `None` = never used).
pub struct ThrottleSlots<'a>(pub &'a [Option<u64>]);

impl ThrottleSlots<'_> {
    /// A slot that is free, or whose reservation has left the sliding window
    /// `(now - window, now]`: the oldest such slot.
    pub fn free(&self, now: u64, window: u64) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_none_or(|t| t.saturating_add(window) <= now))
            .min_by_key(|(_, t)| t.unwrap_or(0))
            .map(|(i, _)| i)
    }

    /// Seconds until the oldest reservation leaves the window (at least 1).
    pub fn retry_after(&self, now: u64, window: u64) -> u64 {
        self.0
            .iter()
            .flatten()
            .min()
            .map(|t| t.saturating_add(window).saturating_sub(now))
            .unwrap_or(0)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::ThrottleSlots;

    #[test]
    fn throttle_slots_slide_without_an_edge() {
        let slots = [Some(100), Some(200), None];
        assert_eq!(ThrottleSlots(&slots).free(300, 900), Some(2));
        let full = [Some(100), Some(200), Some(300)];
        assert_eq!(ThrottleSlots(&full).free(999, 900), None);
        assert_eq!(ThrottleSlots(&full).retry_after(999, 900), 1);
        assert_eq!(ThrottleSlots(&full).free(1000, 900), Some(0));
        assert_eq!(ThrottleSlots(&full).retry_after(500, 900), 500);
        // Whatever the time, never more than three reservations in 900 s.
        let mut s = [None; 3];
        let mut granted = Vec::new();
        for now in (0..5000).step_by(7) {
            if let Some(i) = ThrottleSlots(&s).free(now, 900) {
                s[i] = Some(now);
                granted.push(now);
            }
        }
        for (i, t) in granted.iter().enumerate() {
            let in_window = granted[i..].iter().take_while(|u| **u < t + 900).count();
            assert!(
                in_window <= 3,
                "{in_window} reservations in the window from {t}"
            );
        }
    }
}
