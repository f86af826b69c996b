//! Tokens: the tenant's signing keys and JWKS, the JWTs Tollgate mints and
//! verifies, and the external issuers a tenant trusts for token exchange.

pub mod jwt;
pub mod keys;
pub mod signer;
pub mod trusted_issuers;
