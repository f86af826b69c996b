//! Checking a user's password, with a throttle that holds at any concurrency.
//!
//! Order: find the user (the same reads whether the name exists or not),
//! reserve one attempt in the user's budget with one conditional write, and
//! only then run Argon2id (against a dummy hash when the user is unknown). At
//! most [`MAX_ATTEMPTS`] passwords are checked per user per [`WINDOW_SECS`]
//! (a sliding window), across the login page, the password grant and change
//! password, however many requests arrive at once. A success does not refund
//! or reset anything, so it cannot reopen the budget for racing guesses.

use crate::AppState;
use crate::audit::{self, Event, Subject};
use crate::clock::Now;
use crate::crypto::verify_password;
use crate::domain::throttling::{MAX_ATTEMPTS, WINDOW_SECS, throttle_key};
use crate::ids::{TenantId, UserId};
use crate::store::{Reservation, StoreError, User};

pub enum CredentialCheck {
    Ok(User),
    /// Same answer for unknown user, wrong password and disabled user.
    Invalid,
    /// The user's budget is spent: retry after this many seconds.
    Throttled(u64),
}

/// Reserve, then verify. `asked` is the name or id the client sent.
pub async fn check(
    state: &AppState,
    tenant: &TenantId,
    asked: &str,
    password: &str,
    user: Option<User>,
    now: Now,
) -> Result<CredentialCheck, StoreError> {
    let key = throttle_key(user.as_ref(), asked);
    if let Reservation::Denied { retry_after } = state
        .throttle()
        .reserve(tenant, &key, MAX_ATTEMPTS, WINDOW_SECS, now)
        .await?
    {
        audit::record(
            Event::LoginThrottled,
            tenant,
            Subject {
                user: user.as_ref().map(|u| &u.user_id),
                ..Subject::default()
            },
        );
        return Ok(CredentialCheck::Throttled(retry_after));
    }
    // Inline on purpose: a Lambda sandbox serves one request at a time.
    let ok = verify_password(password, user.as_ref().map(|u| u.password_hash.as_str()));
    match user {
        Some(u) if ok && u.enabled => {
            audit::record(
                Event::LoginSucceeded,
                tenant,
                Subject {
                    user: Some(&u.user_id),
                    ..Subject::default()
                },
            );
            Ok(CredentialCheck::Ok(u))
        }
        other => {
            audit::record(
                Event::LoginFailed,
                tenant,
                Subject {
                    user: other.as_ref().map(|u| &u.user_id),
                    ..Subject::default()
                },
            );
            Ok(CredentialCheck::Invalid)
        }
    }
}

/// Looks the user up by username and checks the password.
pub async fn check_username(
    state: &AppState,
    tenant: &TenantId,
    username: &str,
    password: &str,
    now: Now,
) -> Result<CredentialCheck, StoreError> {
    let user = state.users().user_by_username(tenant, username).await?;
    check(state, tenant, username, password, user, now).await
}

/// Change password's `userid`: the id the password grant returned, or a
/// username. Both lookups always run (three reads), so neither a known id
/// nor a known name costs anything extra.
pub async fn find_by_id_or_username(
    state: &AppState,
    tenant: &TenantId,
    userid: &str,
) -> Result<Option<User>, StoreError> {
    let users = state.users();
    let by_id = async {
        match UserId::parse(userid) {
            Ok(id) => users.user(tenant, &id).await,
            Err(_) => users.user(tenant, &UserId::nobody()).await.map(|_| None),
        }
    };
    let (by_id, by_name) = tokio::join!(by_id, users.user_by_username(tenant, userid));
    Ok(by_id?.or(by_name?))
}
