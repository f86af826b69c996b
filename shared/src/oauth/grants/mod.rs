//! One module per grant, each a straight chain of guards that reads like its
//! RFC (find the token → check the binding → check the scope → act). The
//! edge (`web::handlers::token`) parses the request into a grant and
//! authenticates the client; a grant gets a [`GrantCtx`].

pub mod authorization_code;
pub mod client_credentials;
pub mod implicit;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;
pub mod upstream_token;

use crate::AppState;
use crate::clock::Now;
use crate::domain::records::Tenant;
use crate::domain::throttling::Source;
use crate::oauth::client_auth::Authenticated;
use crate::oauth::mint::Minter;

/// The longest valid value of a grant's token parameter (`code`,
/// `refresh_token`, `subject_token`), in bytes. A longer one is no malformed
/// request but a grant that cannot be valid, which the grant refuses with
/// `invalid_grant` after the client authenticated (SPEC: Bad input): the
/// answer a client library acts on. So `web::request::max_len` bounds these by the body
/// alone, and the token request marks the value too long instead
/// ([`GrantToken`]).
pub fn max_grant_token_len(field: &str) -> Option<usize> {
    match field {
        "code" | "refresh_token" => Some(256),
        // An external issuer's JWT may be larger than ours.
        "subject_token" => Some(crate::domain::token_exchange::MAX_EXTERNAL_TOKEN),
        _ => None,
    }
}

/// A grant's token parameter (`code`, `refresh_token`, `subject_token`): its
/// value, or only the fact that it was longer than any valid one
/// ([`max_grant_token_len`]). The grant refuses `TooLong` with
/// `invalid_grant` where it would refuse an unknown token (SPEC: Bad input).
pub enum GrantToken {
    Value(String),
    TooLong,
}

impl GrantToken {
    pub fn parse(field: &str, value: String) -> GrantToken {
        match max_grant_token_len(field) {
            Some(max) if value.len() > max => GrantToken::TooLong,
            _ => GrantToken::Value(value),
        }
    }

    /// The value, if it can be a valid one.
    pub fn value(&self) -> Option<&str> {
        match self {
            GrantToken::Value(v) => Some(v),
            GrantToken::TooLong => None,
        }
    }
}

/// What every grant gets.
pub struct GrantCtx<'a> {
    pub state: &'a AppState,
    pub tenant: &'a Tenant,
    pub client: &'a Authenticated,
    pub issuer: String,
    /// The caller's address (the password grant's guess throttle).
    pub source: Source,
    pub now: Now,
    /// When the invocation began (monotonic): a grant that may run long (the
    /// token vault's refresh) keeps within the function's timeout from it.
    pub started: tokio::time::Instant,
}

impl GrantCtx<'_> {
    /// Mints this grant's tokens.
    pub fn minter(&self) -> Minter<'_> {
        Minter {
            state: self.state,
            tenant: self.tenant,
            client: &self.client.client,
            issuer: &self.issuer,
            now: self.now,
        }
    }
}
