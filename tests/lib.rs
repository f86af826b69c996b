//! Test-only package: see integration/. The library holds what the tests
//! share with the `tollgate-fuzz` command: the HTTP fuzzer.

pub mod fuzzer;
