//! What each endpoint decides, as plain data: one outcome type per endpoint.
//! Handlers return these; `respond` maps them to HTTP in exactly one place
//! (status, `WWW-Authenticate`, `Retry-After`, `Cache-Control`, the Profix
//! shapes, the security headers of the pages). Nothing here knows HTTP.

use crate::oauth::error::OAuthError;

/// What a successful grant returns.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub id_token: Option<String>,
}

/// The token a token exchange issued.
pub struct ExchangedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

impl std::fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The token and refresh endpoints.
#[derive(Debug)]
pub enum TokenOutcome {
    Issued(Tokens),
    /// RFC 8693 §2.2.1: a token exchange's answer (no refresh token).
    Exchanged(ExchangedToken),
    /// Profix: the password grant for a user who must change the password.
    PasswordChangeRequired {
        userid: String,
    },
    Refused(OAuthError),
    /// A well-formed alias that names no tenant (404).
    NoSuchTenant,
}

impl From<Tokens> for TokenOutcome {
    fn from(t: Tokens) -> Self {
        TokenOutcome::Issued(t)
    }
}

impl From<OAuthError> for TokenOutcome {
    fn from(e: OAuthError) -> Self {
        TokenOutcome::Refused(e)
    }
}

/// Profix's change password: `{"success": bool, "message": "…"}`.
#[derive(Debug)]
pub enum ChangePasswordOutcome {
    Changed,
    /// A policy or credential failure, or a malformed request (400).
    Refused {
        message: String,
    },
    /// Client authentication failed (401; `WWW-Authenticate` after Basic).
    ClientAuthFailed {
        basic: bool,
    },
    /// The body is over the size limit (413).
    TooLarge {
        message: String,
    },
    /// The user's password budget is spent (429).
    Throttled {
        retry_after: u64,
    },
    /// Another request changed the password first (409).
    Conflict,
    NoSuchTenant,
    /// An outage or internal failure: the token endpoint's error shape.
    Failed(OAuthError),
}

/// Discovery: metadata and JWKS.
#[derive(Debug)]
pub enum DiscoveryOutcome {
    /// A public, cacheable JSON document.
    Document {
        body: serde_json::Value,
        max_age: u32,
    },
    NotFound,
    Failed(OAuthError),
}

/// RFC 7662 introspection.
#[derive(Debug)]
pub enum IntrospectOutcome {
    /// `{"active": true, …}`.
    Active(serde_json::Value),
    /// Exactly `{"active": false}`, for every inactive or invisible token.
    Inactive,
    Refused(OAuthError),
    NoSuchTenant,
}

/// RFC 7009 revocation: 200 with an empty body whatever the token was.
#[derive(Debug)]
pub enum RevokeOutcome {
    Done,
    Refused(OAuthError),
    NoSuchTenant,
}

/// Why a Bearer-authenticated call (userinfo, the user's connections) is
/// refused, with RFC 6750's errors.
#[derive(Debug)]
pub enum BearerRefusal {
    /// No token at all: 401 with a bare `Bearer` challenge.
    MissingToken,
    /// Invalid, expired, revoked or inactive, or no user's: 401 `invalid_token`.
    InvalidToken,
    /// Active, but without `openid`: 403 `insufficient_scope`.
    InsufficientScope,
    /// A malformed request (token in the query, sent twice, …): 400.
    InvalidRequest(String),
    /// The body is over the size limit: 413.
    TooLarge,
    NoSuchTenant,
    Failed(OAuthError),
}

/// OIDC Core §5.3 UserInfo.
#[derive(Debug)]
pub enum UserinfoOutcome {
    Claims(serde_json::Value),
    Refused(BearerRefusal),
}

/// The signed-in user's upstream connections (SPEC: Upstream providers —
/// Health): `GET …/connections`, `DELETE …/connections/{provider}`.
#[derive(Debug)]
pub enum ConnectionsOutcome {
    /// `{"items": […]}`.
    Listed(serde_json::Value),
    /// Removed (and revoked at the provider where it could be): 204.
    Disconnected,
    /// The user has no connection to that provider: 404.
    NotConnected,
    Refused(BearerRefusal),
}
