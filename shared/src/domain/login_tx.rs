//! The login transaction: the authorization request, signed (HMAC-SHA256 with the
//! stack's login key), short-lived, and carried in the login form. The callback
//! verifies it and marks its id used in DynamoDB, so it works once. It binds the
//! form to the request it was built for without a server session or a cookie
//! (authorize and callback are different hosts on function URLs).
//!
//! It carries the client's `state` and `nonce` (up to 4 KiB each, SPEC: Bad
//! input) as base64url of their bytes, so whatever they hold — a control
//! character would cost JSON six bytes — each takes at most 4/3 of its length,
//! and the sealed transaction has a bound ([`MAX_SEALED`]) that the callback's
//! form (64 KiB) holds with room to spare.

use crate::clock::Now;
use crate::crypto::{b64url, b64url_decode, ct_eq, hmac_sha256};
use serde::{Deserialize, Serialize};

pub const LIFETIME: u64 = 600;
/// v2: `st` and `n` are base64url (a v1 transaction never opens as a v2 one).
const DOMAIN: &[u8] = b"tollgate.login-tx.v2.";

/// The longest sealed transaction: what the largest request authorize
/// accepts makes (a 2,000-byte redirect URI, 2 KiB of scope, 4 KiB each of
/// `state` and `nonce`: about 23 KiB), with room for a client's long
/// registered scopes. Authorize refuses to build a longer one; the callback
/// reads no longer `tx`.
pub const MAX_SEALED: usize = 32 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginTx {
    /// Tenant alias.
    pub t: String,
    /// Client id.
    pub c: String,
    /// The effective redirect URI.
    pub r: String,
    /// Whether redirect_uri was in the request.
    pub ri: bool,
    /// Granted scope (space-delimited).
    pub s: String,
    /// The client's `state` (base64url in the sealed form).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_text")]
    pub st: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
    /// The client's `nonce` (base64url in the sealed form).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_text")]
    pub n: Option<String>,
    /// `code` or `token`.
    pub rt: String,
    pub exp: u64,
    /// Random id; used once.
    pub id: String,
    /// The page's language (`en`, `fr`, …), chosen at authorize, so the
    /// callback answers in it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l: Option<String>,
    /// The upstream provider whose account the user connects after signing
    /// in (`upstream={name}`; SPEC: Connecting a user's account). Optional,
    /// so the format stays v2: a transaction without it means what it meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<String>,
}

impl LoginTx {
    pub fn seal(&self, key: &[u8]) -> String {
        let payload = b64url(serde_json::to_string(self).unwrap_or_default().as_bytes());
        let mac = mac(key, &payload);
        format!("{payload}.{}", b64url(&mac))
    }

    /// Verifies the signature and expiry; `None` for anything else.
    pub fn open(sealed: &str, key: &[u8], now: Now) -> Option<LoginTx> {
        let (payload, sig) = sealed.split_once('.')?;
        let sig = b64url_decode(sig)?;
        if !ct_eq(&mac(key, payload), &sig) {
            return None;
        }
        let tx: LoginTx = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
        (tx.exp > now.secs()).then_some(tx)
    }
}

/// Text carried as base64url of its UTF-8 bytes.
mod b64_text {
    use crate::crypto::{b64url, b64url_decode};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_some(&b64url(t.as_bytes())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| {
                b64url_decode(&raw)
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| D::Error::custom("not base64url UTF-8"))
            })
            .transpose()
    }
}

fn mac(key: &[u8], payload: &str) -> [u8; 32] {
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(payload.as_bytes());
    hmac_sha256(key, &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx() -> LoginTx {
        LoginTx {
            t: "acme".into(),
            c: "c".into(),
            r: "https://c.example/cb".into(),
            ri: true,
            s: "openid".into(),
            st: Some("xyz".into()),
            cc: None,
            n: None,
            rt: "code".into(),
            exp: 1000,
            id: "id".into(),
            l: Some("fr".into()),
            u: None,
        }
    }

    #[test]
    fn sealed_tx_round_trips_and_rejects_tampering_and_expiry() {
        let key = b"k".repeat(32);
        let s = tx().seal(&key);
        assert_eq!(LoginTx::open(&s, &key, Now(999)), Some(tx()));
        assert_eq!(LoginTx::open(&s, &key, Now(1000)), None);
        assert_eq!(LoginTx::open(&s, b"other", Now(1)), None);
        let mut forged = tx();
        forged.r = "https://evil.example/".into();
        let (_, sig) = s.split_once('.').unwrap();
        let payload = b64url(serde_json::to_string(&forged).unwrap().as_bytes());
        assert_eq!(
            LoginTx::open(&format!("{payload}.{sig}"), &key, Now(1)),
            None
        );
        assert_eq!(LoginTx::open("garbage", &key, Now(1)), None);
    }

    #[test]
    fn state_and_nonce_travel_as_base64url_whatever_they_hold() {
        let mut t = tx();
        t.st = Some("a \"b\" \u{0}\u{1f} é".into());
        t.n = Some(String::new());
        let key = b"k".repeat(32);
        let sealed = t.seal(&key);
        let (payload, _) = sealed.split_once('.').unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&b64url_decode(payload).unwrap()).unwrap();
        assert_eq!(json["st"], b64url(t.st.as_deref().unwrap().as_bytes()));
        assert_eq!(json["n"], "");
        assert_eq!(LoginTx::open(&sealed, &key, Now(1)), Some(t));
    }
}
