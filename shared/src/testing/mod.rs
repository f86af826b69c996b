//! Test support: in-memory fakes of every port, the contract suite that
//! holds the fakes and the DynamoDB adapter to the same rules, and (unit tests
//! only) the fast endpoint tests that drive the real handlers over the fakes.
//! Compiled only for tests and the `test-support` feature.

#[cfg(test)]
mod admin_connections;
pub mod contract;
#[cfg(test)]
mod endpoints;
pub mod fakes;
