//! The upstream transaction (SPEC: Upstream providers — Connecting a user's
//! account; research §3.5): what the callback function keeps, server-side,
//! while the browser is at the provider. It holds everything needed to finish
//! the client's authorization afterwards (the code's contents), the provider,
//! the user, and two hashes: of the upstream `state` (its key: the provider's
//! redirect is found by it) and of the browser-binding value (the `__Host-`
//! cookie's; the redirect counts only from the browser that holds it). It
//! lives [`LIFETIME`] seconds and is taken once (one conditional delete).
//!
//! No upstream secret is stored: the PKCE verifier, when the preset uses
//! PKCE, is derived from the cookie's value ([`pkce_verifier`]), so the item
//! alone can redeem nothing, and the table holds only hashes of the `state`
//! and the cookie.

use crate::crypto::{b64url, ct_eq, hmac_sha256, random_token, token_hash};
use crate::ids::{ClientId, ProviderName, TenantId, UserId};

/// Seconds the browser has to come back from the provider.
pub const LIFETIME: u64 = 600;

/// The browser-binding cookie (`__Host-`: Secure, Path=/, no Domain — only
/// the callback function's host ever gets it back).
pub const COOKIE: &str = "__Host-tollgate-upstream";

/// The longest cookie value read (ours are 43 characters).
pub const MAX_COOKIE: usize = 128;

/// What issuing the client's code needs, saved from the login transaction
/// and the sign-in (the fields of `records::AuthCode` that exist before the
/// code does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub client_id: ClientId,
    /// The effective redirect URI.
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri`.
    pub redirect_uri_in_request: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// The client's `state`, returned with the code or the error.
    pub state: Option<String>,
    /// The page's language (`en`, `fr`, …).
    pub lang: Option<String>,
}

/// What the provider's redirect finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    /// Connecting the account of this signed-in user (the token vault).
    Connect(UserId),
    /// "Sign in with {provider}" (SPEC: Federated sign-in): the user is
    /// whoever the provider's ID token names; `connect` when the request
    /// also asked `upstream={provider}` (the same answer is stored).
    SignIn { connect: bool },
}

/// One connect in progress. `Debug` shows no hash.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamTx {
    pub tenant: TenantId,
    /// [`state_key`] of the upstream `state`.
    pub state_hash: String,
    /// [`binding_hash`] of the cookie's value.
    pub binding_hash: String,
    pub provider: ProviderName,
    pub leg: Leg,
    /// When the user signed in (the code's `auth_time`); for a sign-in,
    /// when it started.
    pub auth_time: u64,
    pub client: ClientRequest,
    pub expires_at: u64,
}

impl std::fmt::Debug for UpstreamTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTx")
            .field("tenant", &self.tenant)
            .field("provider", &self.provider)
            .field("leg", &self.leg)
            .field("client", &self.client.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl UpstreamTx {
    /// Whether `cookie` is this transaction's binding value (constant time).
    pub fn bound_to(&self, cookie: &str) -> bool {
        ct_eq(
            binding_hash(cookie).as_bytes(),
            self.binding_hash.as_bytes(),
        )
    }
}

/// The key an upstream `state` is stored under (a hash: the table never
/// holds the value the provider echoes).
pub fn state_key(state: &str) -> String {
    token_hash(state)
}

/// The stored form of the browser-binding value.
pub fn binding_hash(cookie: &str) -> String {
    token_hash(cookie)
}

/// A fresh browser-binding value (256 bits).
pub fn new_binding() -> String {
    random_token(32)
}

/// The PKCE verifier of a connect (RFC 7636 §4.1: 43 unreserved characters),
/// derived from its binding value: the same at the start and at the
/// provider's redirect, never stored.
pub fn pkce_verifier(binding: &str) -> String {
    b64url(&hmac_sha256(
        binding.as_bytes(),
        b"tollgate.upstream-tx.pkce.v1",
    ))
}

/// The OpenID `nonce` of a sign-in, derived from its binding value like the
/// PKCE verifier: the ID token must carry it, and it is never stored.
pub fn signin_nonce(binding: &str) -> String {
    b64url(&hmac_sha256(
        binding.as_bytes(),
        b"tollgate.upstream-tx.nonce.v1",
    ))
}

/// The cookie's value among a `Cookie` header's pairs (`a=b; c=d`), bounded.
pub fn cookie_value<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_is_checked_by_hash_and_the_verifier_is_derived_from_it() {
        let b = new_binding();
        assert_eq!(b.len(), 43);
        let tx = UpstreamTx {
            tenant: TenantId::parse("acme").unwrap(),
            state_hash: state_key("s"),
            binding_hash: binding_hash(&b),
            provider: ProviderName::parse("maximizer").unwrap(),
            leg: Leg::Connect(UserId::parse("u1").unwrap()),
            auth_time: 1,
            client: ClientRequest {
                client_id: ClientId::parse("c".repeat(20).as_str()).unwrap(),
                redirect_uri: "https://c.example/cb".into(),
                redirect_uri_in_request: true,
                scope: "upstream:maximizer".into(),
                code_challenge: None,
                nonce: None,
                state: None,
                lang: None,
            },
            expires_at: 601,
        };
        assert!(tx.bound_to(&b));
        assert!(!tx.bound_to(&new_binding()));
        assert!(!tx.bound_to(""));
        let dbg = format!("{tx:?}");
        assert!(!dbg.contains(&tx.binding_hash) && !dbg.contains(&tx.state_hash));
        let v = pkce_verifier(&b);
        assert_eq!(v, pkce_verifier(&b));
        assert_ne!(v, pkce_verifier(&new_binding()));
        assert!(crate::domain::pkce::is_valid_pkce_verifier(&v), "{v}");
        assert_ne!(signin_nonce(&b), v);
        assert_eq!(signin_nonce(&b), signin_nonce(&b));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_bounded() {
        let h = format!("a=1; {COOKIE}=xyz ; b=2");
        assert_eq!(cookie_value([h.as_str()]), Some("xyz"));
        assert_eq!(cookie_value(["a=1", &format!("{COOKIE}=v")]), Some("v"));
        assert_eq!(cookie_value(["a=1"]), None);
        assert_eq!(cookie_value([format!("{COOKIE}=").as_str()]), None);
        let long = format!("{COOKIE}={}", "x".repeat(MAX_COOKIE + 1));
        assert_eq!(cookie_value([long.as_str()]), None);
        assert_eq!(cookie_value(["__Host-tollgate-upstreamX=1"]), None);
    }
}
