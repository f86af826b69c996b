//! A provider's token answer sealed for storage (SPEC: Upstream providers —
//! at rest): the records `ConnectionStore::connect` and `commit` write, made
//! from an accepted [`TokenAnswer`] under the tenant's vault. One place, so
//! the callback (connect), the CLI (service connections) and the refresh
//! protocol seal the same way.

use crate::clock::Now;
use crate::domain::connections::{CachedToken, ConnectionKey, Field, NewConnection, Refreshed};
use crate::domain::providers::Quirks;
use crate::domain::providers::engine::TokenAnswer;
use crate::tokens::vault::{Vault, VaultError};

/// When an idle connection should be refreshed by the maintenance function
/// (the preset's `background_refresh_after`, counted from `now`); `None`
/// without a refresh token or when the preset needs none.
pub fn refresh_due_at(q: &Quirks, has_refresh_token: bool, now: Now) -> Option<u64> {
    if !has_refresh_token {
        return None;
    }
    q.background_refresh_after
        .map(|after| now.secs().saturating_add(after))
}

fn cached(
    vault: &Vault,
    key: &ConnectionKey,
    a: &TokenAnswer,
    now: Now,
) -> Result<CachedToken, VaultError> {
    Ok(CachedToken {
        sealed: vault.seal(key, Field::AccessToken, &a.access_token)?,
        issued_at: now.secs(),
        expires_at: now.secs().saturating_add(a.expires_in),
    })
}

/// A fresh grant (a redeemed code, a service connection's password or
/// client credentials grant), sealed.
pub fn new_connection(
    vault: &Vault,
    key: ConnectionKey,
    q: &Quirks,
    a: &TokenAnswer,
    account: Option<String>,
    now: Now,
) -> Result<NewConnection, VaultError> {
    let refresh_token = a
        .refresh_token
        .as_ref()
        .map(|rt| vault.seal(&key, Field::RefreshToken, rt))
        .transpose()?;
    Ok(NewConnection {
        access_token: Some(cached(vault, &key, a, now)?),
        refresh_due_at: refresh_due_at(q, refresh_token.is_some(), now),
        refresh_token,
        scope: a.scope.clone().unwrap_or_default(),
        account,
        key,
    })
}

/// A refresh's answer, sealed. Without a new refresh token the stored one is
/// kept (`had_refresh_token` says whether there is one to keep).
pub fn refreshed(
    vault: &Vault,
    key: ConnectionKey,
    q: &Quirks,
    a: &TokenAnswer,
    had_refresh_token: bool,
    now: Now,
) -> Result<Refreshed, VaultError> {
    let refresh_token = a
        .refresh_token
        .as_ref()
        .map(|rt| vault.seal(&key, Field::RefreshToken, rt))
        .transpose()?;
    Ok(Refreshed {
        access_token: cached(vault, &key, a, now)?,
        refresh_due_at: refresh_due_at(q, refresh_token.is_some() || had_refresh_token, now),
        refresh_token,
        scope: a.scope.clone(),
        key,
    })
}
