//! What each endpoint decides, as plain data: one outcome type per endpoint.
//! Handlers return these; `respond` maps them to HTTP in exactly one place
//! (status, `WWW-Authenticate`, `Retry-After`, `Cache-Control`, the Profix
//! shapes, the security headers of the pages). Nothing here knows HTTP.

use crate::oauth::error::{ErrorCode, OAuthError, RETRY_AFTER_OUTAGE, sanitize_description};
use crate::web::i18n::Key;
use crate::web::request::append_params;

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

/// What kind of error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    BadRequest,
    NotFound,
    TooLarge,
}

/// The authorize and callback endpoints: HTML pages and redirects.
#[derive(Debug)]
pub enum PageOutcome {
    /// The login + consent form (rendered), possibly with an error on it.
    LoginForm {
        html: String,
        /// Bad input on the form itself (no decision chosen): 400.
        invalid: bool,
        /// The user's password budget is spent: 429 with `Retry-After`.
        throttled: Option<u64>,
    },
    /// An error page: used where redirecting would be unsafe.
    /// Its words are keys, rendered in the page's language by `respond`.
    ErrorPage {
        kind: PageError,
        title: Key,
        message: Key,
        /// Fills `{field}` in the message.
        field: Option<String>,
    },
    /// To the client's redirect URI: a code, a token, or an error. 302 after
    /// the authorize GET, 303 after the callback POST.
    Redirect { location: String, after_post: bool },
    /// Storage or Secrets Manager failed: 503 with `Retry-After`.
    Unavailable { retry_after: u64 },
    /// Tollgate itself failed (500).
    Internal,
}

impl PageOutcome {
    pub fn error(kind: PageError, title: Key, message: Key) -> PageOutcome {
        PageOutcome::ErrorPage {
            kind,
            title,
            message,
            field: None,
        }
    }

    pub fn bad_request(title: Key, message: Key) -> PageOutcome {
        Self::error(PageError::BadRequest, title, message)
    }

    /// An outage; the cause is logged, not shown.
    pub fn unavailable(cause: impl std::fmt::Display) -> PageOutcome {
        tracing::error!(error = %cause, "dependency unavailable");
        PageOutcome::Unavailable {
            retry_after: RETRY_AFTER_OUTAGE,
        }
    }

    /// An internal failure; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> PageOutcome {
        tracing::error!(error = %cause, "internal error");
        PageOutcome::Internal
    }

    /// Unreadable input (too large, not UTF-8, a field too long).
    pub fn bad_input(e: &crate::web::request::InputError) -> PageOutcome {
        use crate::web::request::InputError;
        let (kind, message, field) = match e {
            InputError::TooLarge => (PageError::TooLarge, Key::MsgTooLarge, None),
            InputError::NotUtf8 => (PageError::BadRequest, Key::MsgNotUtf8, None),
            InputError::TooLong(f) => (
                PageError::BadRequest,
                Key::MsgTooLong,
                Some(sanitize_description(f)),
            ),
        };
        PageOutcome::ErrorPage {
            kind,
            title: Key::InvalidRequestTitle,
            message,
            field,
        }
    }
}

/// Where authorization errors go once the redirect URI is trusted (RFC 6749
/// §4.1.2.1, with `state` and the RFC 9207 `iss`).
pub struct ErrorRedirect<'a> {
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub issuer: &'a str,
    /// Implicit requests get their answer in the fragment.
    pub fragment: bool,
}

impl ErrorRedirect<'_> {
    pub fn send(&self, code: ErrorCode, description: &str, after_post: bool) -> PageOutcome {
        let description = sanitize_description(description);
        let mut pairs = vec![
            ("error", code.as_str()),
            ("error_description", description.as_str()),
        ];
        if let Some(s) = self.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", self.issuer));
        PageOutcome::Redirect {
            location: append_params(self.redirect_uri, &pairs, self.fragment),
            after_post,
        }
    }
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

/// OIDC Core §5.3 UserInfo, with RFC 6750 errors.
#[derive(Debug)]
pub enum UserinfoOutcome {
    Claims(serde_json::Value),
    /// No token at all: 401 with a bare `Bearer` challenge.
    MissingToken,
    /// Invalid, expired, revoked or inactive: 401 `invalid_token`.
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
