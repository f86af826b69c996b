//! POST …/token/changepassword (Profix): success clears RequireChangePassword
//! and kills every refresh family; the new-password policy; client
//! authentication; the password-check budget shared with the other paths.

use super::*;

fn assert_answer(r: &Resp, status: StatusCode, success: bool) -> String {
    assert_eq!(r.status, status, "{}", r.body);
    let b = r.json();
    assert_eq!(b["success"], success, "{}", r.body);
    b["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn change_password_succeeds_clears_the_flag_and_kills_refresh_families() {
    let w = World::new();
    let app = w.client(&[Grant::Password, Grant::AuthorizationCode], |_| {});
    let carol = w.user("carol", |u| u.require_password_change = true);
    let rt = w.refresh_token(&app, &carol, "api").await;
    let new = "a brand new passphrase";
    let r = w.change_password(&app, carol.as_str(), PASSWORD, new).await;
    assert_eq!(assert_answer(&r, StatusCode::OK, true), "You can now login");
    let u = w.stored_user(&carol);
    assert!(!u.require_password_change);
    assert_eq!(u.pwd_version, 1);
    assert_ne!(u.password_hash, password_hash());
    let r = w.refresh(&app, &rt, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_grant");
    let r = w.password_grant(&app, "carol", new).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "signs in with the new password: {}",
        r.body
    );
}

#[tokio::test]
async fn new_passwords_against_the_policy_are_refused_and_nothing_changes() {
    let w = World::new();
    let app = w.password_client();
    let alice = w.alice();
    for (new, why) in [
        ("short", "too short"),
        (PASSWORD, "different from the current"),
        ("Password123", "most commonly used"),
    ] {
        let r = w.change_password(&app, "alice", PASSWORD, new).await;
        let msg = assert_answer(&r, StatusCode::BAD_REQUEST, false);
        assert!(msg.contains(why), "{new:?}: {msg}");
    }
    let u = w.stored_user(&alice);
    assert_eq!((u.pwd_version, u.password_hash), (0, password_hash()));
}

#[tokio::test]
async fn wrong_current_password_is_refused() {
    let w = World::new();
    let app = w.password_client();
    let alice = w.alice();
    let r = w
        .change_password(
            &app,
            alice.as_str(),
            "wrong password",
            "a brand new passphrase",
        )
        .await;
    assert_eq!(
        assert_answer(&r, StatusCode::BAD_REQUEST, false),
        "Invalid user id or password."
    );
    assert_eq!(w.stored_user(&alice).pwd_version, 0);
}

#[tokio::test]
async fn change_password_without_client_authentication_is_401() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    let wrong = App {
        secret: Some("wrong".into()),
        ..app.clone()
    };
    let no_secret = App {
        secret: None,
        ..app
    };
    for a in [wrong, no_secret] {
        w.fakes.store.clear_calls();
        let r = w
            .change_password(&a, "alice", PASSWORD, "a brand new passphrase")
            .await;
        assert_answer(&r, StatusCode::UNAUTHORIZED, false);
        assert!(!w.fakes.store.calls().contains(&"throttle.reserve"));
    }
}

#[tokio::test]
async fn change_password_for_a_client_without_the_password_grant_is_refused() {
    let w = World::new();
    let app = w.code_client();
    w.alice();
    let r = w
        .change_password(&app, "alice", PASSWORD, "a brand new passphrase")
        .await;
    assert_answer(&r, StatusCode::BAD_REQUEST, false);
}

#[tokio::test]
async fn missing_fields_are_refused() {
    let w = World::new();
    let app = w.password_client();
    let r = w.change_password(&app, "alice", PASSWORD, "").await;
    assert_answer(&r, StatusCode::BAD_REQUEST, false);
}

#[tokio::test]
async fn password_checks_share_one_budget_across_login_page_password_grant_and_change_password() {
    let w = World::new();
    let app = w.client(&[Grant::Password, Grant::AuthorizationCode], |_| {});
    let alice = w.alice();
    let page = w.login_page(&app, &[]).await;
    for _ in 0..2 {
        let r = w.sign_in(&page, "alice", "wrong password", "allow").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    for _ in 0..2 {
        let r = w.password_grant(&app, "alice", "wrong password").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let r = w
        .change_password(
            &app,
            alice.as_str(),
            "wrong password",
            "a brand new passphrase",
        )
        .await;
    assert_answer(&r, StatusCode::BAD_REQUEST, false);

    w.advance(100);
    let r = w
        .change_password(&app, "alice", PASSWORD, "a brand new passphrase")
        .await;
    assert_answer(&r, StatusCode::TOO_MANY_REQUESTS, false);
    assert_eq!(r.header("retry-after"), Some("800"));
    let r = w.password_grant(&app, "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("800"));
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("800"));
    assert!(r.header("location").is_none());
    assert_eq!(w.stored_user(&alice).pwd_version, 0);
}

#[tokio::test]
async fn unknown_userid_and_wrong_password_get_one_answer_and_the_same_reads() {
    let w = World::new();
    let app = w.password_client();
    let alice = w.alice();
    let mut answers = Vec::new();
    for userid in [alice.as_str(), "nobody-at-all"] {
        w.fakes.store.clear_calls();
        let r = w
            .change_password(&app, userid, "wrong password", "a brand new passphrase")
            .await;
        // Tenant and client records are cached after the first request.
        let calls: Vec<&str> = w
            .fakes
            .store
            .calls()
            .into_iter()
            .filter(|c| !c.starts_with("directory."))
            .collect();
        answers.push((r.status, r.body, calls));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, StatusCode::BAD_REQUEST);
}
