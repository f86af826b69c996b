//! Minting JWTs: RFC 9068 access tokens and OIDC id_tokens.

use crate::clock::Now;
use crate::crypto::random_token;
use crate::domain::claims::{ClaimSet, audience, user_claims};
use crate::domain::records::{Tenant, User};
use crate::ids::ClientId;
use crate::tokens::keys::KeyError;
use crate::tokens::signer::Signer;
use serde_json::{Map, Value, json};

fn sign(
    signer: &Signer,
    typ: &str,
    claims: &Value,
    now: Now,
    published: &str,
) -> Result<String, KeyError> {
    signer.sign_published(typ, claims, now.secs(), published)
}

pub struct AccessToken<'a> {
    pub issuer: &'a str,
    pub tenant: &'a Tenant,
    pub client_id: &'a ClientId,
    pub scope: &'a str,
    /// `None` for client_credentials (then `sub` is the client id).
    pub user: Option<&'a User>,
    pub auth_time: Option<u64>,
    /// The session (refresh-token family) a user's token belongs to: a
    /// reference, never a secret, so introspection can tie the token to its
    /// family's revocation.
    pub sid: Option<&'a str>,
    /// What a token exchange changes: a shorter lifetime, one audience, and
    /// the `act` claim. `Default` for every other grant.
    pub exchange: Exchange<'a>,
}

/// A token exchange's adjustments to an access token (RFC 8693).
#[derive(Default, Clone, Copy)]
pub struct Exchange<'a> {
    /// Lifetime in seconds, instead of the tenant's.
    pub lifetime: Option<u64>,
    /// The `aud` (the one audience asked for, or the subject token's own),
    /// instead of the tenant's audiences.
    pub audience: Option<&'a Value>,
    /// RFC 8693 §4.1: who acts for the subject.
    pub act: Option<&'a Value>,
    /// The subject's sliding-expiry cap (`domain::token_exchange::SLIDING_CAP_CLAIM`).
    pub sliding_cap: Option<u64>,
}

impl AccessToken<'_> {
    pub fn sign(&self, signer: &Signer, now: Now) -> Result<String, KeyError> {
        let mut c = Map::new();
        c.insert("iss".into(), json!(self.issuer));
        let sub = self
            .user
            .map(|u| u.user_id.as_str())
            .unwrap_or(self.client_id.as_str());
        c.insert("sub".into(), json!(sub));
        let aud = match self.exchange.audience {
            Some(a) => a.clone(),
            None => audience(self.tenant, self.issuer),
        };
        c.insert("aud".into(), aud);
        c.insert("client_id".into(), json!(self.client_id.as_str()));
        c.insert("scope".into(), json!(self.scope));
        c.insert("iat".into(), json!(now.secs()));
        let lifetime = self
            .exchange
            .lifetime
            .unwrap_or(self.tenant.access_token_ttl);
        c.insert("exp".into(), json!(now.plus(lifetime)));
        if let Some(act) = self.exchange.act {
            c.insert("act".into(), act.clone());
        }
        if let Some(cap) = self.exchange.sliding_cap {
            c.insert(
                crate::domain::token_exchange::SLIDING_CAP_CLAIM.into(),
                json!(cap),
            );
        }
        c.insert("jti".into(), json!(random_token(16)));
        if let Some(t) = self.auth_time {
            c.insert("auth_time".into(), json!(t));
        }
        if let Some(sid) = self.sid {
            c.insert("sid".into(), json!(sid));
        }
        // Access tokens carry the user's claims for the tenant's APIs (SPEC:
        // Tokens); id_tokens and userinfo release them by scope.
        if let Some(u) = self.user {
            user_claims(&mut c, u, ClaimSet::ALL);
        }
        sign(
            signer,
            "at+jwt",
            &Value::Object(c),
            now,
            &self.tenant.public_jwks,
        )
    }
}

pub struct IdToken<'a> {
    pub issuer: &'a str,
    pub client_id: &'a ClientId,
    pub user: &'a User,
    /// The tenant's published JWKS (only a published key signs).
    pub published_jwks: &'a str,
    /// The granted scope: `profile` and `email` release those claims.
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    /// When the user authenticated (`None`: not known, no claim).
    pub auth_time: Option<u64>,
    pub ttl: u64,
}

impl IdToken<'_> {
    pub fn sign(&self, signer: &Signer, now: Now) -> Result<String, KeyError> {
        let mut c = Map::new();
        user_claims(&mut c, self.user, ClaimSet::for_scope(self.scope));
        c.insert("iss".into(), json!(self.issuer));
        c.insert("sub".into(), json!(self.user.user_id.as_str()));
        c.insert("aud".into(), json!(self.client_id.as_str()));
        c.insert("azp".into(), json!(self.client_id.as_str()));
        c.insert("iat".into(), json!(now.secs()));
        c.insert("exp".into(), json!(now.plus(self.ttl)));
        if let Some(t) = self.auth_time {
            c.insert("auth_time".into(), json!(t));
        }
        if let Some(n) = self.nonce {
            c.insert("nonce".into(), json!(n));
        }
        sign(signer, "JWT", &Value::Object(c), now, self.published_jwks)
    }
}

/// The claims of an access token this tenant issued, verified: the header's
/// `alg` is the tenant's, `typ` is `at+jwt` (never an id_token), `kid` is in
/// the tenant's published JWKS, the signature verifies and `iss` is the
/// tenant's issuer. Expiry is the caller's to judge (sliding expiry moves it).
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken {
    pub claims: Map<String, Value>,
    pub sub: String,
    pub client_id: ClientId,
    pub scope: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub sid: Option<String>,
}

/// Verifies an access token of `tenant`; `None` for anything else (malformed,
/// another tenant's, an id_token, a forged or unknown key).
pub fn verify_access_token(
    token: &str,
    tenant: &Tenant,
    issuer: &str,
) -> Option<VerifiedAccessToken> {
    use crate::crypto::b64url_decode;
    if token.len() > 8192 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, c, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Map<String, Value> = serde_json::from_slice(&b64url_decode(h)?).ok()?;
    if header.get("alg")?.as_str()? != tenant.signing_alg.as_str()
        || header.get("typ")?.as_str()? != "at+jwt"
    {
        return None;
    }
    let kid = header.get("kid")?.as_str()?;
    let jwks: Vec<Value> = serde_json::from_str(&tenant.public_jwks).ok()?;
    let jwk = jwks
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))?;
    let signature = b64url_decode(sig)?;
    let signed = &token[..h.len() + 1 + c.len()];
    if !crate::tokens::signer::verify_with_jwk(
        jwk,
        tenant.signing_alg,
        signed.as_bytes(),
        &signature,
    ) {
        return None;
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64url_decode(c)?).ok()?;
    if claims.get("iss")?.as_str()? != issuer {
        return None;
    }
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let num = |k: &str| claims.get(k).and_then(Value::as_u64);
    Some(VerifiedAccessToken {
        sub: text("sub")?,
        client_id: ClientId::parse(&text("client_id")?).ok()?,
        scope: text("scope").unwrap_or_default(),
        iat: num("iat")?,
        exp: num("exp")?,
        jti: text("jti").filter(|j| j.len() <= 64)?,
        sid: text("sid").filter(|s| s.len() <= 64),
        claims,
    })
}
