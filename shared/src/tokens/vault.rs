//! Encryption at rest of upstream tokens (SPEC: Upstream providers — "At
//! rest"; research §5, option A): AES-256-GCM (aws-lc-rs) under a per-tenant
//! vault key set held in Secrets Manager (`{prefix}/{tenant}/vault-keys`).
//!
//! - The key set ([`VaultKeys`]) is JSON `{"current": kid, "keys": {kid:
//!   b64url(32 random bytes)}}`. Rotation publishes a new key first and makes
//!   it current only after the key-set cache period (as signing keys:
//!   publish, then use), keeping the old ones, so every stored ciphertext still
//!   opens and no function meets a kid it has not loaded; a commit
//!   re-encrypts under the current kid as tokens rotate.
//! - An envelope is `v1.{kid}.{b64url(nonce ‖ ciphertext ‖ tag)}` with a random
//!   96-bit nonce (safe for about 2³² messages per key: rotate the kid long
//!   before).
//! - The authenticated data is `tollgate/upstream/v1|{tenant}|{owner}|
//!   {provider}|{field}|{kid}` (owner: the user id, `~` for the service
//!   connection; every part a slug, so `|` cannot be smuggled in): a ciphertext
//!   copied to another tenant, owner, provider or field, or relabelled with
//!   another kid, does not open.
//! - Plaintexts are `SecretString`s, and every buffer that held one is zeroed.
//!   Opening fails with [`VaultError::Undecryptable`] whatever went wrong
//!   (format, unknown kid, tag), which the caller turns into the connection's
//!   `reconnect_required` (reason `undecryptable`): never a panic, never the
//!   ciphertext or plaintext in a message.

use crate::crypto::{b64url, b64url_decode, random_bytes};
use crate::domain::connections::{ConnectionKey, Field, Sealed};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};

const VERSION: &str = "v1";
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const AAD_PREFIX: &str = "tollgate/upstream/v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The stored ciphertext does not open under this tenant's keys for this
    /// connection and field (tampered, copied, unknown kid, malformed).
    #[error("undecryptable")]
    Undecryptable,
    /// The key set secret is malformed (no detail of its content).
    #[error("vault key set: {0}")]
    KeySet(&'static str),
    #[error("encryption failed")]
    Seal,
}

/// A key id: 1 to 64 of `[A-Za-z0-9_-]` (no `.` nor `|`, the envelope's and
/// the authenticated data's separators).
fn valid_kid(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn new_kid() -> String {
    b64url(&random_bytes::<9>())
}

/// The tenant's vault key set, as stored in Secrets Manager.
pub struct VaultKeys {
    current: String,
    keys: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    current: String,
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeys")
            .field("current", &self.current)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl VaultKeys {
    /// A new set with one random key.
    pub fn generate() -> VaultKeys {
        let kid = new_kid();
        let key = Zeroizing::new(random_bytes::<KEY_LEN>().to_vec());
        VaultKeys {
            current: kid.clone(),
            keys: BTreeMap::from([(kid, key)]),
        }
    }

    /// Rotation, step 1: a new key added to the set, not yet current. Every
    /// function must know a kid before anything is sealed under it (a copy of
    /// the set is cached for `KEY_SET_CACHE`), so the new kid is promoted
    /// only once that long has passed since this set was stored — then no
    /// sandbox meets a kid it has not loaded, and an unknown kid always means
    /// a corrupt item.
    pub fn with_new_key(&self) -> (VaultKeys, String) {
        let mut keys = self.keys.clone();
        let mut kid = new_kid();
        while keys.contains_key(&kid) {
            kid = new_kid();
        }
        keys.insert(
            kid.clone(),
            Zeroizing::new(random_bytes::<KEY_LEN>().to_vec()),
        );
        let set = VaultKeys {
            current: self.current.clone(),
            keys,
        };
        (set, kid)
    }

    /// Rotation, step 2 (at least `domain::key_rotation::KEY_SET_CACHE` after
    /// step 1 was stored): `kid` becomes current; the old keys stay, so every
    /// stored ciphertext still opens (commits re-encrypt as tokens rotate).
    pub fn promoted(&self, kid: &str) -> Result<VaultKeys, VaultError> {
        if !self.keys.contains_key(kid) {
            return Err(VaultError::KeySet("no such kid"));
        }
        Ok(VaultKeys {
            current: kid.to_owned(),
            keys: self.keys.clone(),
        })
    }

    pub fn current_kid(&self) -> &str {
        &self.current
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn parse(raw: &str) -> Result<VaultKeys, VaultError> {
        let stored: Stored =
            serde_json::from_str(raw).map_err(|_| VaultError::KeySet("not the expected JSON"))?;
        let mut keys = BTreeMap::new();
        for (kid, b64) in stored.keys {
            if !valid_kid(&kid) {
                return Err(VaultError::KeySet("malformed kid"));
            }
            let bytes = Zeroizing::new(
                b64url_decode(&b64).ok_or(VaultError::KeySet("key is not base64url"))?,
            );
            if bytes.len() != KEY_LEN {
                return Err(VaultError::KeySet("key is not 32 bytes"));
            }
            keys.insert(kid, bytes);
        }
        if !keys.contains_key(&stored.current) {
            return Err(VaultError::KeySet("current kid has no key"));
        }
        Ok(VaultKeys {
            current: stored.current,
            keys,
        })
    }

    /// The secret's value (key material: a `SecretString`).
    pub fn to_json(&self) -> Result<SecretString, VaultError> {
        let stored = Stored {
            current: self.current.clone(),
            keys: self
                .keys
                .iter()
                .map(|(k, v)| (k.clone(), b64url(v)))
                .collect(),
        };
        let json = serde_json::to_string(&stored).map_err(|_| VaultError::KeySet("encode"))?;
        Ok(SecretString::from(json))
    }

    /// The cipher over these keys (built once per cache period).
    pub fn vault(&self) -> Result<Vault, VaultError> {
        let mut keys = HashMap::new();
        for (kid, bytes) in &self.keys {
            let key = RandomizedNonceKey::new(&AES_256_GCM, bytes)
                .map_err(|_| VaultError::KeySet("key rejected"))?;
            keys.insert(kid.clone(), key);
        }
        Ok(Vault {
            current: self.current.clone(),
            keys,
        })
    }
}

/// A tenant's keys, ready to seal and open.
pub struct Vault {
    current: String,
    keys: HashMap<String, RandomizedNonceKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// The authenticated data binding a ciphertext to its place.
pub fn aad(key: &ConnectionKey, field: Field, kid: &str) -> String {
    format!(
        "{AAD_PREFIX}|{}|{}|{}|{}|{kid}",
        key.tenant,
        key.owner.as_key(),
        key.provider,
        field.as_str()
    )
}

impl Vault {
    /// Encrypts `plaintext` for `field` of the connection `key`, under the
    /// current kid.
    pub fn seal(
        &self,
        key: &ConnectionKey,
        field: Field,
        plaintext: &SecretString,
    ) -> Result<Sealed, VaultError> {
        let cipher = self.keys.get(&self.current).ok_or(VaultError::Seal)?;
        let mut buf = Zeroizing::new(plaintext.expose_secret().as_bytes().to_vec());
        let nonce = cipher
            .seal_in_place_append_tag(
                Aad::from(aad(key, field, &self.current).as_bytes()),
                &mut *buf,
            )
            .map_err(|_| VaultError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        Ok(Sealed::from_stored(format!(
            "{VERSION}.{}.{}",
            self.current,
            b64url(&out)
        )))
    }

    /// Decrypts what [`Vault::seal`] made for the same connection and field.
    pub fn open(
        &self,
        key: &ConnectionKey,
        field: Field,
        sealed: &Sealed,
    ) -> Result<SecretString, VaultError> {
        let mut parts = sealed.as_str().splitn(3, '.');
        let (Some(VERSION), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Undecryptable);
        };
        let cipher = self.keys.get(kid).ok_or(VaultError::Undecryptable)?;
        let raw = b64url_decode(body).ok_or(VaultError::Undecryptable)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(VaultError::Undecryptable);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Undecryptable)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = cipher
            .open_in_place(nonce, Aad::from(aad(key, field, kid).as_bytes()), &mut buf)
            .map_err(|_| VaultError::Undecryptable)?;
        let text = std::str::from_utf8(plain).map_err(|_| VaultError::Undecryptable)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::connections::Owner;
    use crate::ids::{ProviderName, TenantId, UserId};

    fn conn(tenant: &str, owner: Option<&str>, provider: &str) -> ConnectionKey {
        ConnectionKey {
            tenant: TenantId::parse(tenant).unwrap(),
            owner: owner.map_or(Owner::Service, |u| Owner::User(UserId::parse(u).unwrap())),
            provider: ProviderName::parse(provider).unwrap(),
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    const RT: &str = "8xLOxBtZp8!rotating-refresh-token";

    #[test]
    fn seals_and_opens_round_trip() {
        let v = VaultKeys::generate().vault().unwrap();
        let k = conn("acme", Some("u1"), "maximizer");
        let sealed = v.seal(&k, Field::RefreshToken, &secret(RT)).unwrap();
        assert!(sealed.as_str().starts_with(&format!("v1.{}.", v.current)));
        assert!(!sealed.as_str().contains(RT));
        let opened = v.open(&k, Field::RefreshToken, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), RT);
        // A random nonce: the same plaintext seals differently each time.
        let again = v.seal(&k, Field::RefreshToken, &secret(RT)).unwrap();
        assert_ne!(sealed, again);
        // The empty string too.
        let empty = v.seal(&k, Field::AccessToken, &secret("")).unwrap();
        assert_eq!(
            v.open(&k, Field::AccessToken, &empty)
                .unwrap()
                .expose_secret(),
            ""
        );
    }

    #[test]
    fn a_ciphertext_moved_to_any_other_place_does_not_open() {
        let v = VaultKeys::generate().vault().unwrap();
        let k = conn("acme", Some("u1"), "maximizer");
        let sealed = v.seal(&k, Field::RefreshToken, &secret(RT)).unwrap();
        let elsewhere = [
            (conn("acme2", Some("u1"), "maximizer"), Field::RefreshToken),
            (conn("acme", Some("u2"), "maximizer"), Field::RefreshToken),
            (conn("acme", None, "maximizer"), Field::RefreshToken),
            (conn("acme", Some("u1"), "keap"), Field::RefreshToken),
            (conn("acme", Some("u1"), "maximizer"), Field::AccessToken),
        ];
        for (other, field) in elsewhere {
            assert_eq!(
                v.open(&other, field, &sealed).map(|_| ()),
                Err(VaultError::Undecryptable),
                "{other:?} {field:?}"
            );
        }
    }

    #[test]
    fn relabelling_the_kid_does_not_open() {
        // Two keys in the set: the ciphertext made under one, labelled with
        // the other (whose key and authenticated data differ), fails.
        let keys = VaultKeys::generate();
        let old_kid = keys.current_kid().to_owned();
        let (keys, new_kid) = keys.with_new_key();
        let keys = keys.promoted(&new_kid).unwrap();
        let v = keys.vault().unwrap();
        let k = conn("acme", Some("u1"), "maximizer");
        let sealed = v.seal(&k, Field::RefreshToken, &secret(RT)).unwrap();
        let relabelled = sealed.as_str().replacen(keys.current_kid(), &old_kid, 1);
        let relabelled = Sealed::from_stored(relabelled);
        assert_eq!(
            v.open(&k, Field::RefreshToken, &relabelled).map(|_| ()),
            Err(VaultError::Undecryptable)
        );
        // And with the same key but another kid in the authenticated data.
        let key = v.keys.get(keys.current_kid()).unwrap();
        let mut buf = RT.as_bytes().to_vec();
        let nonce = key
            .seal_in_place_append_tag(
                Aad::from(aad(&k, Field::RefreshToken, &old_kid).as_bytes()),
                &mut buf,
            )
            .unwrap();
        let mut raw = nonce.as_ref().to_vec();
        raw.extend_from_slice(&buf);
        let forged = Sealed::from_stored(format!("v1.{}.{}", keys.current_kid(), b64url(&raw)));
        assert_eq!(
            v.open(&k, Field::RefreshToken, &forged).map(|_| ()),
            Err(VaultError::Undecryptable)
        );
    }

    #[test]
    fn tampered_nonce_ciphertext_or_tag_does_not_open() {
        let v = VaultKeys::generate().vault().unwrap();
        let k = conn("acme", None, "profix");
        let sealed = v.seal(&k, Field::AccessToken, &secret(RT)).unwrap();
        let body = sealed.as_str().rsplit('.').next().unwrap();
        let raw = b64url_decode(body).unwrap();
        let prefix = &sealed.as_str()[..sealed.as_str().len() - body.len()];
        // First nonce byte, a ciphertext byte, the last tag byte.
        for at in [0, NONCE_LEN + 3, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[at] ^= 0x01;
            let bad = Sealed::from_stored(format!("{prefix}{}", b64url(&bad)));
            assert_eq!(
                v.open(&k, Field::AccessToken, &bad).map(|_| ()),
                Err(VaultError::Undecryptable),
                "byte {at}"
            );
        }
        // Truncated, extended, malformed.
        for bad in [
            format!("{prefix}{}", b64url(&raw[..raw.len() - 1])),
            format!("{prefix}{}", b64url(&raw[..NONCE_LEN + TAG_LEN - 1])),
            format!("{prefix}{}", b64url(&[raw.as_slice(), &[0]].concat())),
            format!("{prefix}not base64!"),
            sealed.as_str().replacen("v1.", "v2.", 1),
            String::new(),
            "v1".into(),
            "v1..".into(),
        ] {
            assert_eq!(
                v.open(&k, Field::AccessToken, &Sealed::from_stored(bad.clone()))
                    .map(|_| ()),
                Err(VaultError::Undecryptable),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_unknown_kid_does_not_open() {
        let k = conn("acme", Some("u1"), "keap");
        let sealed = VaultKeys::generate()
            .vault()
            .unwrap()
            .seal(&k, Field::RefreshToken, &secret(RT))
            .unwrap();
        let other = VaultKeys::generate().vault().unwrap();
        assert_eq!(
            other.open(&k, Field::RefreshToken, &sealed).map(|_| ()),
            Err(VaultError::Undecryptable)
        );
    }

    #[test]
    fn after_rotation_old_ciphertexts_still_open_and_new_ones_use_the_new_kid() {
        let k = conn("acme", Some("u1"), "maximizer");
        let keys = VaultKeys::generate();
        let old = keys
            .vault()
            .unwrap()
            .seal(&k, Field::RefreshToken, &secret(RT))
            .unwrap();
        // Step 1, through the stored form: published, not yet used.
        let (published, new_kid) = keys.with_new_key();
        let published = VaultKeys::parse(published.to_json().unwrap().expose_secret()).unwrap();
        assert_eq!(published.current_kid(), keys.current_kid());
        assert_eq!(published.kids().count(), 2);
        let v = published.vault().unwrap();
        let still_old = v.seal(&k, Field::RefreshToken, &secret("x")).unwrap();
        assert!(
            still_old
                .as_str()
                .starts_with(&format!("v1.{}.", keys.current_kid()))
        );
        // Step 2: the new kid is current; the old ciphertext still opens.
        let rotated = VaultKeys::parse(
            published
                .promoted(&new_kid)
                .unwrap()
                .to_json()
                .unwrap()
                .expose_secret(),
        )
        .unwrap();
        assert_eq!(rotated.current_kid(), new_kid);
        assert_ne!(rotated.current_kid(), keys.current_kid());
        let v = rotated.vault().unwrap();
        assert_eq!(
            v.open(&k, Field::RefreshToken, &old)
                .unwrap()
                .expose_secret(),
            RT
        );
        let new = v.seal(&k, Field::RefreshToken, &secret("next")).unwrap();
        assert!(new.as_str().starts_with(&format!("v1.{new_kid}.")));
        assert_eq!(
            v.open(&k, Field::RefreshToken, &new)
                .unwrap()
                .expose_secret(),
            "next"
        );
        // A copy that had loaded only step 1 opens what step 2 seals.
        assert_eq!(
            published
                .vault()
                .unwrap()
                .open(&k, Field::RefreshToken, &new)
                .unwrap()
                .expose_secret(),
            "next"
        );
        // Without the old key the old ciphertext no longer opens.
        let only_new = VaultKeys::parse(
            &serde_json::json!({
                "current": new_kid,
                "keys": {new_kid.clone(): b64url(&rotated.keys[&new_kid])},
            })
            .to_string(),
        )
        .unwrap();
        assert_eq!(
            only_new
                .vault()
                .unwrap()
                .open(&k, Field::RefreshToken, &old)
                .map(|_| ()),
            Err(VaultError::Undecryptable)
        );
        assert!(rotated.promoted("no-such-kid").is_err());
    }

    #[test]
    fn malformed_key_sets_are_refused() {
        let good = b64url(&[7u8; 32]);
        for raw in [
            "".to_owned(),
            "{}".to_owned(),
            serde_json::json!({"current": "a", "keys": {}}).to_string(),
            serde_json::json!({"current": "b", "keys": {"a": good}}).to_string(),
            serde_json::json!({"current": "a", "keys": {"a": b64url(&[7u8; 16])}}).to_string(),
            serde_json::json!({"current": "a", "keys": {"a": "***"}}).to_string(),
            serde_json::json!({"current": "a.b", "keys": {"a.b": good}}).to_string(),
            serde_json::json!({"current": "a|b", "keys": {"a|b": good}}).to_string(),
        ] {
            assert!(VaultKeys::parse(&raw).is_err(), "{raw}");
        }
        assert!(
            VaultKeys::parse(&serde_json::json!({"current": "a", "keys": {"a": good}}).to_string())
                .is_ok()
        );
    }

    #[test]
    fn no_key_or_plaintext_in_debug_or_errors() {
        let keys = VaultKeys::generate();
        let key_b64 = b64url(&keys.keys[keys.current_kid()]);
        let v = keys.vault().unwrap();
        let k = conn("acme", Some("u1"), "maximizer");
        let sealed = v.seal(&k, Field::RefreshToken, &secret(RT)).unwrap();
        let opened = v.open(&k, Field::RefreshToken, &sealed).unwrap();
        let shown = format!(
            "{keys:?} {v:?} {sealed:?} {opened:?} {}",
            VaultError::Undecryptable
        );
        for s in [RT, key_b64.as_str(), sealed.as_str()] {
            assert!(!shown.contains(s), "{shown}");
        }
        assert!(shown.contains(keys.current_kid()));
    }
}
