//! Refresh-token rotation and the retry window (SPEC: Token). A refresh token
//! works once: using it rotates it to a successor. Presenting a rotated token
//! again is reuse, which revokes its whole family — except an *exact retry*:
//! the same client, the same token and the same requested `scope`, within
//! [`RETRY_WINDOW`] seconds of the moment the rotation committed, while the
//! successor is still unused. That gets the same successor (a lost response
//! must not log the user out). The rotation state is judged before anything
//! else about the request.

use crate::crypto::{b64url, hmac_sha256};
use crate::domain::scope;

/// A retry of the same old token within this many seconds is not reuse.
pub const RETRY_WINDOW: u64 = 10;

/// The successor of a token: `HMAC(old token, salt)`. Only a holder of the old
/// token can recompute it, and the salt is random per rotation, so an exact
/// retry is answered without storing the successor itself.
pub fn successor_of(token: &str, salt: &str) -> String {
    b64url(&hmac_sha256(token.as_bytes(), salt.as_bytes()))
}

/// The requested scope in the form recorded at rotation (`""` when none was
/// asked for); `None` when it is malformed (which can never match).
pub fn recorded_scope(requested: Option<&str>) -> Option<String> {
    match requested {
        None => Some(String::new()),
        Some(r) => scope::parse(r).ok().map(|v| scope::join(&v)),
    }
}

/// What was presented again, against what the rotation recorded.
pub struct Presented<'a> {
    pub same_client: bool,
    /// [`recorded_scope`] of this request.
    pub scope: Option<&'a str>,
    pub now: u64,
}

/// What the rotation recorded.
pub struct Rotation<'a> {
    pub committed_at: u64,
    pub scope: &'a str,
    /// The successor recomputed from the presented token matches the stored one
    /// and is still unused.
    pub successor_live: bool,
}

/// Exact retry (answer with the same successor) or reuse (revoke the family).
pub fn is_exact_retry(p: &Presented<'_>, r: &Rotation<'_>) -> bool {
    p.same_client
        && p.scope == Some(r.scope)
        && p.now.saturating_sub(r.committed_at) <= RETRY_WINDOW
        && p.now >= r.committed_at.saturating_sub(RETRY_WINDOW)
        && r.successor_live
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(now: u64) -> Presented<'static> {
        Presented {
            same_client: true,
            scope: Some("api"),
            now,
        }
    }

    const ROTATION: Rotation<'static> = Rotation {
        committed_at: 1000,
        scope: "api",
        successor_live: true,
    };

    #[test]
    fn the_window_is_ten_seconds_from_the_commit() {
        assert!(is_exact_retry(&presented(1000), &ROTATION));
        assert!(is_exact_retry(&presented(1010), &ROTATION));
        assert!(!is_exact_retry(&presented(1011), &ROTATION));
    }

    #[test]
    fn anything_but_the_same_request_is_reuse() {
        let other_client = Presented {
            same_client: false,
            ..presented(1001)
        };
        assert!(!is_exact_retry(&other_client, &ROTATION));
        let other_scope = Presented {
            scope: Some("read"),
            ..presented(1001)
        };
        assert!(!is_exact_retry(&other_scope, &ROTATION));
        let malformed = Presented {
            scope: None,
            ..presented(1001)
        };
        assert!(!is_exact_retry(&malformed, &ROTATION));
        let used = Rotation {
            successor_live: false,
            ..ROTATION
        };
        assert!(!is_exact_retry(&presented(1001), &used));
    }

    #[test]
    fn recorded_scope_normalises_and_rejects_malformed() {
        assert_eq!(recorded_scope(None).as_deref(), Some(""));
        assert_eq!(recorded_scope(Some("a  b a")).as_deref(), Some("a b"));
        assert_eq!(recorded_scope(Some("a\"b")), None);
    }

    #[test]
    fn successors_depend_on_token_and_salt() {
        assert_eq!(successor_of("t", "s"), successor_of("t", "s"));
        assert_ne!(successor_of("t", "s"), successor_of("t", "s2"));
        assert_ne!(successor_of("t", "s"), successor_of("u", "s"));
    }
}
