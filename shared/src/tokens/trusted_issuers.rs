//! Trusted external issuers (SPEC: Trusted issuers): their keys, fetched
//! through their discovery document and cached in the warm sandbox, and the
//! verification of the JWTs they sign (RFC 8725; the rules themselves are in
//! `domain::token_exchange`).
//!
//! Keys are fetched when an issuer is first used, again when the cached set is
//! older than [`KEYS_FRESH`], and again when a token names a `kid` the cached
//! set lacks — but never more often than once per [`MIN_REFETCH`] per issuer,
//! whatever happens, so a flood of tokens with forged `kid`s (or an issuer
//! that is down) costs the issuer at most one request a minute per sandbox.

use crate::domain::records::TrustedIssuer;
use crate::domain::token_exchange::{self as rules, ClaimFailure, ExternalAlg, TokenKind};
use crate::ports::FetchError;
use crate::ports::JsonFetcher;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A cached key set is used without refetching for this long (seconds).
pub const KEYS_FRESH: u64 = 600;
/// At most one fetch per issuer per this many seconds (per sandbox).
pub const MIN_REFETCH: u64 = 60;
/// After a failed refetch, an older key set keeps verifying for this long.
pub const KEYS_STALE_MAX: u64 = 3600;
/// Keys kept per issuer (a JWKS is a handful).
const MAX_KEYS: usize = 64;

/// The fetcher of every function but `token` (token exchange) and
/// `callback` (federated sign-in's ID tokens), which fetch issuers' keys.
pub struct NoFetcher;

impl JsonFetcher for NoFetcher {
    fn get_json<'a>(
        &'a self,
        _url: &'a str,
    ) -> crate::ports::BoxFuture<'a, Result<Value, FetchError>> {
        Box::pin(async {
            Err(FetchError(
                "issuers' keys are fetched by the token function only".into(),
            ))
        })
    }
}

#[derive(Clone, Default)]
struct Entry {
    keys: Arc<Vec<Value>>,
    /// When `keys` were fetched (0: never).
    fetched_at: u64,
    /// When a fetch was last tried, successful or not.
    attempted_at: Option<u64>,
}

/// Each trusted issuer's public keys, kept across invocations of a warm
/// sandbox. Times are the request's `now` (seconds), so tests drive it with a
/// manual clock.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl KeyCache {
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    fn entry(&self, issuer: &str) -> Entry {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(issuer)
            .cloned()
            .unwrap_or_default()
    }

    fn store(&self, issuer: &str, e: Entry) {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= 1024 && !map.contains_key(issuer) {
            map.clear();
        }
        map.insert(issuer.to_owned(), e);
    }

    /// The key to verify a token of `issuer` signed with `alg` and naming
    /// `kid`: from the cache, or after at most one fetch (see the module
    /// comment). `Ok(None)`: the issuer publishes no such key (yet). `Err`:
    /// the issuer's keys could not be had at all.
    pub async fn key(
        &self,
        fetcher: &dyn JsonFetcher,
        issuer: &TrustedIssuer,
        kid: Option<&str>,
        alg: ExternalAlg,
        now: u64,
    ) -> Result<Option<Value>, FetchError> {
        // Keyed by the issuer and where its keys come from: two tenants that
        // configure the same issuer differently never share (or poison) keys.
        let cache_key = format!(
            "{}\n{}",
            issuer.issuer,
            issuer.jwks_uri.as_deref().unwrap_or("")
        );
        let name = cache_key.as_str();
        let cached = self.entry(name);
        let have_keys = cached.fetched_at > 0;
        let fresh = have_keys && now.saturating_sub(cached.fetched_at) < KEYS_FRESH;
        let found = rules::select_key(&cached.keys, kid, alg).cloned();
        if fresh && found.is_some() {
            return Ok(found);
        }
        let may_fetch = cached
            .attempted_at
            .is_none_or(|at| now.saturating_sub(at) >= MIN_REFETCH);
        if !may_fetch {
            return if have_keys && now.saturating_sub(cached.fetched_at) < KEYS_STALE_MAX {
                Ok(found)
            } else if have_keys {
                Err(FetchError(
                    "the issuer's keys are stale and a refetch failed recently".into(),
                ))
            } else {
                Err(FetchError(
                    "the issuer's keys could not be fetched recently".into(),
                ))
            };
        }
        // Claim the attempt before the fetch, so concurrent requests in this
        // sandbox do not fetch too.
        self.store(
            name,
            Entry {
                attempted_at: Some(now),
                ..cached.clone()
            },
        );
        match fetch_keys(fetcher, issuer).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let found = rules::select_key(&keys, kid, alg).cloned();
                self.store(
                    name,
                    Entry {
                        keys,
                        fetched_at: now,
                        attempted_at: Some(now),
                    },
                );
                Ok(found)
            }
            Err(e) if have_keys && now.saturating_sub(cached.fetched_at) < KEYS_STALE_MAX => {
                tracing::warn!(issuer = %issuer.issuer, error = %e, "issuer keys refetch failed; using the cached set");
                Ok(found)
            }
            Err(e) => Err(e),
        }
    }
}

/// The issuer's JWKS: from `jwks_uri` when configured, else from the
/// `jwks_uri` of its discovery document, whose `issuer` must be exactly the
/// configured one (OIDC Discovery §4.3).
async fn fetch_keys(
    fetcher: &dyn JsonFetcher,
    issuer: &TrustedIssuer,
) -> Result<Vec<Value>, FetchError> {
    let jwks_uri = match &issuer.jwks_uri {
        Some(u) => u.clone(),
        None => {
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.issuer.trim_end_matches('/')
            );
            let doc = fetcher.get_json(&url).await?;
            if doc.get("issuer").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
                return Err(FetchError(
                    "the discovery document names another issuer".into(),
                ));
            }
            let named = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| FetchError("the discovery document has no jwks_uri".into()))?;
            crate::domain::outbound::allowed_discovered(named, &issuer.issuer)
                .map_err(|r| FetchError(r.0))?;
            named.to_owned()
        }
    };
    let jwks = fetcher.get_json(&jwks_uri).await?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError("the JWKS has no keys array".into()))?;
    // Only public keys are kept: a JWKS that (wrongly) carries private or
    // symmetric material never makes it into the cache.
    Ok(keys
        .iter()
        .filter(|k| k.get("d").is_none() && k.get("k").is_none())
        .take(MAX_KEYS)
        .cloned()
        .collect())
}

/// Why an external token was refused (logged; the client gets
/// `invalid_request` with a short description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Algorithm,
    Type,
    UntrustedIssuer,
    UnknownKey,
    Signature,
    Claims(ClaimFailure),
    KeysUnavailable,
}

impl Refusal {
    pub fn describe(&self) -> &'static str {
        match self {
            Refusal::Malformed => "subject_token is not a well-formed JWT",
            Refusal::Algorithm => "subject_token alg is not accepted (RS256, PS256, ES256 only)",
            Refusal::Type => "subject_token typ does not fit subject_token_type",
            Refusal::UntrustedIssuer => "subject_token issuer is not trusted by this tenant",
            Refusal::UnknownKey => "subject_token is signed with a key its issuer does not publish",
            Refusal::Signature => "subject_token signature does not verify",
            Refusal::Claims(c) => c.describe(),
            Refusal::KeysUnavailable => "the subject_token issuer's keys are unavailable",
        }
    }
}

/// A JWT split and decoded, not yet verified.
pub struct Unverified<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signed: &'a str,
    signature: Vec<u8>,
}

impl<'a> Unverified<'a> {
    pub fn parse(raw: &'a str) -> Option<Unverified<'a>> {
        use crate::crypto::b64url_decode;
        if raw.len() > rules::MAX_EXTERNAL_TOKEN {
            return None;
        }
        let mut parts = raw.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Unverified {
            header: serde_json::from_slice(&b64url_decode(h)?).ok()?,
            claims: serde_json::from_slice(&b64url_decode(c)?).ok()?,
            signed: &raw[..h.len() + 1 + c.len()],
            signature: b64url_decode(s)?,
        })
    }

    /// The `iss` the token claims (unverified: it only chooses whose keys to try).
    pub fn claimed_issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }
}

/// Verifies an external JWT of `kind` from `issuer` (the trusted issuer its
/// `iss` named) at `now`: algorithm, header, key, signature, then claims.
/// On success, the verified claims.
pub async fn verify(
    token: Unverified<'_>,
    kind: TokenKind,
    issuer: &TrustedIssuer,
    keys: &KeyCache,
    fetcher: &dyn JsonFetcher,
    now: u64,
) -> Result<Map<String, Value>, Refusal> {
    let text = |k: &str| token.header.get(k).and_then(Value::as_str);
    let alg = text("alg")
        .and_then(ExternalAlg::parse)
        .ok_or(Refusal::Algorithm)?;
    // RFC 7515 §4.1.11: an extension we do not understand must be refused.
    if token.header.contains_key("crit")
        || token.header.contains_key("jku")
        || token.header.contains_key("x5u")
        || token.header.contains_key("jwk")
    {
        return Err(Refusal::Malformed);
    }
    if token.header.get("typ").is_some_and(|t| !t.is_string())
        || !rules::typ_fits(kind, text("typ"))
    {
        return Err(Refusal::Type);
    }
    let kid = match token.header.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= 256 => Some(k.as_str()),
        Some(_) => return Err(Refusal::Malformed),
    };
    let jwk = keys
        .key(fetcher, issuer, kid, alg, now)
        .await
        .map_err(|e| {
            tracing::warn!(issuer = %issuer.issuer, error = %e, "trusted issuer keys unavailable");
            Refusal::KeysUnavailable
        })?
        .ok_or(Refusal::UnknownKey)?;
    if !crate::tokens::signer::verify_jws(&jwk, alg, token.signed.as_bytes(), &token.signature) {
        return Err(Refusal::Signature);
    }
    rules::check_claims(&token.claims, &issuer.issuer, &issuer.audiences, now)
        .map_err(Refusal::Claims)?;
    Ok(token.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::testing::fakes::FakeFetcher;
    use serde_json::json;

    fn issuer(tenant: &str, jwks: &str) -> TrustedIssuer {
        TrustedIssuer {
            tenant: TenantId::parse(tenant).unwrap(),
            issuer: "https://idp.example".into(),
            audiences: vec!["a".into()],
            jwks_uri: Some(jwks.into()),
            create_users: false,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn the_same_issuer_configured_differently_never_shares_keys() {
        let f = FakeFetcher::new();
        f.serve(
            "https://idp.example/a",
            json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "ka"}]}),
        );
        f.serve(
            "https://idp.example/b",
            json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "kb"}]}),
        );
        let cache = KeyCache::new();
        let (a, b) = (
            issuer("one", "https://idp.example/a"),
            issuer("two", "https://idp.example/b"),
        );
        let k = |i, kid| cache.key(&f, i, Some(kid), ExternalAlg::ES256, 100);
        assert!(k(&a, "ka").await.unwrap().is_some());
        assert!(
            k(&b, "ka").await.unwrap().is_none(),
            "tenant two must not see tenant one's keys"
        );
        assert!(k(&b, "kb").await.unwrap().is_some());
        assert!(k(&a, "kb").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn private_or_symmetric_keys_in_a_jwks_are_dropped() {
        let f = FakeFetcher::new();
        f.serve(
            "https://idp.example/a",
            json!({"keys": [
                {"kty": "EC", "crv": "P-256", "kid": "priv", "d": "secret"},
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            ]}),
        );
        let cache = KeyCache::new();
        let a = issuer("one", "https://idp.example/a");
        assert!(
            cache
                .key(&f, &a, Some("priv"), ExternalAlg::ES256, 100)
                .await
                .unwrap()
                .is_none()
        );
    }
}
