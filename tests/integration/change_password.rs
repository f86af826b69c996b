//! The Profix change-password endpoint.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

fn url(t: &TestTenant) -> String {
    t.url("change-password", "token/changepassword")
}

async fn change(
    t: &TestTenant,
    c: &TestClient,
    userid: &str,
    old: &str,
    new: &str,
) -> (StatusCode, serde_json::Value) {
    let mut form = vec![
        ("client_id", c.id.as_str()),
        ("userid", userid),
        ("password", old),
        ("newpassword", new),
    ];
    if let Some(s) = &c.secret {
        form.push(("client_secret", s));
    }
    t.post_form(&url(t), None, &form).await
}

#[tokio::test]
async fn change_password_clears_the_flag_and_revokes_refresh_tokens() {
    let t = TestTenant::new().await;
    let uid = t.user("pat", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (_, before) = t.password_grant(&c, "pat", None).await;
    let rt = before["refresh_token"].as_str().unwrap().to_owned();
    let (s, v) = change(&t, &c, &uid, PASSWORD, "a brand new password").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"success": true, "message": "You can now login"}));
    let (s, v) = t.refresh(&c, &rt).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "old refresh tokens die"
    );
    let (s, _) = t.password_grant(&c, "pat", None).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "the old password no longer works"
    );
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "pat"),
                ("password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn profix_sequence_require_change_then_change_then_login() {
    let t = TestTenant::new().await;
    t.user("rcp", &["--require-password-change"]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (_, v) = t.password_grant(&c, "rcp", None).await;
    assert_eq!(v["RequireChangePassword"], true);
    let userid = v["userid"].as_str().unwrap().to_owned();
    let (s, v) = change(&t, &c, &userid, PASSWORD, "fresh password 1").await;
    assert_eq!((s, &v["success"]), (StatusCode::OK, &json!(true)), "{v}");
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "rcp"),
                ("password", "fresh password 1"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Refresh, refresh again.
    let (s, r1) = t.refresh(&c, v["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t.refresh(&c, r1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn short_new_password_is_refused_with_a_clear_message() {
    let t = TestTenant::new().await;
    let uid = t.user("sh", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = change(&t, &c, &uid, PASSWORD, "short").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["success"], false);
    assert!(v["message"].as_str().unwrap().contains("at least 8"));
}

#[tokio::test]
async fn new_password_equal_to_old_is_refused() {
    let t = TestTenant::new().await;
    let uid = t.user("same", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = change(&t, &c, &uid, PASSWORD, PASSWORD).await;
    assert_eq!((s, &v["success"]), (StatusCode::BAD_REQUEST, &json!(false)));
    assert!(v["message"].as_str().unwrap().contains("different"));
}

#[tokio::test]
async fn wrong_current_password_is_refused() {
    let t = TestTenant::new().await;
    let uid = t.user("wr", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = change(&t, &c, &uid, "not it", "new password 123").await;
    assert_eq!((s, &v["success"]), (StatusCode::BAD_REQUEST, &json!(false)));
    let (s2, v2) = change(&t, &c, "nosuchuser", PASSWORD, "new password 123").await;
    assert_eq!(
        (s2, &v2),
        (s, &v),
        "unknown user looks like a wrong password"
    );
}

#[tokio::test]
async fn change_password_is_throttled() {
    let t = TestTenant::new().await;
    let uid = t.user("thr", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let mut last = StatusCode::OK;
    for _ in 0..7 {
        last = change(&t, &c, &uid, "bad guess", "new password 123")
            .await
            .0;
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn change_password_needs_client_authentication() {
    let t = TestTenant::new().await;
    let uid = t.user("ca", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let bad = TestClient {
        id: c.id.clone(),
        secret: Some("wrong".into()),
    };
    let (s, v) = change(&t, &bad, &uid, PASSWORD, "new password 123").await;
    assert_eq!(
        (s, &v["success"]),
        (StatusCode::UNAUTHORIZED, &json!(false))
    );
    let other = t.code_client().await;
    let (s, v) = change(&t, &other, &uid, PASSWORD, "new password 123").await;
    assert_eq!(
        (s, &v["success"]),
        (StatusCode::BAD_REQUEST, &json!(false)),
        "client not registered for password"
    );
}

#[tokio::test]
async fn change_password_accepts_mixed_case_route() {
    let t = TestTenant::new().await;
    let uid = t.user("mc", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let u = format!(
        "{}/OAuth2/{}/Token/ChangePassword",
        stack().function_base("change-password"),
        t.alias
    );
    let (s, v) = t
        .post_form(
            &u,
            None,
            &[
                ("client_id", &c.id),
                ("client_secret", c.secret()),
                ("userid", &uid),
                ("password", PASSWORD),
                ("newpassword", "Another pass 9"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
