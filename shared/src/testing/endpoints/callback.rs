//! POST …/callback: the login form's target. Credentials and decision, the
//! code and the redirect, single-use and expiring transactions, login CSRF.

use super::*;
use crate::clock::Now;

#[tokio::test]
async fn good_login_redirects_303_with_code_state_iss_and_login_hint() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let page = w.login_page(&app, &[]).await;
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().as_str().starts_with(&format!("{REDIRECT}?")));
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
    assert_eq!(r.param("login_hint"), Some(format!("d {TENANT} u {alice}")));
    assert!(
        r.header("location")
            .unwrap()
            .contains("login_hint=d%20acme%20u%20"),
        "spaces are sent as %20"
    );
    let code = r.param("code").unwrap();
    assert!(code.len() >= 22, "at least 128 bits");
    let stored = w
        .fakes
        .store
        .get(&w.tenant, &token_hash(&code), Now(T0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.expires_at, T0 + 60);
    assert_eq!(stored.user_id, alice);
    assert_eq!(stored.code_challenge.as_deref(), Some(CHALLENGE));
    let t = w
        .token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
}

#[tokio::test]
async fn bad_credentials_show_the_form_again_with_one_message_for_unknown_user_and_wrong_password()
{
    let w = World::new();
    let app = w.code_client();
    w.alice();
    let page = w.login_page(&app, &[]).await;
    let wrong = w.sign_in(&page, "alice", "wrong password", "allow").await;
    let unknown = w.sign_in(&page, "mallory", PASSWORD, "allow").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.header("location").is_none());
        assert!(r.body.contains("Incorrect username or password."));
        assert!(r.body.contains("id=\"login\""));
        assert_eq!(
            r.form_tx(),
            page.form_tx(),
            "the same transaction, still usable"
        );
    }
    assert_eq!(
        wrong.body.replace("alice", "USER"),
        unknown.body.replace("mallory", "USER"),
        "unknown user and wrong password look the same"
    );
}

#[tokio::test]
async fn user_who_must_change_the_password_gets_no_code() {
    let w = World::new();
    let app = w.code_client();
    w.user("carol", |u| u.require_password_change = true);
    let page = w.login_page(&app, &[]).await;
    let r = w.sign_in(&page, "carol", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.header("location").is_none());
    assert!(r.body.contains("change your password"));
}

#[tokio::test]
async fn deny_redirects_access_denied_with_state_and_iss() {
    let w = World::new();
    let app = w.code_client();
    let page = w.login_page(&app, &[]).await;
    let r = w.sign_in(&page, "", "", "deny").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().as_str().starts_with(REDIRECT));
    assert_eq!(r.param("error").as_deref(), Some("access_denied"));
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
    assert_eq!(r.param("code"), None);
}

#[tokio::test]
async fn login_transaction_is_single_use() {
    let w = World::new();
    let app = w.code_client();
    w.alice();
    let page = w.login_page(&app, &[]).await;
    let r = w.sign_in(&page, "", "", "deny").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    for decision in ["deny", "allow"] {
        let r = w.sign_in(&page, "alice", PASSWORD, decision).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{decision}: {}", r.body);
        assert!(r.header("location").is_none());
        assert!(r.body.contains("Sign-in expired"));
    }
}

#[tokio::test]
async fn login_transaction_expires_after_600_seconds() {
    let w = World::new();
    let app = w.code_client();
    let early = w.login_page(&app, &[]).await;
    let late = w.login_page(&app, &[]).await;
    w.advance(599);
    let r = w.sign_in(&early, "", "", "deny").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "at 599 s: {}", r.body);
    w.advance(1);
    let r = w.sign_in(&late, "", "", "deny").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "at 600 s: {}", r.body);
    assert!(r.body.contains("Sign-in expired"));
}

#[tokio::test]
async fn tampered_transaction_is_refused() {
    let w = World::new();
    let app = w.code_client();
    let page = w.login_page(&app, &[]).await;
    let tx = page.form_tx();
    let (payload, sig) = tx.split_once('.').unwrap();
    let forged = format!("{payload}x.{sig}");
    let r = w.callback(&[("tx", &forged), ("decision", "deny")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.header("location").is_none());
}

#[tokio::test]
async fn foreign_origin_or_referer_is_refused_and_leaves_the_transaction_unused() {
    let w = World::new();
    let app = w.code_client();
    let page = w.login_page(&app, &[]).await;
    let tx = page.form_tx();
    let form = [("tx", tx.as_str()), ("decision", "deny")];
    for origin in [
        "https://evil.example",
        "null",
        "https://fn.example.evil.example",
    ] {
        let r = w.callback_from(Some(origin), &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{origin}: {}", r.body);
        assert!(r.header("location").is_none());
        assert!(r.body.contains("Sign-in refused"), "{origin}");
    }
    let req = form_request(
        "/oauth2/acme/callback",
        &form,
        &[("referer", "https://evil.example/page")],
    );
    let r = Resp::from(handlers::callback::handle(&w.state, req).await);
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "foreign referer: {}",
        r.body
    );
    let req = form_request(
        "/oauth2/acme/callback",
        &form,
        &[(
            "referer",
            "https://fn.example/authorize/oauth2/acme/authorize?x=1",
        )],
    );
    let r = Resp::from(handlers::callback::handle(&w.state, req).await);
    assert_eq!(r.status, StatusCode::SEE_OTHER, "own referer: {}", r.body);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn request_without_origin_or_referer_is_judged_by_the_transaction() {
    let w = World::new();
    let app = w.code_client();
    let page = w.login_page(&app, &[]).await;
    let tx = page.form_tx();
    let r = w
        .callback_from(None, &[("tx", &tx), ("decision", "deny")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn decision_other_than_allow_or_deny_shows_the_form_again() {
    let w = World::new();
    let app = w.code_client();
    let page = w.login_page(&app, &[]).await;
    let tx = page.form_tx();
    let r = w.callback(&[("tx", &tx), ("decision", "maybe")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("id=\"login\""));
    let r = w.callback(&[("tx", &tx), ("decision", "deny")]).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "the transaction was not used: {}",
        r.body
    );
}

#[tokio::test]
async fn implicit_login_returns_the_access_token_in_the_fragment_and_no_refresh_token() {
    let w = World::new();
    let app = w.client(&[Grant::Implicit], |_| {});
    let alice = w.alice();
    let page = w
        .authorize(&[
            ("response_type", "token"),
            ("client_id", app.id.as_str()),
            ("state", "st-1"),
        ])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let loc = r.location();
    assert!(loc.query().is_none() && loc.fragment().is_some(), "{loc}");
    assert_eq!(r.param("token_type").as_deref(), Some("Bearer"));
    assert_eq!(r.param("expires_in").as_deref(), Some("600"));
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
    assert_eq!(r.param("code"), None);
    assert_eq!(r.param("refresh_token"), None);
    let claims = w.verify_jwt(&r.param("access_token").unwrap());
    assert_eq!(claims["sub"], alice.as_str());
}

#[tokio::test]
async fn signing_in_on_the_login_page_again_and_again_is_never_throttled() {
    let w = World::new();
    let app = w.code_client();
    w.alice();
    for i in 0..12 {
        let page = w.login_page(&app, &[]).await;
        let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "sign-in {i}: {}", r.body);
        w.advance(60);
    }
}

#[tokio::test]
async fn login_page_guesses_spend_the_budget_of_the_events_source_address() {
    let w = World::new();
    let app = w.code_client();
    w.alice();
    let attempt = |ip: &'static str, password: &'static str| {
        let w = &w;
        let app = &app;
        async move {
            let page = w.login_page(app, &[]).await;
            let form = [
                ("tx", page.form_tx()),
                ("username", "alice".to_owned()),
                ("password", password.to_owned()),
                ("decision", "allow".to_owned()),
            ];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            w.callback_from_ip(ip, Some(ORIGIN), &form).await
        }
    };
    for _ in 0..5 {
        let r = attempt("203.0.113.5", "guess").await;
        assert_eq!(r.status, StatusCode::OK, "the form again: {}", r.body);
    }
    let r = attempt("203.0.113.5", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let r = attempt("198.51.100.8", PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "another address signs in: {}",
        r.body
    );
}

#[tokio::test]
async fn a_foreign_post_for_a_made_up_alias_is_no_metric_dimension_nor_audit_field() {
    let w = World::new();
    crate::audit::captured_metrics();
    for alias in ["made-up-1", "made-up-2"] {
        let req = form_request(
            &format!("/oauth2/{alias}/callback"),
            &[("tx", "x"), ("decision", "allow")],
            &[("origin", "https://evil.example")],
        );
        let r = Resp::from(handlers::callback::handle(&w.state, req).await);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let lines = crate::audit::captured_metrics();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert!(
            !line.contains("made-up"),
            "the alias reached a metric: {line}"
        );
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([[]]),
            "{line}"
        );
    }
    // A real tenant's refusal still counts per tenant.
    let req = form_request(
        "/oauth2/acme/callback",
        &[("tx", "x"), ("decision", "allow")],
        &[("origin", "https://evil.example")],
    );
    let r = Resp::from(handlers::callback::handle(&w.state, req).await);
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let lines = crate::audit::captured_metrics();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["tenant"], "acme");
}

/// A 4 KiB `state` and a 4 KiB `nonce` (SPEC Bad input: what real clients
/// send), of every printable character, multi-byte UTF-8 and — the costliest
/// to carry — control characters, survive the whole browser flow: the login
/// transaction, a failed attempt's form, the code, the redirect and the
/// id_token.
#[tokio::test]
async fn a_4_kib_state_and_nonce_round_trip_the_whole_browser_flow() {
    let w = World::new();
    let app = w.code_client();
    w.alice();
    let printable: String = (0x20u8..0x7f).map(char::from).collect();
    let mut state = format!("é{}", printable.repeat(50));
    state.truncate(4096);
    assert_eq!(state.len(), 4096);
    let nonce = "\u{1}\"\\é".repeat(819) + "\u{1}";
    assert_eq!(nonce.len(), 4096);
    let mut q = code_request(&app);
    q.retain(|(k, _)| *k != "state");
    q.extend_from_slice(&[
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("scope", "api openid"),
    ]);
    let page = w.authorize(&q).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let again = w.sign_in(&page, "alice", "wrong password", "allow").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.form_tx(), page.form_tx());
    let r = w.sign_in(&again, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.param("state").as_deref(), Some(state.as_str()));
    let code = r.param("code").unwrap();
    let t = w
        .token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let id = w.verify_jwt(t.json()["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], nonce.as_str());
    // The denial redirect carries the state too.
    let page = w.authorize(&q).await;
    let r = w.sign_in(&page, "alice", PASSWORD, "deny").await;
    assert_eq!(r.param("error").as_deref(), Some("access_denied"));
    assert_eq!(r.param("state").as_deref(), Some(state.as_str()));
    // 4 KiB is the limit: one byte more is refused (the error page).
    for (k, v) in [("state", &state), ("nonce", &nonce)] {
        let longer = format!("{v}x");
        let mut q = q.clone();
        for p in q.iter_mut().filter(|(n, _)| *n == k) {
            p.1 = &longer;
        }
        let r = w.authorize(&q).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{k}");
        assert!(r.header("location").is_none());
    }
}
