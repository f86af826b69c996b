//! Maximizer's sliding expiry at introspection and userinfo (SPEC:
//! Introspection). For a tenant created with `--sliding-max SECS` an access
//! token stays active while each use comes within `access_token_ttl` of the
//! previous one, never past `iat + SECS`; a use moves the deadline to
//! `now + ttl` (capped) and `exp` in the answer is that deadline; a use writes
//! at most once a minute, so a deadline may be up to 60 s earlier than exact.
//!
//! Tests cannot wait minutes. Where a use must fall in a later second than the
//! issue they wait about a second; where time must move further, they take a
//! real token of a live session, sign it again with the tenant's key with an
//! `iat` in the past, and (for "a previous use") record that use's deadline
//! through the store the functions use.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate::crypto::random_token;
use tollgate::ports::AccessTokenStore;

/// A session's token issued `ago` seconds ago with the tenant's lifetime `ttl`
/// (the JWT's own `exp` is `iat + ttl`), with a new `jti`.
async fn issued_ago(w: &World, at: &str, ago: u64, ttl: u64) -> (String, String, u64) {
    let iat = now_secs() - ago;
    let jti = random_token(16);
    let token =
        w.t.resign(at, |c| {
            c.insert("iat".into(), json!(iat));
            c.insert("exp".into(), json!(iat + ttl));
            c.insert("jti".into(), json!(jti));
        })
        .await;
    (token, jti, iat)
}

/// Records a previous use: the deadline it set and when it was written.
async fn previous_use(w: &World, jti: &str, deadline: u64, written_at: u64) {
    let wrote = AccessTokenStore::extend(
        &db().await,
        &w.t.tenant_id(),
        jti,
        deadline,
        60,
        deadline + 86_400,
        tollgate::Now(written_at),
    )
    .await
    .unwrap();
    assert!(wrote, "the first write of a token's deadline");
}

fn exp_of(v: &Value) -> u64 {
    assert_eq!(v["active"], true, "{v}");
    v["exp"].as_u64().unwrap()
}

#[tokio::test]
async fn a_use_moves_exp_to_now_plus_ttl() {
    let w = World::new(&["--access-token-ttl", "60", "--sliding-max", "3600"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let claims = jwt_claims(&at);
    let (iat, jwt_exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(jwt_exp, iat + 60, "offline verifiers see iat + ttl");
    wait_until(iat + 1).await;
    let before = now_secs();
    let exp = exp_of(&w.rs_sees(&at).await);
    let after = now_secs();
    assert!(
        (before + 60..=after + 60).contains(&exp),
        "exp {exp} is the use ({before}..={after}) + 60"
    );
    assert!(
        exp > jwt_exp,
        "the deadline moved past the JWT's exp {jwt_exp}"
    );
    // A second use within the minute: never earlier than the first answer,
    // at most 60 s earlier than exact.
    let now = now_secs();
    let exp2 = exp_of(&w.rs_sees(&at).await);
    assert!(exp2 >= exp, "the deadline never moves back: {exp2} < {exp}");
    assert!(
        (now..=now_secs() + 60).contains(&exp2),
        "within 60 s of exact: {exp2}, used at {now}"
    );
}

#[tokio::test]
async fn userinfo_is_a_use() {
    let w = World::new(&["--access-token-ttl", "60", "--sliding-max", "3600"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let iat = jwt_claims(&at)["iat"].as_u64().unwrap();
    wait_until(iat + 1).await;
    let before = now_secs();
    let a = w.t.userinfo(&at).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    let after = now_secs();
    // Introspect in a later second: had userinfo not been a use, this
    // introspection would write `its own time + 60`, after `after + 60`.
    wait_until(after + 1).await;
    let exp = exp_of(&w.rs_sees(&at).await);
    assert!(
        (before + 60..=after + 60).contains(&exp),
        "exp {exp} is the userinfo call ({before}..={after}) + 60"
    );
}

#[tokio::test]
async fn the_deadline_never_passes_iat_plus_sliding_max() {
    let w = World::new(&["--access-token-ttl", "60", "--sliding-max", "61"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let iat = jwt_claims(&at)["iat"].as_u64().unwrap();
    wait_until(iat + 2).await;
    assert_eq!(
        exp_of(&w.rs_sees(&at).await),
        iat + 61,
        "capped at iat + 61"
    );
    assert_eq!(exp_of(&w.rs_sees(&at).await), iat + 61, "and stays there");
}

#[tokio::test]
async fn without_sliding_max_exp_is_the_jwts() {
    let w = World::new(&["--access-token-ttl", "60"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let claims = jwt_claims(&at);
    let iat = claims["iat"].as_u64().unwrap();
    wait_until(iat + 1).await;
    assert_eq!(w.t.userinfo(&at).await.status, StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(
            exp_of(&w.rs_sees(&at).await),
            claims["exp"].as_u64().unwrap()
        );
    }
    // And a token past its JWT exp is inactive, whatever was used before.
    let (old, jti, iat) = issued_ago(&w, &at, 100, 60).await;
    previous_use(&w, &jti, iat + 100 + 60, iat + 90).await;
    assert_eq!(w.rs_sees(&old).await, json!({"active": false}));
}

#[tokio::test]
async fn a_token_past_its_jwt_exp_stays_active_while_used_within_ttl() {
    let w = World::new(&["--access-token-ttl", "120", "--sliding-max", "3600"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    // Issued 150 s ago (the JWT expired 30 s ago), last used 70 s ago.
    let (token, jti, iat) = issued_ago(&w, &at, 150, 120).await;
    previous_use(&w, &jti, iat + 80 + 120, iat + 80).await;
    let before = now_secs();
    let exp = exp_of(&w.rs_sees(&token).await);
    let after = now_secs();
    assert!(
        (before + 120..=after + 120).contains(&exp),
        "this use (more than a minute after the last write) moves the deadline to now + ttl: {exp}"
    );
    let exp2 = exp_of(&w.rs_sees(&token).await);
    assert_eq!(exp2, exp, "no second write within the minute");
    let a = w.t.userinfo(&token).await;
    assert_eq!(a.status, StatusCode::OK, "userinfo agrees: {a:?}");
}

#[tokio::test]
async fn a_token_not_used_within_ttl_is_inactive() {
    let w = World::new(&["--access-token-ttl", "120", "--sliding-max", "3600"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    // Issued 300 s ago, last used 121 s ago: its deadline passed a second ago.
    let (token, jti, iat) = issued_ago(&w, &at, 300, 120).await;
    previous_use(&w, &jti, iat + 179 + 120, iat + 179).await;
    assert_eq!(w.rs_sees(&token).await, json!({"active": false}));
    let a = w.t.userinfo(&token).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{a:?}");
    // Never used since issue and past the JWT's exp: inactive too.
    let (token, _, _) = issued_ago(&w, &at, 121, 120).await;
    assert_eq!(w.rs_sees(&token).await, json!({"active": false}));
}

#[tokio::test]
async fn sliding_max_caps_even_a_later_recorded_deadline() {
    let w = World::new(&["--access-token-ttl", "120", "--sliding-max", "180"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    // Issued 150 s ago, used 70 s ago with a deadline past the cap.
    let (token, jti, iat) = issued_ago(&w, &at, 150, 120).await;
    previous_use(&w, &jti, iat + 300, iat + 80).await;
    assert_eq!(
        exp_of(&w.rs_sees(&token).await),
        iat + 180,
        "iat + sliding max"
    );
    // Issued 200 s ago: past iat + 180, whatever the recorded deadline.
    let (token, jti, iat) = issued_ago(&w, &at, 200, 120).await;
    previous_use(&w, &jti, iat + 400, iat + 190).await;
    assert_eq!(w.rs_sees(&token).await, json!({"active": false}));
    assert_eq!(w.t.userinfo(&token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_token_kept_alive_past_its_jwt_exp_makes_it_inactive() {
    let w = World::new(&["--access-token-ttl", "120", "--sliding-max", "3600"]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let (token, jti, iat) = issued_ago(&w, &at, 150, 120).await;
    previous_use(&w, &jti, iat + 80 + 120, iat + 80).await;
    assert_eq!(w.rs_sees(&token).await["active"], true, "control");
    let a = w.t.revoke(&w.app, &token).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, ""), "{a:?}");
    assert_eq!(w.rs_sees(&token).await, json!({"active": false}));
}

/// LIBRARY BUG (reported): an introspection by a confidential client that may
/// not see the token (not its own, not a resource server) answers
/// `{"active": false}` but still counts as a use and moves the token's
/// sliding deadline (`web/handlers/introspect.rs` calls `token_state::access_token`
/// with `is_use = true` before the visibility check). Any client of the tenant
/// can then keep another client's tokens alive, up to the sliding maximum,
/// without ever being told they are active.
#[tokio::test]
async fn introspection_by_a_client_that_may_not_see_the_token_is_not_a_use() {
    let w = World::new(&["--access-token-ttl", "60", "--sliding-max", "3600"]).await;
    let other =
        w.t.client(&["--name", "Other", "--grant", "password", "--scope", "api"])
            .await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let iat = jwt_claims(&at)["iat"].as_u64().unwrap();
    wait_until(iat + 1).await;
    assert_eq!(
        w.t.introspect(&other, &at).await,
        json!({"active": false}),
        "not its token"
    );
    let after = now_secs();
    // In a later second, the resource server's introspection is the first
    // real use: it moves the deadline to its own time + 60.
    wait_until(after + 1).await;
    let before = now_secs();
    let exp = exp_of(&w.rs_sees(&at).await);
    assert!(
        exp >= before + 60,
        "exp {exp}: the deadline was moved by the invisible introspection (at most {after} + 60), \
         not by the resource server's use at {before}"
    );
}
