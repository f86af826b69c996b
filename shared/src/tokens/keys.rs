//! Per-tenant signing keys: generation (CLI), the secret's JSON form, the public
//! JWKS kept on the tenant record, and the parsed key a warm function signs with.
//!
//! The private keys live in Secrets Manager (`{prefix}/{tenant}/signing-keys`);
//! the public halves live on the tenant item in DynamoDB, so discovery serves the
//! JWKS without touching Secrets Manager.

use crate::crypto::{b64url, sha256};
use crate::domain::key_rotation;
use crate::domain::records::SigningAlg;
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
    /// The key set names no key the tenant's JWKS publishes (a key set of
    /// another tenant of the same alias, or one this copy predates).
    #[error("the signing key set does not match the tenant's published keys")]
    Unpublished,
    /// A rotation would publish more replaced keys than
    /// [`key_rotation::MAX_RETIRING`]; possible again from `.0`.
    #[error(
        "{max} replaced keys are still published (tokens they signed may be alive); the next rotation is possible from {0} (epoch seconds)",
        max = key_rotation::MAX_RETIRING
    )]
    Crowded(u64),
}

/// One private key as stored in the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub pem: String,
    pub public_jwk: Value,
}

/// A key that no longer signs: only its public half, published until every
/// token it signed has expired. Its private key is gone from the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub kid: String,
    pub public_jwk: Value,
    /// When it stopped signing (its successor's switch).
    pub switched_at: u64,
    /// The earliest it may leave the JWKS (recomputed upwards if the
    /// tenant's token lifetimes grow).
    pub until: u64,
}

/// The secret's value: the key that signs, the next one (published, signing
/// from [`key_rotation::signs_from`] its publication) and every key they
/// replaced whose tokens may still be alive, each with its own retirement
/// time. See `domain::key_rotation` for the rule.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "KeySetOnDisk")]
pub struct KeySet {
    /// The tenant item's key generation this set was written with (0 for
    /// key sets written before generations; the tenant's is then 0 too).
    #[serde(default)]
    pub generation: u64,
    pub current: StoredKey,
    /// When `current` began signing (0 for key sets written before rotation
    /// was scheduled: due at once).
    #[serde(default)]
    pub current_since: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<StoredKey>,
    /// When `next` was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_since: Option<u64>,
    /// Replaced keys, newest first, at most [`key_rotation::MAX_RETIRING`]
    /// (plus any a repair adopted, see [`KeySet::adopt_published`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring: Vec<RetiredKey>,
}

/// The stored form, also as written before `retiring` (one `previous` key
/// with its retirement time).
#[derive(Deserialize)]
struct KeySetOnDisk {
    #[serde(default)]
    generation: u64,
    current: StoredKey,
    #[serde(default)]
    current_since: u64,
    #[serde(default)]
    next: Option<StoredKey>,
    #[serde(default)]
    next_since: Option<u64>,
    #[serde(default)]
    retiring: Vec<RetiredKey>,
    #[serde(default)]
    previous: Option<StoredKey>,
    #[serde(default)]
    previous_until: Option<u64>,
}

impl From<KeySetOnDisk> for KeySet {
    fn from(d: KeySetOnDisk) -> KeySet {
        let mut retiring = d.retiring;
        if let Some(p) = d.previous
            && !retiring.iter().any(|r| r.kid == p.kid)
        {
            retiring.push(RetiredKey {
                kid: p.kid,
                public_jwk: p.public_jwk,
                switched_at: d.current_since,
                until: d.previous_until.unwrap_or(0),
            });
        }
        KeySet {
            generation: d.generation,
            current: d.current,
            current_since: d.current_since,
            next: d.next,
            next_since: d.next_since,
            retiring,
        }
    }
}

fn kid_of(jwk: &Value) -> Option<&str> {
    jwk.get("kid").and_then(Value::as_str)
}

impl KeySet {
    /// A tenant's first key, signing at once (nothing was published before).
    pub fn new(current: StoredKey, now: u64) -> KeySet {
        KeySet {
            generation: 0,
            current,
            current_since: now,
            next: None,
            next_since: None,
            retiring: Vec::new(),
        }
    }

    /// Every key id the JWKS holds, newest first.
    pub fn kids(&self) -> Vec<&str> {
        self.next
            .iter()
            .chain(std::iter::once(&self.current))
            .map(|k| k.kid.as_str())
            .chain(self.retiring.iter().map(|r| r.kid.as_str()))
            .collect()
    }

    /// `keys` array of the public JWKS, newest first: every key that may sign
    /// soon, signs, or signed a token that may still be alive.
    pub fn public_jwks(&self) -> String {
        let keys: Vec<Value> = self
            .next
            .iter()
            .chain(std::iter::once(&self.current))
            .map(|k| k.public_jwk.clone())
            .chain(self.retiring.iter().map(|r| r.public_jwk.clone()))
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
    /// (the old current joins the retiring keys, published until every token
    /// it signed has expired); retiring keys whose time has come leave. Each
    /// retiring key keeps its own time, so none is ever pushed out early.
    pub fn settle(mut self, now: u64, longest_token_life: u64) -> KeySet {
        if let (Some(next), Some(at)) = (self.next.take(), self.next_since.take()) {
            let switch = key_rotation::signs_from(at);
            if now >= switch {
                let old = std::mem::replace(&mut self.current, next);
                self.retiring.insert(
                    0,
                    RetiredKey {
                        kid: old.kid,
                        public_jwk: old.public_jwk,
                        switched_at: switch,
                        until: key_rotation::retire_at(switch, longest_token_life),
                    },
                );
                self.current_since = switch;
            } else {
                self.next = Some(next);
                self.next_since = Some(at);
            }
        }
        for r in &mut self.retiring {
            r.until = r
                .until
                .max(key_rotation::retire_at(r.switched_at, longest_token_life));
        }
        self.retiring.retain(|r| now < r.until);
        self
    }

    /// Publishes a fresh next key at `now` (after [`KeySet::settle`]). While a
    /// published next key is still waiting for its time, it stays the next
    /// key: a warm copy of the key set may already name it and will sign with
    /// it when its time comes, so it must stay published — a second rotation
    /// in quick succession changes nothing. Refused ([`KeyError::Crowded`])
    /// while [`key_rotation::MAX_RETIRING`] replaced keys are published: the
    /// current key would become one more.
    pub fn publish_next(
        self,
        alg: SigningAlg,
        now: u64,
        longest_token_life: u64,
    ) -> Result<KeySet, KeyError> {
        let mut set = self.settle(now, longest_token_life);
        if set.next.is_none() {
            if set.retiring.len() >= key_rotation::MAX_RETIRING {
                return Err(KeyError::Crowded(set.room_at()));
            }
            set.next = Some(generate(alg)?);
            set.next_since = Some(now);
        }
        Ok(set)
    }

    /// The scheduled upkeep at `now`: [`KeySet::settle`], then a next key if
    /// the current one is `rotation_days` old — deferred, not refused, while
    /// the retiring keys are at their bound.
    pub fn upkeep(
        self,
        alg: SigningAlg,
        now: u64,
        rotation_days: u64,
        longest_token_life: u64,
    ) -> Result<KeySet, KeyError> {
        let set = self.settle(now, longest_token_life);
        if set.next.is_none()
            && set.retiring.len() < key_rotation::MAX_RETIRING
            && key_rotation::rotation_due(set.current_since, rotation_days, now)
        {
            return set.publish_next(alg, now, longest_token_life);
        }
        Ok(set)
    }

    /// When the oldest retiring key leaves (room for one more).
    fn room_at(&self) -> u64 {
        self.retiring.iter().map(|r| r.until).min().unwrap_or(0)
    }

    /// When [`KeySet::upkeep`] next has something to do (after `now`): the
    /// next key's switch, a retirement, or the rotation.
    pub fn next_due(&self, now: u64, rotation_days: u64, longest_token_life: u64) -> u64 {
        let retirements = self.retiring.iter().map(|r| {
            r.until
                .max(key_rotation::retire_at(r.switched_at, longest_token_life))
        });
        let switch = self.next_since.map(key_rotation::signs_from);
        let rotation = (self.next.is_none() && self.retiring.len() < key_rotation::MAX_RETIRING)
            .then(|| key_rotation::rotation_at(self.current_since, rotation_days));
        retirements
            .chain(switch)
            .chain(rotation)
            .min()
            .unwrap_or(u64::MAX)
            .max(now.saturating_add(1))
    }

    /// Makes the set account for every key `published` (the tenant's JWKS)
    /// names: a key the set does not know (its key set was lost between the
    /// two writes of a key change, or the JWKS drifted) stays published as a
    /// retiring key as long as a key just published could sign and its
    /// tokens live; a next key the JWKS lacks is published afresh (it must
    /// not sign before verifiers could have seen it). `true` if it changed.
    pub fn adopt_published(&mut self, published: &str, now: u64, longest_token_life: u64) -> bool {
        let mut changed = false;
        let listed: Vec<Value> = serde_json::from_str(published).unwrap_or_default();
        let switch = key_rotation::signs_from(now);
        for jwk in listed {
            let Some(kid) = kid_of(&jwk).map(str::to_owned) else {
                continue;
            };
            if !self.kids().contains(&kid.as_str()) {
                self.retiring.push(RetiredKey {
                    kid,
                    public_jwk: jwk,
                    switched_at: switch,
                    until: key_rotation::retire_at(switch, longest_token_life),
                });
                changed = true;
            }
        }
        if let Some(n) = &self.next
            && !published.contains(&format!("\"{}\"", n.kid))
        {
            self.next_since = Some(now);
            changed = true;
        }
        changed
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key_rotation::{PROPAGATION, signs_from};
    use crate::tokens::signer::Signer;

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
        let old_pem = set.current.pem.clone();
        let set = set.publish_next(SigningAlg::ES256, 1_000, life).unwrap();
        let new = set.next.as_ref().unwrap().kid.clone();
        // Published at once, signing only after the caches could have seen it.
        assert!(kids(&set).contains(&new));
        let signer = Signer::from_secret(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(signer.kid(1_000 + PROPAGATION - 1), old);
        assert_eq!(signer.kid(1_000 + PROPAGATION), new);
        assert_eq!(set.signing(signs_from(1_000)).kid, new);
        // Settled after the switch: the old key is retiring, still published
        // (its private half gone from the secret).
        let switched = set.settle(signs_from(1_000) + 10, life);
        assert_eq!(switched.current.kid, new);
        assert_eq!(kids(&switched), [new.clone(), old.clone()]);
        assert!(!serde_json::to_string(&switched).unwrap().contains(&old_pem));
        let until = switched.retiring[0].until;
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

    // ---- every key that signed a live token stays published -----------------

    use crate::domain::key_rotation::{JWKS_MAX_AGE, MAX_RETIRING, RECORD_CACHE};

    /// A small deterministic generator (xorshift): the same "arbitrary"
    /// schedule on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    /// The scheduled upkeep as the maintenance does it.
    fn scheduled(set: KeySet, now: u64, days: u64, life: u64) -> KeySet {
        set.upkeep(SigningAlg::ES256, now, days, life).unwrap()
    }

    /// Every version of a tenant's key set, with when it was written: each
    /// is what the JWKS publishes from then until the next version, and what
    /// any function may sign with from then until the next version plus the
    /// key-set cache.
    struct History(Vec<(u64, KeySet)>);

    impl History {
        /// Checks the SPEC's rule over `[0, horizon)`: every key a warm copy
        /// of any version may sign with at any instant is published from
        /// before the caches that verify it could have read the JWKS
        /// (`JWKS_MAX_AGE + RECORD_CACHE`) until every token it signed has
        /// expired (`life` after its last signature). Also: the JWKS stays
        /// bounded. Returns how many keys were retired.
        fn check(&self, life: u64, horizon: u64) -> usize {
            let v = &self.0;
            let end_of = |i: usize| v.get(i + 1).map_or(horizon, |(at, _)| *at);
            // Is `kid` in the JWKS over all of [from, to)?
            let published_over = |kid: &str, from: u64, to: u64| {
                v.iter().enumerate().all(|(j, (at, set))| {
                    let (a, b) = (*at, end_of(j));
                    b <= from || a >= to || set.kids().contains(&kid)
                })
            };
            for (i, (at, set)) in v.iter().enumerate() {
                assert!(
                    set.kids().len() <= MAX_RETIRING + 2,
                    "JWKS of {} keys at {at}",
                    set.kids().len()
                );
                // Copies of this version live over [at, copies_end).
                let copies_end = end_of(i) + KEY_SET_CACHE_FOR_TEST;
                let switch = set.next_since.map(signs_from).unwrap_or(u64::MAX);
                let mut spans = vec![(set.current.kid.as_str(), *at, copies_end.min(switch))];
                if let Some(n) = &set.next {
                    spans.push((n.kid.as_str(), (*at).max(switch), copies_end));
                }
                for (kid, from, to) in spans.into_iter().filter(|(_, f, t)| f < t) {
                    let seen_from = from.saturating_sub(JWKS_MAX_AGE + RECORD_CACHE);
                    let alive_to = to.saturating_add(life).min(horizon);
                    assert!(
                        published_over(kid, seen_from, alive_to),
                        "key {kid} signs over [{from}, {to}) (version written at {at}) but is not published over [{seen_from}, {alive_to})"
                    );
                }
            }
            let ever: std::collections::HashSet<&str> =
                v.iter().flat_map(|(_, s)| s.kids()).collect();
            ever.len() - v.last().map_or(0, |(_, s)| s.kids().len())
        }
    }

    /// Hourly upkeep plus `key rotate`s at arbitrary times (some 391 s apart,
    /// some days), for `horizon` seconds.
    fn simulate(seed: u64, days: u64, life: u64, horizon: u64) -> History {
        let mut rng = Rng(seed);
        let mut set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let mut history = vec![(0, set.clone())];
        let gaps = [
            391,
            391,
            392,
            700,
            3_000,
            20_000,
            86_400,
            3 * 86_400,
            9 * 86_400,
        ];
        let mut next_run = 3_600;
        let mut next_rotate = rng.pick(&gaps);
        loop {
            let (now, new) = if next_rotate < next_run {
                let now = next_rotate;
                next_rotate += rng.pick(&gaps);
                match set.clone().publish_next(SigningAlg::ES256, now, life) {
                    Ok(s) => (now, s),
                    Err(KeyError::Crowded(from)) => {
                        assert!(from > now, "a crowded rotation waits for a later time");
                        continue;
                    }
                    Err(e) => panic!("{e}"),
                }
            } else {
                let now = next_run;
                next_run += 3_600;
                (now, scheduled(set.clone(), now, days, life))
            };
            if now >= horizon {
                return History(history);
            }
            if new != set {
                history.push((now, new.clone()));
                set = new;
            }
        }
    }

    #[test]
    fn no_key_that_signed_a_live_token_ever_leaves_the_jwks() {
        // (rotation days, longest token life): the sliding maximum longer
        // than the rotation period, equal to it, and far shorter.
        let cases = [
            (1, 30 * 86_400),
            (1, 2 * 86_400),
            (2, 5 * 86_400),
            (1, 86_400),
            (90, 600),
            (3, 86_400 + 1),
        ];
        for (n, (days, life)) in cases.into_iter().enumerate() {
            for seed in 1..=3u64 {
                let seed = seed * 7_919 + n as u64;
                let history = simulate(seed, days, life, 75 * 86_400);
                let retired = history.check(life, 75 * 86_400);
                assert!(
                    retired > 0,
                    "days {days}, life {life}: keys are retired once their tokens are gone"
                );
            }
        }
    }

    #[test]
    fn three_rotations_391_seconds_apart_keep_every_key_that_signed() {
        let life = 86_400;
        let set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let k0 = set.current.kid.clone();
        let r1 = set.publish_next(SigningAlg::ES256, 1_000, life).unwrap();
        let r2 = r1
            .clone()
            .publish_next(SigningAlg::ES256, 1_391, life)
            .unwrap();
        let r3 = r2
            .clone()
            .publish_next(SigningAlg::ES256, 1_782, life)
            .unwrap();
        let k1 = r1.next.as_ref().unwrap().kid.clone();
        let k2 = r2.next.as_ref().unwrap().kid.clone();
        let k3 = r3.next.as_ref().unwrap().kid.clone();
        // k0 signed until 1_390 (plus warm copies): its tokens live a day.
        assert_eq!(kids(&r3), [k3, k2, k1, k0.clone()]);
        let history = History(vec![
            (0, KeySet::new(r1.current.clone(), 0)),
            (1_000, r1),
            (1_391, r2),
            (1_782, r3.clone()),
        ]);
        history.check(life, 1_782 + 1);
        let k0_until = r3.retiring.iter().find(|r| r.kid == k0).unwrap().until;
        assert!(k0_until >= signs_from(1_000) + KEY_SET_CACHE_FOR_TEST + life);
        assert!(kids(&r3.clone().settle(k0_until - 1, life)).contains(&k0));
        assert!(!kids(&r3.settle(k0_until, life)).contains(&k0));
    }

    #[test]
    fn retiring_keys_are_bounded_and_a_rotation_past_the_bound_waits() {
        let life = 30 * 86_400;
        let mut set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let mut now = 1_000;
        for _ in 0..MAX_RETIRING {
            set = set.publish_next(SigningAlg::ES256, now, life).unwrap();
            now = signs_from(now);
        }
        // The last next key switched; one more would be a ninth replaced key.
        let settled = set.clone().settle(now, life);
        assert_eq!(settled.retiring.len(), MAX_RETIRING);
        let Err(KeyError::Crowded(from)) = set.clone().publish_next(SigningAlg::ES256, now, life)
        else {
            panic!("a rotation past the bound is refused");
        };
        assert_eq!(
            from,
            settled.retiring.iter().map(|r| r.until).min().unwrap()
        );
        // The schedule defers (no error) and looks again when room is made.
        let deferred = scheduled(set.clone(), now + 86_400, 1, life);
        assert!(deferred.next.is_none());
        assert_eq!(deferred.next_due(now + 86_400, 1, life), from);
        let later = scheduled(deferred, from, 1, life);
        assert!(
            later.next.is_some(),
            "room again: the overdue rotation happens"
        );
    }

    #[test]
    fn a_key_set_written_before_retiring_keys_keeps_its_previous_key() {
        let set = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let old = set.current.clone();
        let new = generate(SigningAlg::ES256).unwrap();
        let legacy = json!({
            "current": new, "current_since": 5_000,
            "previous": old, "previous_until": 90_000,
        });
        let read: KeySet = serde_json::from_value(legacy).unwrap();
        assert_eq!(read.generation, 0);
        assert_eq!(kids(&read), [new.kid.clone(), old.kid.clone()]);
        assert_eq!(read.retiring[0].until, 90_000);
        assert!(kids(&read.clone().settle(89_999, 600)).contains(&old.kid));
        assert!(!kids(&read.settle(90_000, 600)).contains(&old.kid));
    }

    #[test]
    fn keys_the_jwks_names_but_the_key_set_lost_stay_published() {
        let life = 3_600;
        let base = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        // A writer committed a JWKS with a new next key, then died before
        // writing the key set.
        let lost = base
            .clone()
            .publish_next(SigningAlg::ES256, 1_000, life)
            .unwrap();
        let lost_kid = lost.next.as_ref().unwrap().kid.clone();
        let mut carried = base.clone();
        assert!(carried.adopt_published(&lost.public_jwks(), 1_100, life));
        assert!(kids(&carried).contains(&lost_kid));
        // Should that key set land late after all, its keys sign only while
        // they are still published.
        let retired_at = carried.retiring[0].until;
        assert!(retired_at >= signs_from(1_100) + KEY_SET_CACHE_FOR_TEST + life);
        // A next key the JWKS lacks is published afresh: it signs only once
        // verifiers could have seen it.
        let mut unpublished = lost.clone();
        assert!(unpublished.adopt_published(&base.public_jwks(), 2_000, life));
        assert_eq!(unpublished.next_since, Some(2_000));
        let mut same = lost.clone();
        assert!(!same.adopt_published(&lost.public_jwks(), 2_000, life));
    }

    #[test]
    fn a_key_set_none_of_whose_keys_is_published_signs_nothing() {
        let ours = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let theirs = KeySet::new(generate(SigningAlg::ES256).unwrap(), 0);
        let signer = Signer::from_secret(&serde_json::to_string(&theirs).unwrap()).unwrap();
        assert!(!signer.publishes_under(10, &ours.public_jwks()));
        assert!(matches!(
            signer.sign_published("at+jwt", &json!({"sub": "x"}), 10, &ours.public_jwks()),
            Err(KeyError::Unpublished)
        ));
        assert!(signer.publishes_under(10, &theirs.public_jwks()));
    }
}
