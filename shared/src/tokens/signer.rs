//! The parsed key a warm function signs with ([`Signer`]), and the JWS
//! verification shared by the tenant's own tokens and trusted issuers'.

use crate::crypto::b64url;
use crate::domain::key_rotation;
use crate::domain::records::SigningAlg;
use crate::domain::token_exchange::ExternalAlg;
use crate::tokens::keys::{KeyError, KeySet, StoredKey};
use serde_json::{Value, json};

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
    /// tenant's JWKS as this function last read it): a next key that is not
    /// published yet leaves the signing to the current one, and a key set
    /// none of whose keys is published signs nothing (it is not this
    /// tenant's: see `AppState::signer`).
    fn published_at(&self, now: u64, published: &str) -> Option<&ParsedKey> {
        let listed = |k: &ParsedKey| published.contains(&format!("\"{}\"", k.kid));
        [self.at(now), &self.current]
            .into_iter()
            .find(|k| listed(k))
    }

    /// Whether this key set signs at `now` with a key `published` lists.
    pub fn publishes_under(&self, now: u64, published: &str) -> bool {
        self.published_at(now, published).is_some()
    }

    /// [`Signer::sign_jwt`] with a key the tenant's JWKS (`published`) lists.
    pub fn sign_published(
        &self,
        typ: &str,
        claims: &Value,
        now: u64,
        published: &str,
    ) -> Result<String, KeyError> {
        let k = self
            .published_at(now, published)
            .ok_or(KeyError::Unpublished)?;
        self.sign_with(k, typ, claims)
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
