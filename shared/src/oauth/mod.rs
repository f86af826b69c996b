//! The protocol, free of HTTP: client authentication, password checks behind
//! the guess throttle, what a presented token is worth, minting, and one
//! module per grant. The edge (`crate::web`) parses requests into these calls
//! and turns their outcomes into responses.

pub mod bearer;
pub mod client_auth;
pub mod connect;
pub mod connections;
pub mod error;
pub mod grants;
pub mod mint;
pub mod outcome;
pub mod password_check;
pub mod signin;
pub mod token_state;
pub mod upkeep;
pub mod upstream;
