//! client_credentials and password grants.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn client_credentials_token_has_client_as_subject_and_no_refresh_token() {
    let t = TestTenant::with(&[
        "--audience",
        "https://api.one.example",
        "--audience",
        "https://api.two.example",
    ])
    .await;
    let c = t
        .client(&[
            "--grant",
            "client_credentials",
            "--scope",
            "read",
            "--scope",
            "write",
        ])
        .await;
    let (s, v) = t
        .token(Some(&c), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("refresh_token").is_none());
    assert_eq!(v["scope"], "read write");
    assert_eq!(v["expires_in"], 600);
    let (h, claims) = t
        .verify(
            v["access_token"].as_str().unwrap(),
            Some("https://api.two.example"),
        )
        .await;
    assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    assert_eq!(claims["sub"], c.id);
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://api.one.example", "https://api.two.example"]),
        "valid for all the tenant's API hosts"
    );
    let (s, v) = t
        .token(
            Some(&c),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["scope"], "read");
}

#[tokio::test]
async fn client_credentials_scope_outside_the_client_is_invalid_scope() {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "client_credentials", "--scope", "read"])
        .await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read admin"),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
}

#[tokio::test]
async fn client_credentials_for_unregistered_client_is_unauthorized_client() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let (s, v) = t
        .token(Some(&c), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn client_credentials_for_public_client_is_rejected() {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "password", "--public", "--scope", "api"])
        .await;
    let (s, v) = t
        .token(
            None,
            &[("grant_type", "client_credentials"), ("client_id", &c.id)],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn password_grant_issues_tokens_with_user_claims() {
    let t = TestTenant::new().await;
    let uid = t
        .user(
            "profix",
            &[
                "--email",
                "p@example.com",
                "--name",
                "Pro Fix",
                "--attr",
                "is_admin=true",
            ],
        )
        .await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = t.password_grant(&c, "profix", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["refresh_token"].is_string());
    let (_, claims) = t.verify(v["access_token"].as_str().unwrap(), None).await;
    assert_eq!(claims["sub"], uid);
    assert_eq!(claims["email"], "p@example.com");
    assert_eq!(claims["name"], "Pro Fix");
    assert_eq!(claims["is_admin"], "true");
}

#[tokio::test]
async fn password_grant_for_unregistered_client_is_unauthorized_client() {
    let t = TestTenant::new().await;
    t.user("u1", &[]).await;
    let c = t.code_client().await;
    let (s, v) = t.password_grant(&c, "u1", None).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn password_grant_wrong_password_and_unknown_user_look_alike() {
    let t = TestTenant::new().await;
    t.user("u2", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s1, v1) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "u2"),
                ("password", "nope"),
            ],
        )
        .await;
    let (s2, v2) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "ghost"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (s1, err_code(&v1)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!((s1, &v1), (s2, &v2));
}

#[tokio::test]
async fn password_grant_is_throttled_after_repeated_failures() {
    let t = TestTenant::new().await;
    t.user("u3", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let mut last = (StatusCode::OK, serde_json::Value::Null);
    for _ in 0..7 {
        last = t
            .token(
                Some(&c),
                &[
                    ("grant_type", "password"),
                    ("username", "u3"),
                    ("password", "nope"),
                ],
            )
            .await;
        if last.0 == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
    let r = stack()
        .http
        .post(t.token_url())
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[
            ("grant_type", "password"),
            ("username", "u3"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn user_flagged_for_password_change_gets_require_change_password_body() {
    let t = TestTenant::new().await;
    let uid = t.user("u4", &["--require-password-change"]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = t.password_grant(&c, "u4", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": "password change required",
            "userid": uid,
            "RequireChangePassword": true,
        })
    );
}

#[tokio::test]
async fn public_ropc_client_gets_refresh_token_only_with_offline_access() {
    let t = TestTenant::new().await;
    t.user("b2c", &[]).await;
    let c = t
        .client(&[
            "--grant",
            "password",
            "--public",
            "--require-offline-access",
            "--scope",
            "https://api.example/user_impersonation",
        ])
        .await;
    assert!(c.secret.is_none());
    let (s, v) = t
        .password_grant(
            &c,
            "b2c",
            Some("openid https://api.example/user_impersonation"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    assert!(v["id_token"].is_string());
    let (s, v) = t
        .password_grant(
            &c,
            "b2c",
            Some("openid offline_access https://api.example/user_impersonation"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["refresh_token"].is_string());
    // The public client refreshes with its client_id only.
    let (s, r) = t
        .token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", v["refresh_token"].as_str().unwrap()),
                ("client_id", &c.id),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
}

#[tokio::test]
async fn password_grant_without_the_api_scope_is_invalid_scope() {
    let t = TestTenant::new().await;
    t.user("b2c2", &[]).await;
    let c = t
        .client(&[
            "--grant",
            "password",
            "--public",
            "--scope",
            "https://api.example/user_impersonation",
        ])
        .await;
    let (s, v) = t
        .password_grant(&c, "b2c2", Some("openid offline_access"))
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    let (s, v) = t
        .password_grant(&c, "b2c2", Some("https://api.other.example/x"))
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
}

#[tokio::test]
async fn public_client_sending_a_secret_is_invalid_client() {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "password", "--public", "--scope", "api"])
        .await;
    let (s, v) = t
        .token(
            None,
            &[
                ("grant_type", "password"),
                ("username", "x"),
                ("password", "y"),
                ("client_id", &c.id),
                ("client_secret", "guess"),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}

#[tokio::test]
async fn confidential_client_without_secret_is_invalid_client() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = t
        .token(
            None,
            &[
                ("grant_type", "password"),
                ("username", "x"),
                ("password", "y"),
                ("client_id", &c.id),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}
