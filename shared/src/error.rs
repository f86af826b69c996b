//! RFC 6749 §5.2 errors and their one mapping to an HTTP response.

use crate::http::{Response, json_response};
use lambda_http::http::StatusCode;
use serde_json::json;

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
    /// Seconds to wait (429 throttling).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic_auth: false,
            retry_after: None,
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

    pub fn status(&self) -> StatusCode {
        if self.retry_after.is_some() {
            return StatusCode::TOO_MANY_REQUESTS;
        }
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The token-endpoint response: JSON, `no-store`, `WWW-Authenticate` for
    /// a 401 after Basic authentication, `Retry-After` when throttled.
    pub fn into_response(self) -> Response {
        let mut resp = json_response(
            self.status(),
            &json!({"error": self.code.as_str(), "error_description": self.description}),
        );
        let h = resp.headers_mut();
        if self.code == ErrorCode::InvalidClient && self.basic_auth {
            h.insert(
                "www-authenticate",
                lambda_http::http::HeaderValue::from_static(
                    "Basic realm=\"tollgate\", charset=\"UTF-8\"",
                ),
            );
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = lambda_http::http::HeaderValue::from_str(&s.to_string())
        {
            h.insert("retry-after", v);
        }
        resp
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::internal(e)
    }
}

impl From<crate::secrets::SecretError> for OAuthError {
    fn from(e: crate::secrets::SecretError) -> Self {
        OAuthError::internal(e)
    }
}

impl From<crate::keys::KeyError> for OAuthError {
    fn from(e: crate::keys::KeyError) -> Self {
        OAuthError::internal(e)
    }
}
