//! One module per endpoint; the token endpoint has one module per grant.
//! Every handler returns a response: client mistakes are RFC-shaped errors,
//! internal failures are logged and answered with `server_error`.

pub mod authorize;
pub mod callback;
pub mod change_password;
pub mod discovery;
pub mod token;

use crate::html::error_page;
use crate::http::{Response, html_response};
use lambda_http::http::StatusCode;

/// An HTML error page (used where redirecting would be unsafe).
pub fn html_error(status: StatusCode, title: &str, message: &str) -> Response {
    html_response(status, error_page(title, message))
}

/// The HTML answer to an internal failure; the cause is logged, not shown.
pub fn html_internal(cause: impl std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "internal error");
    html_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Something went wrong on our side. Please try again in a moment.",
    )
}

/// The HTML answer to a storage or Secrets Manager outage: 503 with
/// `Retry-After`; the cause is logged, not shown.
pub fn html_unavailable(cause: impl std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "dependency unavailable");
    let mut r = html_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The service is temporarily unavailable. Please try again in a moment.",
    );
    r.headers_mut().insert(
        "retry-after",
        lambda_http::http::HeaderValue::from(crate::error::RETRY_AFTER_OUTAGE),
    );
    r
}

/// The HTML answer to unreadable input (too large, not UTF-8, a field too long).
pub fn html_bad_input(e: &crate::http::InputError) -> Response {
    let status = match e {
        crate::http::InputError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    html_error(status, "Invalid request", &e.description())
}
