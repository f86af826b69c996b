//! Per-tenant signing keys: generation (CLI), the secret's JSON form, the public
//! JWKS kept on the tenant record, and the parsed key a warm function signs with.
//!
//! The private keys live in Secrets Manager (`{prefix}/{tenant}/signing-keys`);
//! the public halves live on the tenant item in DynamoDB, so discovery serves the
//! JWKS without touching Secrets Manager.

use crate::crypto::{b64url, sha256};
use crate::domain::key_rotation;
use crate::domain::token_exchange::ExternalAlg;
use crate::store::SigningAlg;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored signing key is unusable: {0}")]
    Parse(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// One private key as stored in the secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub pem: String,
    pub public_jwk: Value,
}

/// The secret's value: the key that signs, the one it replaced (published
/// until every token it signed has expired) and the next one (published,
/// signing from [`key_rotation::signs_from`] its publication). See
/// `domain::key_rotation` for the rule.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeySet {
    pub current: StoredKey,
    /// When `current` began signing (0 for key sets written before rotation
    /// was scheduled: due at once).
    #[serde(default)]
    pub current_since: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<StoredKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<StoredKey>,
    /// When `next` was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_since: Option<u64>,
}

impl KeySet {
    /// A tenant's first key, signing at once (nothing was published before).
    pub fn new(current: StoredKey, now: u64) -> KeySet {
        KeySet {
            current,
            current_since: now,
            previous: None,
            previous_until: None,
            next: None,
            next_since: None,
        }
    }

    /// `keys` array of the public JWKS, newest first: every key that may sign
    /// soon, signs, or signed a token that may still be alive.
    pub fn public_jwks(&self) -> String {
        let keys: Vec<Value> = [
            self.next.as_ref(),
            Some(&self.current),
            self.previous.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|k| k.public_jwk.clone())
        .collect();
        Value::Array(keys).to_string()
    }

    /// The key that signs at `now`.
    pub fn signing(&self, now: u64) -> &StoredKey {
        match (&self.next, self.next_since) {
            (Some(n), Some(at)) if now >= key_rotation::signs_from(at) => n,
            _ => &self.current,
        }
    }

    /// Bookkeeping at `now`: a next key whose time has come becomes current
    /// (the old current stays published until it is retired); a retired
    /// previous key leaves.
    pub fn settle(mut self, now: u64, longest_token_life: u64) -> KeySet {
        if let (Some(next), Some(at)) = (self.next.take(), self.next_since.take()) {
            let switch = key_rotation::signs_from(at);
            if now >= switch {
                self.previous = Some(std::mem::replace(&mut self.current, next));
                self.previous_until = Some(key_rotation::retire_at(switch, longest_token_life));
                self.current_since = switch;
            } else {
                self.next = Some(next);
                self.next_since = Some(at);
            }
        }
        if self.previous_until.is_some_and(|until| now >= until) {
            self.previous = None;
            self.previous_until = None;
        }
        self
    }

    /// Publishes a fresh next key at `now` (after [`KeySet::settle`]). While a
    /// published next key is still waiting for its time, it stays the next
    /// key: a warm copy of the key set may already name it and will sign with
    /// it when its time comes, so it must stay published — a second rotation
    /// in quick succession changes nothing.
    pub fn publish_next(
        self,
        alg: SigningAlg,
        now: u64,
        longest_token_life: u64,
    ) -> Result<KeySet, KeyError> {
        let mut set = self.settle(now, longest_token_life);
        if set.next.is_none() {
            set.next = Some(generate(alg)?);
            set.next_since = Some(now);
        }
        Ok(set)
    }
}

/// RFC 7638 thumbprint of the required members, in lexicographic order.
fn thumbprint(required: &Value) -> String {
    b64url(&sha256(required.to_string().as_bytes()))
}

pub fn generate(alg: SigningAlg) -> Result<StoredKey, KeyError> {
    match alg {
        SigningAlg::ES256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::{EncodePrivateKey, LineEnding};
            let sk = p256::SecretKey::random(&mut OsRng);
            let pem = sk
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let point = sk.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(KeyError::Generate("identity point".into()));
            };
            // serde_json's map is ordered, so this prints in RFC 7638 order.
            let required = json!({"crv": "P-256", "kty": "EC", "x": b64url(x), "y": b64url(y)});
            let kid = thumbprint(&required);
            let mut jwk = required;
            jwk["kid"] = json!(kid);
            jwk["use"] = json!("sig");
            jwk["alg"] = json!("ES256");
            Ok(StoredKey {
                kid,
                alg: "ES256".into(),
                pem: pem.to_string(),
                public_jwk: jwk,
            })
        }
        SigningAlg::RS256 => {
            use rsa::pkcs8::{EncodePrivateKey, LineEnding};
            use rsa::traits::PublicKeyParts;
            let sk = rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let pem = sk
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let required = json!({
                "e": b64url(&sk.e().to_bytes_be()),
                "kty": "RSA",
                "n": b64url(&sk.n().to_bytes_be()),
            });
            let kid = thumbprint(&required);
            let mut jwk = required;
            jwk["kid"] = json!(kid);
            jwk["use"] = json!("sig");
            jwk["alg"] = json!("RS256");
            Ok(StoredKey {
                kid,
                alg: "RS256".into(),
                pem: pem.to_string(),
                public_jwk: jwk,
            })
        }
    }
}

/// For the init phase: the crypto library's one-time set-up (its random
/// generator's first seeding, the P-256 code paths) done once with a throwaway
/// ES256 key — generated, parsed as a tenant key is and used to sign — so the
/// first token a sandbox signs does not pay for it at the invocation's CPU
/// share. The key is dropped at once; nothing is kept or returned.
pub fn warm_up() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let Ok(pkcs8) = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng) else {
        return;
    };
    if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()) {
        let _ = k.sign(&rng, b"tollgate init warm-up");
    }
}

/// PEM (`-----BEGIN PRIVATE KEY-----`, PKCS#8) to DER.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| KeyError::Parse(format!("PEM: {e}")))
}

enum KeyPair {
    Es256(aws_lc_rs::signature::EcdsaKeyPair),
    Rs256(aws_lc_rs::signature::RsaKeyPair),
}

/// One parsed private key.
struct ParsedKey {
    kid: String,
    alg: SigningAlg,
    key: KeyPair,
}

impl ParsedKey {
    fn parse(k: &StoredKey) -> Result<ParsedKey, KeyError> {
        let der = pem_to_der(&k.pem)?;
        let (alg, key) = match k.alg.as_str() {
            "ES256" => (
                SigningAlg::ES256,
                KeyPair::Es256(
                    aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &der,
                    )
                    .map_err(|e| KeyError::Parse(e.to_string()))?,
                ),
            ),
            "RS256" => (
                SigningAlg::RS256,
                KeyPair::Rs256(
                    aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der)
                        .map_err(|e| KeyError::Parse(e.to_string()))?,
                ),
            ),
            other => return Err(KeyError::Parse(format!("algorithm {other}"))),
        };
        Ok(ParsedKey {
            kid: k.kid.clone(),
            alg,
            key,
        })
    }
}

/// The tenant's keys, parsed once per cache period, not per token (parsing
/// and deriving the public key cost more than a signature). Which one signs
/// is decided at each signature by the time: the next key once its time has
/// come (`domain::key_rotation`), else the current one.
pub struct Signer {
    current: ParsedKey,
    next: Option<(ParsedKey, u64)>,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl Signer {
    pub fn from_secret(json_value: &str) -> Result<Signer, KeyError> {
        let set: KeySet =
            serde_json::from_str(json_value).map_err(|e| KeyError::Parse(e.to_string()))?;
        let next = match (&set.next, set.next_since) {
            (Some(n), Some(at)) => Some((ParsedKey::parse(n)?, key_rotation::signs_from(at))),
            _ => None,
        };
        Ok(Signer {
            current: ParsedKey::parse(&set.current)?,
            next,
            rng: aws_lc_rs::rand::SystemRandom::new(),
        })
    }

    fn at(&self, now: u64) -> &ParsedKey {
        match &self.next {
            Some((k, from)) if now >= *from => k,
            _ => &self.current,
        }
    }

    /// As [`Signer::at`], but never a key missing from `published` (the
    /// tenant's JWKS as this function last read it): a belt to the schedule's
    /// braces, should two rotations ever race.
    fn published_at(&self, now: u64, published: &str) -> &ParsedKey {
        let k = self.at(now);
        if std::ptr::eq(k, &self.current) || published.contains(&format!("\"{}\"", k.kid)) {
            k
        } else {
            &self.current
        }
    }

    /// [`Signer::sign_jwt`] with a key the tenant's JWKS (`published`) lists.
    pub fn sign_published(
        &self,
        typ: &str,
        claims: &Value,
        now: u64,
        published: &str,
    ) -> Result<String, KeyError> {
        self.sign_with(self.published_at(now, published), typ, claims)
    }

    /// Test aid: the same keys claiming another key id (forgery tests).
    #[cfg(any(test, feature = "test-support"))]
    pub fn relabelled(mut self, kid: &str) -> Signer {
        self.current.kid = kid.to_owned();
        if let Some((k, _)) = &mut self.next {
            k.kid = kid.to_owned();
        }
        self
    }

    /// The key id that signs at `now`.
    pub fn kid(&self, now: u64) -> &str {
        &self.at(now).kid
    }

    /// A compact JWS: `b64url(header).b64url(claims).b64url(signature)`,
    /// signed with the key that signs at `now`.
    pub fn sign_jwt(&self, typ: &str, claims: &Value, now: u64) -> Result<String, KeyError> {
        self.sign_with(self.at(now), typ, claims)
    }

    fn sign_with(&self, k: &ParsedKey, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": k.alg.as_str(), "typ": typ, "kid": k.kid});
        let mut out = b64url(header.to_string().as_bytes());
        out.push('.');
        out.push_str(&b64url(claims.to_string().as_bytes()));
        let sig = match &k.key {
            KeyPair::Es256(k) => k
                .sign(&self.rng, out.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| KeyError::Sign(e.to_string()))?,
            KeyPair::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| KeyError::Sign(e.to_string()))?;
                sig
            }
        };
        out.push('.');
        out.push_str(&b64url(&sig));
        Ok(out)
    }
}

/// Verifies a JWS signature of this tenant's algorithm with a public JWK.
pub fn verify_with_jwk(jwk: &Value, alg: SigningAlg, message: &[u8], signature: &[u8]) -> bool {
    let alg = match alg {
        SigningAlg::ES256 => ExternalAlg::ES256,
        SigningAlg::RS256 => ExternalAlg::RS256,
    };
    verify_jws(jwk, alg, message, signature)
}

/// A JWS signature check with a public JWK: RS256 (PKCS#1 v1.5), PS256
/// (RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32) or ES256 (P-256, fixed-size
/// `r || s`). RSA keys under 2048 bits do not verify. Used for this tenant's
/// own tokens and for trusted issuers' tokens alike.
pub fn verify_jws(jwk: &Value, alg: ExternalAlg, message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature;
    let field = |k: &str| {
        jwk.get(k)
            .and_then(Value::as_str)
            .and_then(crate::crypto::b64url_decode)
    };
    match alg {
        ExternalAlg::ES256 => {
            let (Some(x), Some(y)) = (field("x"), field("y")) else {
                return false;
            };
            if jwk.get("crv").and_then(Value::as_str) != Some("P-256")
                || x.len() != 32
                || y.len() != 32
            {
                return false;
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok()
        }
        ExternalAlg::RS256 | ExternalAlg::PS256 => {
            let (Some(n), Some(e)) = (field("n"), field("e")) else {
                return false;
            };
            let params = if alg == ExternalAlg::RS256 {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key_rotation::{PROPAGATION, signs_from};

    fn verify(set: &KeySet, alg: jsonwebtoken::Algorithm) {
        let signer = Signer::from_secret(&serde_json::to_string(set).unwrap()).unwrap();
        let jwt = signer
            .sign_jwt("at+jwt", &json!({"sub": "x", "exp": 4_000_000_000u64}), 1)
            .unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(set.current.kid.as_str()));
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(set.current.public_jwk.clone()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(alg);
        v.validate_aud = false;
        let claims = jsonwebtoken::decode::<Value>(&jwt, &dk, &v).unwrap().claims;
        assert_eq!(claims["sub"], "x");
    }

    #[test]
    fn es256_key_signs_and_has_thumbprint_kid() {
        let k = generate(SigningAlg::ES256).unwrap();
        assert_eq!(k.kid.len(), 43);
        assert_eq!(k.public_jwk["kid"], json!(k.kid));
        verify(&KeySet::new(k, 0), jsonwebtoken::Algorithm::ES256);
    }

    #[test]
    fn rs256_key_signs() {
        let set = KeySet::new(generate(SigningAlg::RS256).unwrap(), 0);
        verify(&set, jsonwebtoken::Algorithm::RS256);
    }

    fn kids(set: &KeySet) -> Vec<String> {
        let jwks: Value = serde_json::from_str(&set.public_jwks()).unwrap();
        jwks.as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The whole schedule with a controlled clock: publish at 1_000, sign from
    /// 1_000 + PROPAGATION, retire the old key after every token it signed.
    #[test]
    fn publish_then_sign_then_retire() {
        let life = 600;
        let set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let old = set.current.kid.clone();
        let set = set.publish_next(SigningAlg::ES256, 1_000, life).unwrap();
        let new = set.next.as_ref().unwrap().kid.clone();
        // Published at once, signing only after the caches could have seen it.
        assert!(kids(&set).contains(&new));
        let signer = Signer::from_secret(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(signer.kid(1_000 + PROPAGATION - 1), old);
        assert_eq!(signer.kid(1_000 + PROPAGATION), new);
        assert_eq!(set.signing(signs_from(1_000)).kid, new);
        // Settled after the switch: the old key is previous, still published.
        let switched = set.settle(signs_from(1_000) + 10, life);
        assert_eq!(switched.current.kid, new);
        assert_eq!(kids(&switched), [new.clone(), old.clone()]);
        let until = switched.previous_until.unwrap();
        assert!(until >= signs_from(1_000) + KEY_SET_CACHE_FOR_TEST + life);
        // Retired only when every token it signed has expired.
        assert_eq!(kids(&switched.clone().settle(until - 1, life)).len(), 2);
        assert_eq!(kids(&switched.settle(until, life)), [new]);
    }

    const KEY_SET_CACHE_FOR_TEST: u64 = crate::domain::key_rotation::KEY_SET_CACHE;

    #[test]
    fn two_rotations_in_quick_succession_never_sign_with_an_unpublished_key() {
        let set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let first = set.publish_next(SigningAlg::ES256, 1_000, 600).unwrap();
        let pending = first.next.as_ref().unwrap().kid.clone();
        // Rotating again while the next key waits keeps it: a warm copy of the
        // first set (read any time before, kept up to KEY_SET_CACHE) may sign
        // with it when its time comes, so it must stay published.
        let second = first
            .clone()
            .publish_next(SigningAlg::ES256, 1_100, 600)
            .unwrap();
        assert_eq!(second.next.as_ref().unwrap().kid, pending);
        let stale = Signer::from_secret(&serde_json::to_string(&first).unwrap()).unwrap();
        for now in (1_000..1_100 + KEY_SET_CACHE_FOR_TEST + 1).step_by(3) {
            assert!(
                kids(&second).iter().any(|k| k == stale.kid(now)),
                "at {now}"
            );
        }
        // After the switch a rotation publishes a fresh key; every key any
        // copy may sign with is in the JWKS at every instant.
        let third = second
            .clone()
            .publish_next(SigningAlg::ES256, signs_from(1_000) + 5, 600)
            .unwrap();
        assert_ne!(third.next.as_ref().unwrap().kid, pending);
        for now in (1_000..signs_from(1_000) + 2 * PROPAGATION).step_by(7) {
            for copy in [&first, &second, &third] {
                let s = Signer::from_secret(&serde_json::to_string(copy).unwrap()).unwrap();
                assert!(kids(&third).iter().any(|k| k == s.kid(now)), "at {now}");
            }
        }
    }

    #[test]
    fn a_due_key_missing_from_the_published_jwks_never_signs() {
        let set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0)
            .publish_next(SigningAlg::ES256, 1_000, 600)
            .unwrap();
        let current = set.current.kid.clone();
        let next = set.next.as_ref().unwrap().kid.clone();
        let signer = Signer::from_secret(&serde_json::to_string(&set).unwrap()).unwrap();
        let header_kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
        let due = signs_from(1_000);
        let stale_jwks = KeySet::new(set.current.clone(), 0).public_jwks();
        let jwt = signer
            .sign_published("at+jwt", &json!({"sub": "x"}), due, &stale_jwks)
            .unwrap();
        assert_eq!(
            header_kid(&jwt),
            current,
            "not published: the current key signs"
        );
        let jwt = signer
            .sign_published("at+jwt", &json!({"sub": "x"}), due, &set.public_jwks())
            .unwrap();
        assert_eq!(header_kid(&jwt), next);
    }
}
