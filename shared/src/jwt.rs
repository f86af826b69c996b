//! Minting JWTs: RFC 9068 access tokens and OIDC id_tokens.

use crate::clock::Now;
use crate::crypto::random_token;
use crate::domain::claims::{ClaimSet, audience, user_claims};
use crate::error::OAuthError;
use crate::ids::ClientId;
use crate::keys::Signer;
use crate::store::{Tenant, User};
use serde_json::{Map, Value, json};

fn sign(signer: &Signer, typ: &str, claims: &Value) -> Result<String, OAuthError> {
    signer.sign_jwt(typ, claims).map_err(OAuthError::internal)
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
        c.insert("aud".into(), audience(self.tenant, self.issuer));
        c.insert("client_id".into(), json!(self.client_id.as_str()));
        c.insert("scope".into(), json!(self.scope));
        c.insert("iat".into(), json!(now.secs()));
        c.insert("exp".into(), json!(now.plus(self.tenant.access_token_ttl)));
        c.insert("jti".into(), json!(random_token(16)));
        if let Some(t) = self.auth_time {
            c.insert("auth_time".into(), json!(t));
        }
        // Access tokens carry the user's claims for the tenant's APIs (SPEC:
        // Tokens); id_tokens and userinfo release them by scope.
        if let Some(u) = self.user {
            user_claims(&mut c, u, ClaimSet::ALL);
        }
        sign(signer, "at+jwt", &Value::Object(c))
    }
}

pub struct IdToken<'a> {
    pub issuer: &'a str,
    pub client_id: &'a ClientId,
    pub user: &'a User,
    /// The granted scope: `profile` and `email` release those claims.
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: u64,
    pub ttl: u64,
}

impl IdToken<'_> {
    pub fn sign(&self, signer: &Signer, now: Now) -> Result<String, OAuthError> {
        let mut c = Map::new();
        user_claims(&mut c, self.user, ClaimSet::for_scope(self.scope));
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
