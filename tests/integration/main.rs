//! Tollgate's integration and end-to-end tests: ONE test binary (keep it that
//! way: each extra binary relinks the AWS SDK). Each test makes its own tenant,
//! so tests never depend on order. Run through `make test`.

mod helpers;

mod admin_cli;
mod authorize;
mod browser;
mod callback;
mod change_password;
mod contract;
mod cors;
mod discovery;
mod fault_proxy;
mod faults;
mod fuzz;
mod grants;
mod hardening;
mod introspection;
mod key_rotation;
mod lifecycle;
mod providers;
mod provisioning;
mod refresh;
mod revocation;
mod routes;
mod secrets;
mod signin_page;
mod sliding;
mod storage;
mod token_code;
mod token_exchange;
mod upstream_script;
mod userinfo;
mod vault;
mod vault_connect;
mod vault_connections;
mod vault_oidc;
mod vault_retrieval;
mod vault_service;
mod vault_signin;
