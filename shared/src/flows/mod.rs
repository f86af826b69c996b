//! Flow steps shared by several endpoints, so that no handler imports another:
//! client authentication, password checking behind the throttle, and minting
//! tokens (every access token, id_token and refresh token is made in `issue`).

pub mod client_auth;
pub mod cors;
pub mod credentials;
pub mod inspect;
pub mod issue;
