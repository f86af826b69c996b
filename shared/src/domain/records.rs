//! The records of the SPEC: tenants, clients, users, codes, refresh tokens and
//! their families. Plain data; the rules that use them live in the files named
//! after each rule beside this one, and only the storage adapters know how
//! these are stored.

use crate::ids::{ClientId, TenantId, UserId};
use std::collections::BTreeMap;

/// Signing algorithm of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    ES256,
    RS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::ES256 => "ES256",
            SigningAlg::RS256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(SigningAlg::ES256),
            "RS256" => Some(SigningAlg::RS256),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub audiences: Vec<String>,
    pub signing_alg: SigningAlg,
    /// Public keys (current first, then previous) as a JWKS `keys` JSON array.
    pub public_jwks: String,
    pub current_kid: String,
    /// Maximizer's sliding expiry: with `Some(max)`, an access token stays
    /// active while each use comes within `access_token_ttl` of the previous
    /// one, but never past `iat + max` (SPEC: Introspection).
    pub sliding_max: Option<u64>,
    /// Days between automatic key rotations (`--key-rotation-days`; default 90).
    pub key_rotation_days: Option<u64>,
    /// The sign-in page's display name, logo, colour and scope descriptions
    /// (`tenant update --display-name …`); all absent by default.
    pub branding: crate::domain::branding::Branding,
    pub created_at: u64,
    /// The key changes' fence and the maintenance schedule.
    pub keys: KeyState,
    /// `tenant delete` has begun: the tenant serves nothing any more.
    pub deleting: bool,
}

/// A tenant's key bookkeeping on its record (`domain::key_rotation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyState {
    /// Bumped by every key change (one conditional write of the tenant
    /// item); the key set in Secrets Manager carries the generation it was
    /// written with. 0 before the first change.
    pub generation: u64,
    /// When that change was committed.
    pub changed_at: u64,
    /// When the maintenance must look at the tenant's keys next (the due
    /// index); 0: at once.
    pub due: u64,
}

pub const DEFAULT_ACCESS_TOKEN_TTL: u64 = 600;
pub const DEFAULT_REFRESH_TOKEN_TTL: u64 = 180 * 24 * 3600;

/// Grants a client may be registered for (`refresh_token` is implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    AuthorizationCode,
    ClientCredentials,
    Password,
    Implicit,
    /// RFC 8693 token exchange (`urn:ietf:params:oauth:grant-type:token-exchange`).
    TokenExchange,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
            Grant::Implicit => "implicit",
            Grant::TokenExchange => "token_exchange",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Grant::AuthorizationCode),
            "client_credentials" => Some(Grant::ClientCredentials),
            "password" => Some(Grant::Password),
            "implicit" => Some(Grant::Implicit),
            "token_exchange" => Some(Grant::TokenExchange),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub tenant: TenantId,
    pub client_id: ClientId,
    pub name: String,
    pub grants: Vec<Grant>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub require_pkce: bool,
    pub require_offline_access: bool,
    /// Origins (`scheme://host[:port]`) of browser apps of this client (CORS).
    pub web_origins: Vec<String>,
    /// A resource server: may introspect every token of its tenant.
    pub introspect: bool,
    pub enabled: bool,
    pub created_at: u64,
}

impl Client {
    pub fn has_grant(&self, g: Grant) -> bool {
        self.grants.contains(&g)
    }
}

#[derive(Clone)]
pub struct User {
    pub tenant: TenantId,
    pub user_id: UserId,
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub attrs: BTreeMap<String, String>,
    pub require_password_change: bool,
    /// Bumped on every password change; refresh-token families carry the value
    /// they were born with, so a change kills every older family atomically.
    pub pwd_version: u64,
    pub enabled: bool,
    pub created_at: u64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("tenant", &self.tenant)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// An external OpenID provider a tenant trusts for token exchange (SPEC:
/// Trusted issuers). Its JWKS is found through its discovery document unless
/// `jwks_uri` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub tenant: TenantId,
    /// Compared byte for byte with a token's `iss`.
    pub issuer: String,
    /// A token's `aud` must contain one of these.
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    /// An unlinked subject becomes a new user on its first exchange.
    pub create_users: bool,
    pub created_at: u64,
}

/// Ties a subject of a trusted issuer to a local user (`user link`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLink {
    pub tenant: TenantId,
    pub issuer: String,
    pub subject: String,
    pub user_id: UserId,
}

/// Usernames are matched without regard to case.
pub fn normalize_username(u: &str) -> String {
    u.trim().to_lowercase()
}

/// An authorization code, stored under the hash of the code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub tenant: TenantId,
    pub code_hash: String,
    pub client_id: ClientId,
    /// The redirect_uri the client was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request carried redirect_uri (then the token
    /// request must carry the identical value, RFC 6749 §4.1.3).
    pub redirect_uri_in_request: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub user_id: UserId,
    pub auth_time: u64,
    pub expires_at: u64,
    /// Set by the one redemption that won; a later redemption revokes this family.
    pub family_id: Option<String>,
}

/// A family's refresh tokens (SPEC: Token). They form a chain: each token's
/// successor is derived from it with the family's key, and only the newest
/// token is stored, as a hash. An older token is recognised by its tag (also
/// made with the key), so presenting one is detected as reuse, while a token
/// nobody issued revokes nothing. One conditional write of the family item
/// rotates the chain (`domain::refresh_rotation`).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshChain {
    /// The scope the chain was granted (it never changes; each refresh may
    /// narrow its own access token).
    pub scope: String,
    /// The current token's generation (0 for the first token).
    pub generation: u64,
    /// `token_hash` of the current token: the only token that may rotate.
    pub current_hash: String,
    /// The family's HMAC key (b64url, 256 bits): successors and tags are made
    /// with it. It is never sent, and without the previous token it yields no
    /// token.
    pub key: String,
    /// The random salt (b64url, 256 bits) the last rotation made the current
    /// token with (`""` for generation 0): each successor carries fresh
    /// randomness, and an exact retry recomputes it.
    pub salt: String,
    /// When the current token was issued, and when it expires.
    pub issued_at: u64,
    pub expires_at: u64,
    /// The rotation that made the current token (none for generation 0).
    pub last_rotation: Option<LastRotation>,
}

/// The key and the salt stay out of logs and panics.
impl std::fmt::Debug for RefreshChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshChain")
            .field("scope", &self.scope)
            .field("generation", &self.generation)
            .field("current_hash", &self.current_hash)
            .field("key", &"<redacted>")
            .field("salt", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("last_rotation", &self.last_rotation)
            .finish()
    }
}

/// What a rotation recorded for the exact-retry window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRotation {
    /// When it committed.
    pub at: u64,
    /// The scope the rotating request asked for (deduplicated and sorted,
    /// `""` for none): only a request asking for the same set is an exact
    /// retry.
    pub retry_scope: String,
}

/// A refresh-token family: everything issued from one authorization (the
/// session its access tokens name as `sid`).
#[derive(Debug, Clone)]
pub struct Family {
    pub tenant: TenantId,
    pub family_id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub pwd_version: u64,
    pub revoked: bool,
    pub created_at: u64,
    pub expires_at: u64,
    /// When the user authenticated for this session (the sign-in, or the
    /// password grant's check): every id_token of the session names it as
    /// `auth_time`, refreshed ones included (OIDC Core §12.2). `None` for a
    /// session started without an authentication of its own (an external
    /// subject's token exchange).
    pub auth_time: Option<u64>,
    /// Its refresh tokens, when the client got one.
    pub refresh: Option<RefreshChain>,
}

/// The answer to a throttle reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// A slot is held; give it back with `ThrottleStore::release` after a
    /// correct password.
    Granted(crate::domain::throttling::Slot),
    /// A budget is spent; its oldest reservation leaves the window in this
    /// many seconds.
    Denied { retry_after: u64 },
}
