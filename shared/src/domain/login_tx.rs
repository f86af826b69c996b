//! The login transaction: the authorization request, signed (HMAC-SHA256 with the
//! stack's login key), short-lived, and carried in the login form. The callback
//! verifies it and marks its id used in DynamoDB, so it works once. It binds the
//! form to the request it was built for without a server session or a cookie
//! (authorize and callback are different hosts on function URLs).

use crate::clock::Now;
use crate::crypto::{b64url, b64url_decode, ct_eq, hmac_sha256};
use serde::{Deserialize, Serialize};

pub const LIFETIME: u64 = 600;
const DOMAIN: &[u8] = b"tollgate.login-tx.v1.";

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub st: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}
