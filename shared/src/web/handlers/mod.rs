//! One module per endpoint. Each handler parses its request at the edge
//! (`web::request`), runs the protocol (`crate::oauth`, HTTP-free) and returns
//! the endpoint's outcome, which `web::respond` maps to HTTP in one place. No
//! handler imports another.

pub mod authorize;
pub mod callback;
pub mod change_password;
pub mod discovery;
pub mod introspect;
pub mod revoke;
pub mod token;
pub mod userinfo;
