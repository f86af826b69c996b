//! What the browser endpoints (authorize, callback) answer: the login form,
//! an error page, or a redirect to the client; `web::respond::page` turns it
//! into HTTP.

use crate::oauth::error::{ErrorCode, RETRY_AFTER_OUTAGE, sanitize_description};
use crate::web::i18n::Key;
use crate::web::response::append_params;

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
    /// A page already rendered (federated sign-in's failure page), with its
    /// status (400, or 503 with `Retry-After`).
    Rendered { unavailable: bool, html: String },
    /// `outcome`, with a `Set-Cookie` header (the connect flow's browser
    /// binding: set on the way to the provider, cleared on the way back).
    WithCookie {
        outcome: Box<PageOutcome>,
        set_cookie: String,
    },
}

impl PageOutcome {
    /// This outcome, setting (`Some(value)`) or clearing (`None`) the connect
    /// flow's browser-binding cookie: `__Host-` (Secure, `Path=/`, no
    /// `Domain`), HttpOnly, `SameSite=Lax` (the provider's redirect back is a
    /// top-level cross-site GET, which Lax lets through and Strict would not).
    pub fn with_binding_cookie(self, value: Option<&str>) -> PageOutcome {
        use crate::domain::upstream_tx::{COOKIE, LIFETIME};
        let (v, age) = match value {
            Some(v) => (v, LIFETIME),
            None => ("", 0),
        };
        PageOutcome::WithCookie {
            outcome: Box::new(self),
            set_cookie: format!(
                "{COOKIE}={v}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={age}"
            ),
        }
    }

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

/// Maximizer's `login_hint`: `d {tenant} u {user_id}` (spaces sent as `%20`).
pub fn login_hint(tenant: &crate::ids::TenantId, user: &crate::ids::UserId) -> String {
    format!("d {tenant} u {user}")
}

/// The authorization response (RFC 6749 §4.1.2): the code, the client's
/// `state`, the RFC 9207 `iss`, and Maximizer's `login_hint`; 303.
pub fn code_redirect(
    req: &crate::domain::upstream_tx::ClientRequest,
    code: &str,
    issuer: &str,
    tenant: &crate::ids::TenantId,
    user: &crate::ids::UserId,
) -> PageOutcome {
    let mut pairs = vec![("code", code)];
    if let Some(s) = &req.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    let hint = login_hint(tenant, user);
    pairs.push(("login_hint", &hint));
    PageOutcome::Redirect {
        location: append_params(&req.redirect_uri, &pairs, false),
        after_post: true,
    }
}
