//! The callback: login transaction, credentials, throttling, decision, code.

use crate::helpers::*;
use reqwest::StatusCode;

async fn page(t: &TestTenant, c: &TestClient, state: &str) -> String {
    let r = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", state),
            ("scope", "api"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn good_login_redirects_with_code_state_iss_and_login_hint() {
    let t = TestTenant::new().await;
    let user_id = t.user("carol", &[]).await;
    let c = t.code_client().await;
    let html = page(&t, &c, "xyz").await;
    let r = t.submit(&html, "carol", PASSWORD, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = location(&r);
    assert!(loc.starts_with(&format!("{REDIRECT}?code=")), "{loc}");
    assert!(
        loc.ends_with(&format!("&login_hint=d%20{}%20u%20{}", t.alias, user_id)),
        "Maximizer login_hint: {loc}"
    );
    let p = query_of(&loc);
    assert_eq!(param(&p, "state").as_deref(), Some("xyz"));
    assert_eq!(param(&p, "iss").as_deref(), Some(t.issuer().as_str()));
    let code = param(&p, "code").unwrap();
    assert!(code.len() >= 22, "at least 128 bits");
}

#[tokio::test]
async fn code_is_stored_only_as_a_hash() {
    let t = TestTenant::new().await;
    t.user("hash", &[]).await;
    let c = t.code_client().await;
    let code = t.code(&c, &[], "hash").await;
    let items = db().await.tenant_items(&t.tenant_id()).await.unwrap();
    let dump: String = items.iter().map(|i| i.dump.as_str()).collect();
    assert!(dump.contains("CODE#"), "the code record exists");
    assert!(!dump.contains(&code), "the code itself is not stored");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_show_the_same_message() {
    let t = TestTenant::new().await;
    t.user("dave", &[]).await;
    let c = t.code_client().await;
    let html = page(&t, &c, "s").await;
    let wrong = t.submit(&html, "dave", "not the password", "allow").await;
    let unknown = t.submit(&html, "nobody", PASSWORD, "allow").await;
    assert_eq!(wrong.status(), StatusCode::OK);
    assert_eq!(unknown.status(), StatusCode::OK);
    let a = wrong.text().await.unwrap();
    let b = unknown.text().await.unwrap();
    assert!(a.contains("Incorrect username or password."));
    assert!(b.contains("Incorrect username or password."));
    assert!(a.contains("id=\"login\""), "the form again");
    // The same transaction still works for the right credentials.
    let ok = t.submit(&html, "dave", PASSWORD, "allow").await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let t = TestTenant::new().await;
    t.user("erin", &[]).await;
    let c = t.code_client().await;
    let html = page(&t, &c, "s").await;
    let mut last = StatusCode::OK;
    let mut retry_after = None;
    for _ in 0..7 {
        let r = t.submit(&html, "erin", "wrong", "allow").await;
        last = r.status();
        retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some_and(|s| s > 0 && s <= 900));
    // Even the right password is refused while throttled.
    let r = t.submit(&html, "erin", PASSWORD, "allow").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn deny_redirects_access_denied_with_state_and_iss() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let html = page(&t, &c, "st").await;
    let tx = form_tx(&html);
    let r = t.callback(&[("tx", &tx), ("decision", "deny")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p = query_of(&location(&r));
    assert_eq!(param(&p, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&p, "state").as_deref(), Some("st"));
    assert_eq!(param(&p, "iss").as_deref(), Some(t.issuer().as_str()));
}

#[tokio::test]
async fn login_transaction_is_single_use() {
    let t = TestTenant::new().await;
    t.user("fay", &[]).await;
    let c = t.code_client().await;
    let html = page(&t, &c, "s").await;
    assert_eq!(
        t.submit(&html, "fay", PASSWORD, "allow").await.status(),
        StatusCode::SEE_OTHER
    );
    let again = t.submit(&html, "fay", PASSWORD, "allow").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.headers().get("location").is_none());
}

#[tokio::test]
async fn tampered_login_transaction_is_rejected() {
    let t = TestTenant::new().await;
    t.user("gus", &[]).await;
    let c = t.code_client().await;
    let html = page(&t, &c, "s").await;
    let tx = form_tx(&html);
    // Re-sign nothing, just swap the redirect target in the payload.
    let (payload, sig) = tx.split_once('.').unwrap();
    let json = String::from_utf8(tollgate::crypto::b64url_decode(payload).unwrap()).unwrap();
    let forged = json.replace(REDIRECT, "https://evil.example/cb");
    let forged_tx = format!("{}.{}", tollgate::crypto::b64url(forged.as_bytes()), sig);
    for bad in [forged_tx.as_str(), "garbage", ""] {
        let r = t
            .callback(&[
                ("tx", bad),
                ("username", "gus"),
                ("password", PASSWORD),
                ("decision", "allow"),
            ])
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn login_transaction_of_another_tenant_is_rejected() {
    let a = TestTenant::new().await;
    let b = TestTenant::new().await;
    b.user("hal", &[]).await;
    let c = a.code_client().await;
    let html = page(&a, &c, "s").await;
    let r = b.submit(&html, "hal", PASSWORD, "allow").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn callback_without_form_body_is_a_400_not_a_500() {
    let t = TestTenant::new().await;
    let r = stack()
        .http
        .post(t.url("callback", "callback"))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = stack()
        .http
        .get(t.url("callback", "callback"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn user_flagged_for_password_change_gets_no_code() {
    let t = TestTenant::new().await;
    t.user("ivy", &["--require-password-change"]).await;
    let c = t.code_client().await;
    let html = page(&t, &c, "s").await;
    let r = t.submit(&html, "ivy", PASSWORD, "allow").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("change your password"));
}
