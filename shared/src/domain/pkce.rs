//! PKCE (RFC 7636), S256 only (SPEC: Authorize, Token). A challenge is
//! required for public clients and clients registered with `--require-pkce`;
//! when a challenge was sent it is always enforced at the code exchange.

use crate::crypto::{b64url, ct_eq, sha256};
use crate::domain::records::Client;

/// PKCE S256: base64url(SHA-256(verifier)) compared in constant time.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    ct_eq(
        b64url(&sha256(verifier.as_bytes())).as_bytes(),
        challenge.as_bytes(),
    )
}

/// RFC 7636 §4.1: 43..128 unreserved characters.
pub fn is_valid_pkce_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is 43 base64url characters (32 bytes).
pub fn is_valid_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The authorization request's PKCE parameters, checked: the challenge to bind
/// to the code, or the reason (an `invalid_request` description) it is refused.
pub fn authorization_challenge(
    client: &Client,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, &'static str> {
    match (challenge, method) {
        (_, Some(m)) if m != "S256" => Err("code_challenge_method must be S256"),
        (Some(_), None) => Err("code_challenge_method must be S256 (plain is not supported)"),
        (None, Some(_)) => Err("code_challenge is missing"),
        (Some(c), Some(_)) if !is_valid_s256_challenge(c) => Err("malformed code_challenge"),
        (Some(c), Some(_)) => Ok(Some(c.to_owned())),
        (None, None) if client.public || client.require_pkce => {
            Err("PKCE (code_challenge with S256) is required for this client")
        }
        (None, None) => Ok(None),
    }
}

/// The code exchange: the verifier against the challenge the code carries;
/// `Err` is the `invalid_grant` description.
pub fn verify_exchange(
    challenge: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (Some(ch), Some(v)) if pkce_s256_matches(v, ch) => Ok(()),
        (Some(_), Some(_)) => Err("PKCE verification failed"),
        (Some(_), None) => Err("code_verifier is required"),
        (None, Some(_)) => {
            Err("code_verifier sent but the authorization request had no code_challenge")
        }
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_valid_pkce_verifier(verifier));
        assert!(is_valid_s256_challenge(challenge));
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches("x".repeat(43).as_str(), challenge));
    }

    #[test]
    fn exchange_rules() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify_exchange(Some(c), Some(v)).is_ok());
        assert!(verify_exchange(Some(c), None).is_err());
        assert!(verify_exchange(None, Some(v)).is_err());
        assert!(verify_exchange(Some(c), Some(&"x".repeat(43))).is_err());
        assert!(verify_exchange(None, None).is_ok());
    }
}
