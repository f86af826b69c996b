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

fn statuses(all: &[Resp]) -> (usize, usize) {
    let checked = all
        .iter()
        .filter(|r| r.status == StatusCode::BAD_REQUEST)
        .count();
    let throttled = all
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    (checked, throttled)
}

#[tokio::test]
async fn a_user_who_signs_in_twenty_times_in_an_hour_is_never_throttled() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    for i in 0..20 {
        let r = w.password_grant(&app, "alice", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "sign-in {i}: {}", r.body);
        w.advance(180);
    }
    // Eight at once, all correct: every one signs in.
    let g = || w.password_grant(&app, "alice", PASSWORD);
    let (a, b, c, d, e, f, g7, h) = tokio::join!(g(), g(), g(), g(), g(), g(), g(), g());
    for r in [a, b, c, d, e, f, g7, h] {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

#[tokio::test]
async fn wrong_passwords_from_one_address_are_throttled_at_5_even_when_they_arrive_at_once() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    let g = || w.password_grant(&app, "alice", "wrong password");
    let (a, b, c, d, e, f, g7, h) = tokio::join!(g(), g(), g(), g(), g(), g(), g(), g());
    let all = [a, b, c, d, e, f, g7, h];
    assert_eq!(statuses(&all), (5, 3));
    for r in all
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    {
        assert_eq!(r.header("retry-after"), Some("900"));
    }
    w.advance(899);
    let r = w.password_grant(&app, "alice", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password from that address is not checked either"
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    w.advance(1);
    let r = w.password_grant(&app, "alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "the window slid: {}", r.body);
}

#[tokio::test]
async fn a_guesser_at_one_address_cannot_lock_the_user_out_from_another() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    for _ in 0..12 {
        w.password_grant_from("203.0.113.66", &app, "alice", "guess")
            .await;
    }
    let r = w
        .password_grant_from("198.51.100.20", &app, "alice", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Their own network still has its whole budget of wrong passwords.
    for i in 0..5 {
        let r = w
            .password_grant_from("198.51.100.20", &app, "alice", "typo")
            .await;
        assert_bad_credentials(&r);
        assert!(i < 5);
    }
    let r = w
        .password_grant_from("198.51.100.20", &app, "alice", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}

#[tokio::test]
async fn the_source_is_the_events_address_never_a_header() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    for i in 0..6 {
        let forwarded = format!("10.9.8.{i}");
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                app.id,
                app.secret.as_deref().unwrap()
            ))
        );
        let r = w
            .token_raw(
                &[
                    ("authorization", &basic),
                    ("x-forwarded-for", &forwarded),
                    ("x-real-ip", &forwarded),
                ],
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "guess"),
                ],
            )
            .await;
        let want = if i < 5 {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, want, "guess {i}: {}", r.body);
    }
}

#[tokio::test]
async fn ipv6_callers_share_the_budget_of_their_64() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    for i in 0..6 {
        let ip = format!("2001:db8:5:6:{i:x}::1");
        let r = w.password_grant_from(&ip, &app, "alice", "guess").await;
        let want = if i < 5 {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, want, "guess {i} from {ip}: {}", r.body);
    }
    let r = w
        .password_grant_from("2001:db8:5:7::1", &app, "alice", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK, "another /64: {}", r.body);
}

#[tokio::test]
async fn a_distributed_guesser_gets_25_guesses_and_no_more_even_all_at_once() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    let ips: Vec<String> = (0..40).map(|i| format!("203.0.113.{i}")).collect();
    let all = crate::testing::contract::join_all(
        ips.iter()
            .map(|ip| {
                Box::pin(w.password_grant_from(ip, &app, "alice", "guess"))
                    as crate::ports::BoxFuture<'_, Resp>
            })
            .collect(),
    )
    .await;
    assert_eq!(statuses(&all), (25, 15));
    // A fresh address is refused too: the shared budget is spent.
    let r = w
        .password_grant_from("198.51.100.99", &app, "alice", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    w.advance(900);
    let r = w
        .password_grant_from("198.51.100.99", &app, "alice", PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_correct_password_gives_its_slot_back_and_wrong_ones_keep_theirs() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    for _ in 0..4 {
        assert_bad_credentials(&w.password_grant(&app, "alice", "guess").await);
    }
    for _ in 0..3 {
        let r = w.password_grant(&app, "alice", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_bad_credentials(&w.password_grant(&app, "alice", "guess").await);
    let r = w.password_grant(&app, "alice", "guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the 6th wrong one");
}

#[tokio::test]
async fn a_disabled_user_with_the_right_password_keeps_the_slot_spent() {
    let w = World::new();
    let app = w.password_client();
    w.user("bob", |u| u.enabled = false);
    for _ in 0..5 {
        assert_bad_credentials(&w.password_grant(&app, "bob", PASSWORD).await);
    }
    let r = w.password_grant(&app, "bob", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
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
