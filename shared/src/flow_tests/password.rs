//! grant_type=password: registered clients only, one answer for every bad
//! credential, the Profix RequireChangePassword body, the throttle, scope
//! rules and offline_access for public (ROPC) clients.

use super::*;

fn assert_bad_credentials(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_grant", "{}", r.body);
}

#[tokio::test]
async fn password_grant_yields_tokens_for_the_user_named_in_any_case() {
    let w = World::new();
    let app = w.password_client();
    let alice = w.alice();
    let r = w.password_grant(&app, "ALICE", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = r.json();
    assert_eq!(b["scope"], "api");
    assert!(b["refresh_token"].is_string());
    let claims = w.verify_jwt(b["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["auth_time"], T0);
    assert_eq!(claims["preferred_username"], "alice");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_get_one_answer_and_the_same_reads() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    w.user("bob", |u| u.enabled = false);
    let mut answers = Vec::new();
    for (user, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("bob", PASSWORD),
    ] {
        w.fakes.store.clear_calls();
        let r = w.password_grant(&app, user, password).await;
        assert_bad_credentials(&r);
        // Tenant and client records are cached by the state after the first
        // request; what the credential check reads is what must not differ.
        let calls: Vec<&str> = w
            .fakes
            .store
            .calls()
            .into_iter()
            .filter(|c| !c.starts_with("directory."))
            .collect();
        answers.push((r.body, calls));
    }
    assert_eq!(
        answers[0], answers[1],
        "unknown user differs from wrong password"
    );
    assert_eq!(
        answers[0], answers[2],
        "disabled user differs from wrong password"
    );
    assert!(answers[0].1.contains(&"throttle.reserve"));
}

#[tokio::test]
async fn user_who_must_change_the_password_gets_the_profix_body_and_no_token() {
    let w = World::new();
    let app = w.password_client();
    let carol = w.user("carol", |u| u.require_password_change = true);
    let r = w.password_grant(&app, "carol", PASSWORD).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": "password change required",
            "userid": carol.as_str(),
            "RequireChangePassword": true,
        })
    );
}

#[tokio::test]
async fn password_checks_are_throttled_to_5_per_user_even_when_requests_arrive_at_once() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    let g = || w.password_grant(&app, "alice", "wrong password");
    let (a, b, c, d, e, f, g7, h) = tokio::join!(g(), g(), g(), g(), g(), g(), g(), g());
    let all = [a, b, c, d, e, f, g7, h];
    let checked = all
        .iter()
        .filter(|r| r.status == StatusCode::BAD_REQUEST)
        .count();
    let throttled: Vec<&Resp> = all
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!((checked, throttled.len()), (5, 3));
    for r in throttled {
        assert_eq!(r.header("retry-after"), Some("900"));
    }
    w.advance(899);
    let r = w.password_grant(&app, "alice", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is not checked either"
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    w.advance(1);
    let r = w.password_grant(&app, "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "the window slid: {}", r.body);
}

#[tokio::test]
async fn public_ropc_client_gets_a_refresh_token_only_with_offline_access() {
    let w = World::new();
    let app = w.client(&[Grant::Password], |c| {
        c.public = true;
        c.require_offline_access = true;
        c.redirect_uris.clear();
    });
    w.alice();
    let form = |scope| {
        vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("scope", scope),
        ]
    };
    let r = w.token(&app, &form("api")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json().get("refresh_token").is_none());
    let r = w.token(&app, &form("api offline_access")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json()["refresh_token"].is_string());
    assert_eq!(r.json()["scope"], "api offline_access");
}

#[tokio::test]
async fn scope_without_an_api_scope_or_beyond_the_clients_is_invalid_scope_before_any_check() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    for scope in ["openid offline_access", "api admin"] {
        w.fakes.store.clear_calls();
        let r = w
            .token(
                &app,
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{scope}: {}", r.body);
        assert_eq!(r.error(), "invalid_scope", "{scope}");
        assert!(
            !w.fakes.store.calls().contains(&"throttle.reserve"),
            "{scope}: a refused scope spends no password check"
        );
    }
}

#[tokio::test]
async fn password_grant_for_an_unregistered_client_is_unauthorized_client() {
    let w = World::new();
    let app = w.code_client();
    w.alice();
    let r = w.password_grant(&app, "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "unauthorized_client");
}
