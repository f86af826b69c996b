//! Per-tenant signing keys: generation (CLI), the secret's JSON form, the public
//! JWKS kept on the tenant record, and the parsed key a warm function signs with.
//!
//! The private keys live in Secrets Manager (`{prefix}/{tenant}/signing-keys`);
//! the public halves live on the tenant item in DynamoDB, so discovery serves the
//! JWKS without touching Secrets Manager.

use crate::crypto::{b64url, sha256};
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

/// The secret's value: the current key and the one it replaced.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeySet {
    pub current: StoredKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<StoredKey>,
}

impl KeySet {
    /// `keys` array of the public JWKS: current first, then previous.
    pub fn public_jwks(&self) -> String {
        let mut keys = vec![self.current.public_jwk.clone()];
        if let Some(p) = &self.previous {
            keys.push(p.public_jwk.clone());
        }
        Value::Array(keys).to_string()
    }

    /// A rotation: a new current key, the old current kept as previous.
    pub fn rotated(self, alg: SigningAlg) -> Result<KeySet, KeyError> {
        Ok(KeySet {
            current: generate(alg)?,
            previous: Some(self.current),
        })
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

/// The parsed current key. The PEM is parsed once per cache period, not per
/// token: parsing (and deriving the public key) costs more than a signature.
pub struct Signer {
    pub kid: String,
    pub alg: SigningAlg,
    key: KeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl Signer {
    pub fn from_secret(json_value: &str) -> Result<Signer, KeyError> {
        let set: KeySet =
            serde_json::from_str(json_value).map_err(|e| KeyError::Parse(e.to_string()))?;
        let k = set.current;
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
        Ok(Signer {
            kid: k.kid,
            alg,
            key,
            rng: aws_lc_rs::rand::SystemRandom::new(),
        })
    }

    /// A compact JWS: `b64url(header).b64url(claims).b64url(signature)`.
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let mut out = b64url(header.to_string().as_bytes());
        out.push('.');
        out.push_str(&b64url(claims.to_string().as_bytes()));
        let sig = match &self.key {
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

/// Verifies a JWS signature with a public JWK of the given algorithm
/// (ES256: P-256, fixed-size `r || s`; RS256: PKCS#1 v1.5 with SHA-256).
pub fn verify_with_jwk(jwk: &Value, alg: SigningAlg, message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature;
    let field = |k: &str| {
        jwk.get(k)
            .and_then(Value::as_str)
            .and_then(crate::crypto::b64url_decode)
    };
    match alg {
        SigningAlg::ES256 => {
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
        SigningAlg::RS256 => {
            let (Some(n), Some(e)) = (field("n"), field("e")) else {
                return false;
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(set: &KeySet, alg: jsonwebtoken::Algorithm) {
        let signer = Signer::from_secret(&serde_json::to_string(set).unwrap()).unwrap();
        let jwt = signer
            .sign_jwt("at+jwt", &json!({"sub": "x", "exp": 4_000_000_000u64}))
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
        let set = KeySet {
            current: k,
            previous: None,
        };
        verify(&set, jsonwebtoken::Algorithm::ES256);
    }

    #[test]
    fn rs256_key_signs() {
        let set = KeySet {
            current: generate(SigningAlg::RS256).unwrap(),
            previous: None,
        };
        verify(&set, jsonwebtoken::Algorithm::RS256);
    }

    #[test]
    fn rotation_keeps_previous_public_key() {
        let set = KeySet {
            current: generate(SigningAlg::ES256).unwrap(),
            previous: None,
        };
        let old_kid = set.current.kid.clone();
        let set = set.rotated(SigningAlg::ES256).unwrap();
        let jwks: Value = serde_json::from_str(&set.public_jwks()).unwrap();
        assert_eq!(jwks.as_array().unwrap().len(), 2);
        assert_eq!(jwks[1]["kid"], json!(old_kid));
        assert_ne!(jwks[0]["kid"], json!(old_kid));
    }
}
