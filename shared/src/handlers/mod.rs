//! One module per endpoint; the token endpoint has one module per grant. Each
//! handler parses its request at the edge, runs its flow and returns the
//! endpoint's outcome (`crate::outcome`), which `crate::respond` maps to HTTP
//! in one place. No handler imports another: shared steps live in `flows`.

pub mod authorize;
pub mod callback;
pub mod change_password;
pub mod discovery;
pub mod introspect;
pub mod revoke;
pub mod token;
pub mod userinfo;
