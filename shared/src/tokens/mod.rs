//! Tokens: the tenant's signing keys and JWKS, the JWTs Tollgate mints and
//! verifies, the external issuers a tenant trusts for token exchange, and the
//! vault that encrypts upstream tokens at rest.

pub mod disconnect;
pub mod id_token;
pub mod jwt;
pub mod keys;
pub mod signer;
pub mod trusted_issuers;
pub mod upstream;
pub mod vault;
