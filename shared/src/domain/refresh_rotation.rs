//! Refresh-token rotation and the retry window (SPEC: Token). A refresh token
//! works once: using it rotates it to a successor. Presenting a rotated token
//! again is reuse, which revokes its whole family — except an *exact retry*:
//! the same client, the same token and the same requested `scope` (compared
//! as a set: `a b` = `b a`), within
//! [`RETRY_WINDOW`] seconds of the moment the rotation committed, while the
//! successor is still unused. That gets the same successor (a lost response
//! must not log the user out). The rotation state is judged before anything
//! else about the request.

use crate::crypto::{b64url, b64url_decode, ct_eq, hmac_sha256};
use crate::domain::scope;

/// A retry of the same old token within this many seconds is not reuse.
pub const RETRY_WINDOW: u64 = 10;

/// A refresh token: `{family id}.{base64url(generation ‖ secret ‖ tag)}`
/// (8 + 32 + 16 bytes). The family id says which family item to read (one
/// strongly consistent read, no index); the secret carries the 256 bits of
/// randomness (random for the first token, `HMAC(key, salt, secret)` of its
/// predecessor after that, with a random salt per rotation); the tag, `HMAC(key, family, generation, secret)`
/// cut to 128 bits, proves the server made it. One `.`, so it is never
/// mistaken for a JWT.
pub struct TokenParts<'a> {
    pub family_id: &'a str,
    pub generation: u64,
    secret: [u8; SECRET_LEN],
    tag: [u8; TAG_LEN],
}

const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
const PAYLOAD_LEN: usize = 8 + SECRET_LEN + TAG_LEN;
/// Family ids are 22 characters; anything much longer is not ours.
const MAX_FAMILY_ID: usize = 64;

/// Splits a presented refresh token; `None` when it cannot be one of ours.
/// Nothing is verified here (see [`TokenParts::genuine`]).
pub fn parse(token: &str) -> Option<TokenParts<'_>> {
    let (family_id, payload) = token.split_once('.')?;
    let id_ok = !family_id.is_empty()
        && family_id.len() <= MAX_FAMILY_ID
        && family_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok || payload.len() > 128 {
        return None;
    }
    let bytes = b64url_decode(payload)?;
    if bytes.len() != PAYLOAD_LEN {
        return None;
    }
    let (generation, rest) = bytes.split_at(8);
    let (secret, tag) = rest.split_at(SECRET_LEN);
    Some(TokenParts {
        family_id,
        generation: u64::from_be_bytes(generation.try_into().ok()?),
        secret: secret.try_into().ok()?,
        tag: tag.try_into().ok()?,
    })
}

fn tag_of(key: &[u8], family_id: &str, generation: u64, secret: &[u8]) -> [u8; TAG_LEN] {
    let mut msg = Vec::with_capacity(16 + family_id.len() + 8 + SECRET_LEN);
    msg.extend_from_slice(b"tollgate-rt-tag\0");
    msg.extend_from_slice(family_id.as_bytes());
    msg.push(0);
    msg.extend_from_slice(&generation.to_be_bytes());
    msg.extend_from_slice(secret);
    let mac = hmac_sha256(key, &msg);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&mac[..TAG_LEN]);
    tag
}

fn encode(key: &[u8], family_id: &str, generation: u64, secret: &[u8; SECRET_LEN]) -> String {
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.extend_from_slice(&generation.to_be_bytes());
    payload.extend_from_slice(secret);
    payload.extend_from_slice(&tag_of(key, family_id, generation, secret));
    format!("{family_id}.{}", b64url(&payload))
}

/// A family's first refresh token (generation 0) from its key and a fresh
/// random secret.
pub fn first_token(key: &[u8], family_id: &str, secret: &[u8; SECRET_LEN]) -> String {
    encode(key, family_id, 0, secret)
}

impl TokenParts<'_> {
    /// Whether the server made this token with the family's key (constant time).
    pub fn genuine(&self, key: &[u8]) -> bool {
        ct_eq(
            &self.tag,
            &tag_of(key, self.family_id, self.generation, &self.secret),
        )
    }

    /// The token's successor under a rotation's `salt` (random per
    /// rotation, stored on the family until the next one). Only a holder of
    /// this token (its secret) can compute it, so an exact retry is answered
    /// without storing the successor; and storage alone (key, salt and
    /// hashes) yields no token that works.
    pub fn successor(&self, key: &[u8], salt: &[u8]) -> Option<String> {
        let next = self.generation.checked_add(1)?;
        let mut msg = Vec::with_capacity(32 + salt.len() + SECRET_LEN);
        msg.extend_from_slice(b"tollgate-rt-next\0");
        msg.extend_from_slice(&(salt.len() as u64).to_be_bytes());
        msg.extend_from_slice(salt);
        msg.extend_from_slice(&self.secret);
        Some(encode(key, self.family_id, next, &hmac_sha256(key, &msg)))
    }
}

/// Where a presented token stands in its family's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not made by the server for this family (or malformed): it revokes
    /// nothing.
    Forged,
    /// The newest token: it may rotate.
    Current,
    /// The token the last rotation replaced: an exact retry or reuse.
    Previous,
    /// An older token of the family: reuse.
    Older,
}

/// Judges a parsed token against its family's chain: `presented_hash` is the
/// `token_hash` of the whole presented token, `key` the chain's decoded key.
pub fn standing(
    parts: &TokenParts<'_>,
    presented_hash: &str,
    current_generation: u64,
    current_hash: &str,
    key: &[u8],
) -> Standing {
    if !parts.genuine(key) || parts.generation > current_generation {
        return Standing::Forged;
    }
    if parts.generation == current_generation {
        // Generations are unique, so a genuine token of the current
        // generation is the current token; the hash is checked all the same.
        return if ct_eq(presented_hash.as_bytes(), current_hash.as_bytes()) {
            Standing::Current
        } else {
            Standing::Forged
        };
    }
    if parts.generation + 1 == current_generation {
        Standing::Previous
    } else {
        Standing::Older
    }
}

/// The requested scope in the form recorded at rotation: its scope-tokens,
/// deduplicated and sorted (`b a` is recorded as `a b`), or `""` when none was
/// asked for; `None` when it is malformed (which can never match).
pub fn recorded_scope(requested: Option<&str>) -> Option<String> {
    match requested {
        None => Some(String::new()),
        Some(r) => scope::parse(r).ok().map(|mut v| {
            v.sort_unstable();
            scope::join(&v)
        }),
    }
}

/// Two recorded scopes name the same set of scope-tokens.
fn same_set(a: &str, b: &str) -> bool {
    fn set(s: &str) -> std::collections::HashSet<&str> {
        s.split(' ').filter(|t| !t.is_empty()).collect()
    }
    set(a) == set(b)
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
///
/// The scope compared is the *requested* one (SPEC: "the same requested
/// `scope`, compared as a set"), not the scope the request resulted in: `a b`
/// and `b a` are the same request, but a request without `scope` is not the
/// same as one naming the whole grant, although both yield the same access
/// token (RFC 6749 §6 treats an omitted scope as the original grant). A
/// client's retry resends its request as it was; one that changes its form
/// inside the window is treated as "anything else", which is reuse — the
/// stricter reading, on the side that revokes.
pub fn is_exact_retry(p: &Presented<'_>, r: &Rotation<'_>) -> bool {
    p.same_client
        && p.scope.is_some_and(|s| same_set(s, r.scope))
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
    fn the_requested_scope_is_compared_as_a_set() {
        let recorded = recorded_scope(Some("openid api")).unwrap();
        let rotation = Rotation {
            scope: &recorded,
            ..ROTATION
        };
        for same in [
            "api openid",
            "openid api",
            "openid api openid",
            " api  openid ",
        ] {
            let s = recorded_scope(Some(same));
            let p = Presented {
                scope: s.as_deref(),
                ..presented(1001)
            };
            assert!(is_exact_retry(&p, &rotation), "{same:?}");
        }
        for other in [Some("api"), Some("api openid email"), None] {
            let s = recorded_scope(other);
            let p = Presented {
                scope: s.as_deref(),
                ..presented(1001)
            };
            assert!(!is_exact_retry(&p, &rotation), "{other:?}");
        }
        // A rotation recorded in the request's order (before sorting) still matches.
        let unsorted = Rotation {
            scope: "openid api",
            ..ROTATION
        };
        let s = recorded_scope(Some("api openid"));
        let p = Presented {
            scope: s.as_deref(),
            ..presented(1001)
        };
        assert!(is_exact_retry(&p, &unsorted));
    }

    #[test]
    fn recorded_scope_normalises_and_rejects_malformed() {
        assert_eq!(recorded_scope(None).as_deref(), Some(""));
        assert_eq!(recorded_scope(Some("a  b a")).as_deref(), Some("a b"));
        assert_eq!(recorded_scope(Some("b a")).as_deref(), Some("a b"));
        assert_eq!(recorded_scope(Some("a\"b")), None);
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn chain() -> (String, String, String) {
        let t0 = first_token(KEY, "fam_1-x", &[7u8; 32]);
        let t1 = parse(&t0).unwrap().successor(KEY, b"salt-1").unwrap();
        let t2 = parse(&t1).unwrap().successor(KEY, b"salt-2").unwrap();
        (t0, t1, t2)
    }

    #[test]
    fn tokens_carry_their_family_and_generation_and_are_no_jwt() {
        let (t0, t1, t2) = chain();
        for (g, t) in [t0, t1, t2].iter().enumerate() {
            let p = parse(t).unwrap();
            assert_eq!(p.family_id, "fam_1-x");
            assert_eq!(p.generation, g as u64);
            assert!(p.genuine(KEY));
            assert_eq!(t.matches('.').count(), 1);
            assert!(t.len() < 128, "{}", t.len());
        }
    }

    #[test]
    fn successors_are_deterministic_and_depend_on_token_key_and_salt() {
        let (t0, t1, _) = chain();
        assert_eq!(parse(&t0).unwrap().successor(KEY, b"salt-1").unwrap(), t1);
        assert_ne!(parse(&t0).unwrap().successor(KEY, b"salt-2").unwrap(), t1);
        let other_key = b"another key of the same length!!";
        assert_ne!(
            parse(&t0).unwrap().successor(other_key, b"salt-1").unwrap(),
            t1
        );
        let other_first = first_token(KEY, "fam_1-x", &[8u8; 32]);
        assert_ne!(
            parse(&other_first)
                .unwrap()
                .successor(KEY, b"salt-1")
                .unwrap(),
            t1
        );
    }

    #[test]
    fn a_token_is_judged_by_its_place_in_the_chain() {
        let (t0, t1, t2) = chain();
        let current = crate::crypto::token_hash(&t2);
        let judge = |t: &str| {
            standing(
                &parse(t).unwrap(),
                &crate::crypto::token_hash(t),
                2,
                &current,
                KEY,
            )
        };
        assert_eq!(judge(&t2), Standing::Current);
        assert_eq!(judge(&t1), Standing::Previous);
        assert_eq!(judge(&t0), Standing::Older);
        // The next token is not issued yet: nobody can hold it legitimately.
        let t3 = parse(&t2).unwrap().successor(KEY, b"salt-3").unwrap();
        assert_eq!(judge(&t3), Standing::Forged);
    }

    #[test]
    fn anything_not_made_with_the_key_is_forged() {
        let (_, t1, t2) = chain();
        let current = crate::crypto::token_hash(&t2);
        // Another key (another family's, or a guess) with a known family id.
        let stranger = first_token(b"attacker", "fam_1-x", &[1u8; 32]);
        let p = parse(&stranger).unwrap();
        assert_eq!(
            standing(&p, &crate::crypto::token_hash(&stranger), 2, &current, KEY),
            Standing::Forged
        );
        // A bit flipped in the secret or the generation of a genuine token.
        let mut bytes = b64url_decode(t1.split_once('.').unwrap().1).unwrap();
        bytes[12] ^= 1;
        let tampered = format!("fam_1-x.{}", b64url(&bytes));
        assert!(!parse(&tampered).unwrap().genuine(KEY));
        let mut bytes = b64url_decode(t1.split_once('.').unwrap().1).unwrap();
        bytes[7] = 0;
        let regen = format!("fam_1-x.{}", b64url(&bytes));
        assert!(!parse(&regen).unwrap().genuine(KEY));
        // The same token under another family id.
        let moved = t1.replacen("fam_1-x", "fam_1-y", 1);
        assert!(!parse(&moved).unwrap().genuine(KEY));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let (t0, ..) = chain();
        for bad in [
            "",
            ".",
            "abc",
            "a.b",
            "a.b.c",
            &t0[..t0.len() - 1],
            &format!("{t0}A"),
            &format!("fam!.{}", t0.split_once('.').unwrap().1),
            &format!("{}.{}", "f".repeat(65), t0.split_once('.').unwrap().1),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
