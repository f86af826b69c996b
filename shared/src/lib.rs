//! Tollgate: the library every Tollgate Lambda function and the admin CLI
//! share. The map (docs/architecture.md has the whole picture), lowest layer
//! first; a module imports only from the layers below it
//! (`shared/tests/layering.rs` checks every file):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | foundation | `ids`, `clock`, `cache`, `config`, `crypto`, `audit` | parsed newtypes, time, TTL caches, the environment, hashing and randomness, audit lines and metrics |
//! | domain | `domain` | the SPEC's records and rules, pure (one file per rule) |
//! | ports | `ports` | the narrow traits the protocol uses, and their error types |
//! | adapters | `store` | DynamoDB, Secrets Manager, the outbound HTTP client, the AWS clients |
//! | tokens | `tokens` | signing keys and JWKS, JWTs, trusted issuers |
//! | wiring | `state` | what a warm Lambda keeps: the ports and their caches |
//! | protocol | `oauth` | client authentication, password checks, token state, minting, one module per grant; no HTTP |
//! | edge | `web` | the only module that names `lambda_http`: parsing, handlers, every response |
//! | provisioning | `admin` | `tollgate-admin` and the maintenance function, by resource |
//! | tests | `testing` | fakes, the contract suite, endpoint tests (`test`/`test-support` only) |
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod audit;
pub mod cache;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod ids;
pub mod oauth;
pub mod ports;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tokens;
pub mod web;

pub use clock::Now;
pub use config::Config;
pub use ids::{ClientId, TenantId, UserId};
pub use state::AppState;

/// Boxed error for the few places that only need to report and log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
