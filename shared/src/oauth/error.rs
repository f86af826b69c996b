//! RFC 6749 §5.2 errors, as data. `respond::oauth_error` maps them to HTTP.

/// The error codes of RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorize).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    /// RFC 8693 §2.2.2: the requested audience or resource is not one we serve.
    InvalidTarget,
    /// The token vault (SPEC: Getting an upstream token): no connection to
    /// the provider for this user or service.
    NotLinked,
    /// The vault: the stored upstream grant is dead; the user must connect again.
    ReconnectRequired,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::NotLinked => "not_linked",
            ErrorCode::ReconnectRequired => "reconnect_required",
        }
    }
}

/// An OAuth error as returned to a client. Internal failures become
/// `server_error` with a fixed description; their cause goes to the log only.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// The client authenticated (or tried to) with HTTP Basic.
    pub basic_auth: bool,
    /// Seconds to wait (429 throttling, 503 outages).
    pub retry_after: Option<u64>,
    /// 413 for a body over the limit (still `invalid_request`).
    pub too_large: bool,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: sanitize_description(&description.into()),
            basic_auth: false,
            retry_after: None,
            too_large: false,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    /// Logs the cause; the wire sees only a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::ServerError, "internal error")
    }

    /// Storage or Secrets Manager failed (outage, throttling, timeout): 503
    /// `temporarily_unavailable` with `Retry-After`. The cause is logged.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "dependency unavailable");
        OAuthError {
            retry_after: Some(RETRY_AFTER_OUTAGE),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; retry shortly",
            )
        }
    }

    pub fn throttled(retry_after: u64) -> Self {
        OAuthError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                ErrorCode::InvalidGrant,
                "too many failed attempts; try again later",
            )
        }
    }

    pub fn with_basic(mut self, basic: bool) -> Self {
        self.basic_auth = basic;
        self
    }
}

impl From<crate::ports::StoreError> for OAuthError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Backend(_) => OAuthError::unavailable(e),
            _ => OAuthError::internal(e),
        }
    }
}

impl From<crate::ports::SecretError> for OAuthError {
    fn from(e: crate::ports::SecretError) -> Self {
        OAuthError::unavailable(e)
    }
}

/// Seconds a client is asked to wait after an outage answer.
pub const RETRY_AFTER_OUTAGE: u64 = 2;

/// The longest `error_description` sent.
const MAX_DESCRIPTION: usize = 200;

/// RFC 6749 §5.2: `error_description` is %x20-21 / %x23-5B / %x5D-7E. Anything
/// else (quotes, backslashes, controls, non-ASCII) becomes `?`; long text is cut.
pub fn sanitize_description(s: &str) -> String {
    s.chars()
        .take(MAX_DESCRIPTION)
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
            _ => '?',
        })
        .collect()
}

impl From<crate::tokens::keys::KeyError> for OAuthError {
    fn from(e: crate::tokens::keys::KeyError) -> Self {
        match e {
            // A key set that does not match the tenant's published keys (the
            // tenant is being deleted or re-created): a retry soon succeeds.
            crate::tokens::keys::KeyError::Unpublished => OAuthError::unavailable(e),
            _ => OAuthError::internal(e),
        }
    }
}

impl From<crate::state::StateError> for OAuthError {
    fn from(e: crate::state::StateError) -> Self {
        use crate::state::StateError;
        match e {
            StateError::Starting => OAuthError {
                retry_after: Some(RETRY_AFTER_OUTAGE),
                ..OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the server is starting; retry shortly",
                )
            },
            StateError::Unavailable(why) => OAuthError::unavailable(why),
            StateError::Internal(why) => OAuthError::internal(why),
            StateError::Secret(e) => e.into(),
            StateError::Key(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_carry_only_rfc6749_characters() {
        let d = sanitize_description("bad \"x\\y\u{0}\u{e9}\n");
        assert_eq!(d, "bad ?x?y???");
        assert_eq!(
            sanitize_description(&"a".repeat(500)).len(),
            MAX_DESCRIPTION
        );
        let e = OAuthError::invalid_request("unsupported grant_type: \u{0}\"");
        assert!(
            e.description
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        );
    }
}
