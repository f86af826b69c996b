//! Who gets a refresh token (SPEC: Token, Provisioning CLI): `refresh_token` is
//! implied for clients registered for authorization_code or password; a client
//! registered with `--require-offline-access` gets one only when
//! `offline_access` was granted. client_credentials never yields one.

use crate::domain::records::{Client, Grant};
use crate::domain::scope;

/// Whether the client may use the refresh_token grant at all.
pub fn may_refresh(client: &Client) -> bool {
    client.has_grant(Grant::AuthorizationCode) || client.has_grant(Grant::Password)
}

/// Whether a user grant with this (granted) scope yields a refresh token.
pub fn gets_refresh_token(client: &Client, granted_scope: &str) -> bool {
    may_refresh(client)
        && (!client.require_offline_access || scope::contains(granted_scope, "offline_access"))
}
