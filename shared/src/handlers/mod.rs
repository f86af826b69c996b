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
        "Temporarily unavailable",
        "Something went wrong on our side. Please try again in a moment.",
    )
}
