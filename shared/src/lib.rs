//! Tollgate: the library every Tollgate Lambda function and the admin CLI share.
//!
//! Layout: `ids` (parsed newtypes), `config` (environment), `store` (DynamoDB
//! single-table adapter), `secrets` (Secrets Manager adapter with a TTL cache),
//! `crypto` (randomness, hashing, passwords), `keys` (signing keys and JWKS),
//! `jwt` (token minting), `http` (request parsing, responses, routing),
//! `error` (RFC 6749 errors), `html` (login page), `handlers` (one module per
//! endpoint and grant), `state` (what a warm Lambda keeps between invocations).
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
