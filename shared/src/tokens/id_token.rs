//! A sign-in provider's ID token (SPEC: Federated sign-in; OIDC Core
//! §3.1.3.7), judged by the trusted-issuer verifier (`trusted_issuers`:
//! RFC 8725 — RS256, PS256 or ES256 only, never `none` or HS*; a published
//! key of the token's type, fetched through the provider's `jwks_uri` and
//! refetched for an unknown `kid` at most once a minute; `iss` exactly the
//! provider's issuer; `aud` containing Tollgate's client id at the provider;
//! `exp`/`nbf`/`iat` with 60 s leeway; a `sub`), plus what a sign-in adds:
//! `azp` (required with several audiences, and Tollgate's client id whenever
//! present) and the `nonce` this browser's sign-in was sent with.

use crate::crypto::ct_eq;
use crate::domain::providers::Provider;
use crate::domain::records::TrustedIssuer;
use crate::domain::token_exchange::{ClaimFailure, TokenKind};
use crate::ports::JsonFetcher;
use crate::tokens::trusted_issuers::{self, KeyCache, Refusal, Unverified};
use serde_json::{Map, Value};

/// Why an ID token was refused: a fixed word (the audit's reason).
pub fn reason(r: &Refusal) -> &'static str {
    match r {
        Refusal::Malformed => "malformed",
        Refusal::Algorithm => "algorithm",
        Refusal::Type => "type",
        Refusal::UntrustedIssuer => "untrusted_issuer",
        Refusal::UnknownKey => "unknown_key",
        Refusal::Signature => "signature",
        Refusal::KeysUnavailable => "keys_unavailable",
        Refusal::Claims(c) => match c {
            ClaimFailure::WrongIssuer => "wrong_issuer",
            ClaimFailure::WrongAudience => "wrong_audience",
            ClaimFailure::Expired => "expired",
            ClaimFailure::NotYetValid => "not_yet_valid",
            ClaimFailure::IssuedInFuture => "issued_in_future",
            ClaimFailure::NoIssuedAt => "no_issued_at",
            ClaimFailure::NoSubject => "no_subject",
            ClaimFailure::NotAUserToken => "not_a_user_token",
        },
    }
}

/// What an ID token failed on beyond the shared verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Verifier(&'static str),
    /// No `nonce`, or not this sign-in's.
    Nonce,
    /// Several audiences without `azp`, or an `azp` that is not Tollgate.
    AuthorizedParty,
    /// The provider has no issuer (not an OpenID provider any more).
    NoIssuer,
}

impl Failure {
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Verifier(r) => r,
            Failure::Nonce => "nonce",
            Failure::AuthorizedParty => "azp",
            Failure::NoIssuer => "no_issuer",
        }
    }
}

/// The provider as the verifier's trusted issuer: its issuer, its JWKS, and
/// Tollgate's client id there as the only audience.
fn as_issuer(p: &Provider) -> Option<TrustedIssuer> {
    Some(TrustedIssuer {
        tenant: p.tenant.clone(),
        issuer: p.endpoints.issuer.clone()?,
        audiences: vec![p.client_id.clone()],
        jwks_uri: p.endpoints.jwks_uri.clone(),
        create_users: p.create_users,
        created_at: p.created_at,
    })
}

/// Validates `raw` (the code exchange's `id_token`) for `provider`, expecting
/// `nonce`, at `now` (seconds): the verified claims.
pub async fn validate(
    raw: &str,
    provider: &Provider,
    nonce: &str,
    keys: &KeyCache,
    fetcher: &dyn JsonFetcher,
    now: u64,
) -> Result<Map<String, Value>, Failure> {
    let issuer = as_issuer(provider).ok_or(Failure::NoIssuer)?;
    let token = Unverified::parse(raw).ok_or(Failure::Verifier("malformed"))?;
    let claims = trusted_issuers::verify(
        token,
        TokenKind::ExternalIdToken,
        &issuer,
        keys,
        fetcher,
        now,
    )
    .await
    .map_err(|r| Failure::Verifier(reason(&r)))?;
    check_nonce(&claims, nonce)?;
    check_azp(&claims, &provider.client_id)?;
    Ok(claims)
}

fn check_nonce(claims: &Map<String, Value>, nonce: &str) -> Result<(), Failure> {
    match claims.get("nonce").and_then(Value::as_str) {
        Some(n) if ct_eq(n.as_bytes(), nonce.as_bytes()) => Ok(()),
        _ => Err(Failure::Nonce),
    }
}

/// OIDC Core §3.1.3.7 items 4 and 5: with several audiences `azp` must be
/// there, and when there it must be Tollgate's client id.
fn check_azp(claims: &Map<String, Value>, client_id: &str) -> Result<(), Failure> {
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        None if several => Err(Failure::AuthorizedParty),
        None => Ok(()),
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(Failure::AuthorizedParty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn the_nonce_must_be_this_sign_ins() {
        assert!(check_nonce(&claims(json!({"nonce": "n1"})), "n1").is_ok());
        assert_eq!(
            check_nonce(&claims(json!({"nonce": "n2"})), "n1"),
            Err(Failure::Nonce)
        );
        assert_eq!(check_nonce(&claims(json!({})), "n1"), Err(Failure::Nonce));
        assert_eq!(
            check_nonce(&claims(json!({"nonce": 1})), "n1"),
            Err(Failure::Nonce)
        );
    }

    #[test]
    fn azp_is_required_with_several_audiences_and_must_be_tollgate() {
        let ok = |v| check_azp(&claims(v), "tg").is_ok();
        assert!(ok(json!({"aud": "tg"})));
        assert!(ok(json!({"aud": ["tg"]})));
        assert!(ok(json!({"aud": ["tg", "other"], "azp": "tg"})));
        assert!(!ok(json!({"aud": ["tg", "other"]})));
        assert!(!ok(json!({"aud": ["tg", "other"], "azp": "other"})));
        assert!(!ok(json!({"aud": "tg", "azp": "other"})));
        assert!(!ok(json!({"aud": "tg", "azp": 5})));
    }
}
