//! Checking a user's password behind the guess throttle (SPEC: Callback;
//! the model is `domain::throttling`).
//!
//! Order: find the user (the same reads whether the name exists or not),
//! reserve one slot of the user's failure budgets with one conditional write,
//! and only then run Argon2id (against a dummy hash when the user is unknown).
//! A correct password gives the slot back, so signing in is never throttled;
//! a wrong one, an unknown or a disabled user keep it spent. Unknown and known
//! names cost the same: one reservation, one Argon2id verification.

use crate::AppState;
use crate::audit::{self, Event, Subject};
use crate::clock::Now;
use crate::crypto::verify_password;
use crate::domain::records::{Reservation, User};
use crate::domain::throttling::{Budget, Source, throttle_key};
use crate::ids::{TenantId, UserId};
use crate::ports::StoreError;

pub enum CredentialCheck {
    Ok(User),
    /// Same answer for unknown user, wrong password and disabled user.
    Invalid,
    /// A budget is spent: retry after this many seconds.
    Throttled(u64),
}

/// Who is asking, and from where: the name or id the client sent and the
/// caller's source address.
pub struct Attempt<'a> {
    pub asked: &'a str,
    pub password: &'a str,
    pub source: &'a Source,
}

/// Reserve, then verify; a correct password gives its slot back.
pub async fn check(
    state: &AppState,
    tenant: &TenantId,
    attempt: &Attempt<'_>,
    user: Option<User>,
    now: Now,
) -> Result<CredentialCheck, StoreError> {
    let key = throttle_key(user.as_ref(), attempt.asked);
    let slot = match state
        .throttle()
        .reserve(tenant, &key, attempt.source, Budget::PASSWORDS, now)
        .await?
    {
        Reservation::Granted(slot) => slot,
        Reservation::Denied { retry_after } => {
            audit::record(Event::LoginThrottled, tenant, subject(user.as_ref()));
            return Ok(CredentialCheck::Throttled(retry_after));
        }
    };
    // Inline on purpose: a Lambda sandbox serves one request at a time.
    let ok = verify_password(
        attempt.password,
        user.as_ref().map(|u| u.password_hash.as_str()),
    );
    match user {
        Some(u) if ok && u.enabled => {
            // Not a guess: the slot goes back. A failure to give it back costs
            // the user one place in the budget, never the sign-in.
            if let Err(e) = state.throttle().release(tenant, &key, &slot).await {
                tracing::warn!(error = %e, "throttle slot not given back");
            }
            audit::record(Event::LoginSucceeded, tenant, subject(Some(&u)));
            Ok(CredentialCheck::Ok(u))
        }
        other => {
            audit::record(Event::LoginFailed, tenant, subject(other.as_ref()));
            Ok(CredentialCheck::Invalid)
        }
    }
}

fn subject(user: Option<&User>) -> Subject<'_> {
    Subject {
        user: user.map(|u| &u.user_id),
        ..Subject::default()
    }
}

/// Looks the user up by username and checks the password.
pub async fn check_username(
    state: &AppState,
    tenant: &TenantId,
    attempt: &Attempt<'_>,
    now: Now,
) -> Result<CredentialCheck, StoreError> {
    let user = state
        .users()
        .user_by_username(tenant, attempt.asked)
        .await?;
    check(state, tenant, attempt, user, now).await
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
