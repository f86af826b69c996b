//! Checking a user's password, with throttling of repeated failures.
//! Unknown user and wrong password fail the same way and cost the same.

use crate::clock::Now;
use crate::crypto::verify_password;
use crate::ids::TenantId;
use crate::store::{Db, StoreError, ThrottleWindow, User, normalize_username};

/// Failures allowed per user per window before 429.
pub const MAX_FAILURES: u64 = 5;
pub const WINDOW_SECS: u64 = 900;

pub enum CredentialCheck {
    Ok(User),
    /// Same answer for unknown user, wrong password and disabled user.
    Invalid,
    /// Too many failures: retry after this many seconds.
    Throttled(u64),
}

fn throttle_key(username: &str) -> String {
    format!("login#{}", normalize_username(username))
}

/// Throttle check, then Argon2id verification (against a dummy hash when the
/// user is unknown), then the failure counter.
pub async fn check(
    db: &Db,
    tenant: &TenantId,
    username: &str,
    password: &str,
    user: Option<User>,
    now: Now,
) -> Result<CredentialCheck, StoreError> {
    let key = throttle_key(username);
    let window = ThrottleWindow::containing(now.secs(), WINDOW_SECS);
    if db.throttle_count(tenant, &key, window, now).await? >= MAX_FAILURES {
        return Ok(CredentialCheck::Throttled(window.end() - now.secs()));
    }
    // Inline on purpose: a Lambda sandbox serves one request at a time.
    let ok = verify_password(password, user.as_ref().map(|u| u.password_hash.as_str()));
    match user {
        Some(u) if ok && u.enabled => {
            db.throttle_clear(tenant, &key, window).await?;
            Ok(CredentialCheck::Ok(u))
        }
        _ => {
            let count = db.throttle_hit(tenant, &key, window).await?;
            if count > MAX_FAILURES {
                Ok(CredentialCheck::Throttled(window.end() - now.secs()))
            } else {
                Ok(CredentialCheck::Invalid)
            }
        }
    }
}

/// Looks the user up by username and checks the password.
pub async fn check_username(
    db: &Db,
    tenant: &TenantId,
    username: &str,
    password: &str,
    now: Now,
) -> Result<CredentialCheck, StoreError> {
    let user = db.find_user_by_username(tenant, username).await?;
    check(db, tenant, username, password, user, now).await
}
