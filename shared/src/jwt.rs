//! Minting JWTs: RFC 9068 access tokens and OIDC id_tokens.

use crate::clock::Now;
use crate::crypto::random_token;
use crate::error::OAuthError;
use crate::ids::ClientId;
use crate::keys::Signer;
use crate::store::{Tenant, User};
use serde_json::{Map, Value, json};

/// Claims an attribute may not override.
const RESERVED: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "typ",
];

fn sign(signer: &Signer, typ: &str, claims: &Value) -> Result<String, OAuthError> {
    signer.sign_jwt(typ, claims).map_err(OAuthError::internal)
}

fn user_claims(claims: &mut Map<String, Value>, user: &User) {
    for (k, v) in &user.attrs {
        if !RESERVED.contains(&k.as_str()) {
            claims.insert(k.clone(), json!(v));
        }
    }
    if let Some(n) = &user.name {
        claims.insert("name".into(), json!(n));
    }
    if let Some(e) = &user.email {
        claims.insert("email".into(), json!(e));
    }
    claims.insert("preferred_username".into(), json!(user.username));
}

/// The tenant's audiences, or the client itself when the tenant names none.
fn audience(tenant: &Tenant, client_id: &ClientId) -> Value {
    match tenant.audiences.as_slice() {
        [] => json!(client_id.as_str()),
        [one] => json!(one),
        many => json!(many),
    }
}

pub struct AccessToken<'a> {
    pub issuer: &'a str,
    pub tenant: &'a Tenant,
    pub client_id: &'a ClientId,
    pub scope: &'a str,
    /// `None` for client_credentials (then `sub` is the client id).
    pub user: Option<&'a User>,
    pub auth_time: Option<u64>,
}

impl AccessToken<'_> {
    pub fn sign(&self, signer: &Signer, now: Now) -> Result<String, OAuthError> {
        let mut c = Map::new();
        c.insert("iss".into(), json!(self.issuer));
        let sub = self
            .user
            .map(|u| u.user_id.as_str())
            .unwrap_or(self.client_id.as_str());
        c.insert("sub".into(), json!(sub));
        c.insert("aud".into(), audience(self.tenant, self.client_id));
        c.insert("client_id".into(), json!(self.client_id.as_str()));
        c.insert("scope".into(), json!(self.scope));
        c.insert("iat".into(), json!(now.secs()));
        c.insert("exp".into(), json!(now.plus(self.tenant.access_token_ttl)));
        c.insert("jti".into(), json!(random_token(16)));
        if let Some(t) = self.auth_time {
            c.insert("auth_time".into(), json!(t));
        }
        if let Some(u) = self.user {
            user_claims(&mut c, u);
        }
        sign(signer, "at+jwt", &Value::Object(c))
    }
}

pub struct IdToken<'a> {
    pub issuer: &'a str,
    pub client_id: &'a ClientId,
    pub user: &'a User,
    pub nonce: Option<&'a str>,
    pub auth_time: u64,
    pub ttl: u64,
}

impl IdToken<'_> {
    pub fn sign(&self, signer: &Signer, now: Now) -> Result<String, OAuthError> {
        let mut c = Map::new();
        user_claims(&mut c, self.user);
        c.insert("iss".into(), json!(self.issuer));
        c.insert("sub".into(), json!(self.user.user_id.as_str()));
        c.insert("aud".into(), json!(self.client_id.as_str()));
        c.insert("azp".into(), json!(self.client_id.as_str()));
        c.insert("iat".into(), json!(now.secs()));
        c.insert("exp".into(), json!(now.plus(self.ttl)));
        c.insert("auth_time".into(), json!(self.auth_time));
        if let Some(n) = self.nonce {
            c.insert("nonce".into(), json!(n));
        }
        sign(signer, "JWT", &Value::Object(c))
    }
}
