//! Regression tests for the hardening issue: each defect found by attacking
//! `make dev`, named by its failure, against the real local stack.

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

/// RFC 6749 §5.2: `error_description` is %x20-21 / %x23-5B / %x5D-7E.
fn assert_rfc6749_description(v: &Value) {
    if let Some(d) = v.get("error_description") {
        let d = d.as_str().expect("error_description is a string");
        assert!(
            d.bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
            "error_description has characters RFC 6749 forbids: {d:?}"
        );
    }
}

async fn post_raw(
    url: &str,
    basic: Option<&TestClient>,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = stack()
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = basic {
        req = req.basic_auth(&c.id, c.secret.as_deref());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn change_password_url(t: &TestTenant) -> String {
    t.url("change-password", "token/changepassword")
}

// ---- 1. brute force ---------------------------------------------------------

#[tokio::test]
async fn throttle_holds_against_a_concurrent_burst_that_includes_the_right_password() {
    let t = TestTenant::new().await;
    t.user("burst", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let attempts = (0..24).map(|i| {
        let password = if i == 12 { PASSWORD } else { "wrong password" };
        let form = [
            ("grant_type", "password"),
            ("username", "burst"),
            ("password", password),
        ];
        let t = &t;
        let c = &c;
        async move { t.token(Some(c), &form).await }
    });
    let answers = join_all(attempts).await;
    // The right password gives its slot back, so it may sign in; the wrong
    // ones from this one address are capped at its budget.
    let wrong_checked = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::BAD_REQUEST)
        .count();
    assert!(
        wrong_checked <= 5,
        "{wrong_checked} wrong passwords were checked in one burst: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // Nothing reopened the address's budget: the right password waits too.
    let (s, _) = t.password_grant(&c, "burst", Some("api")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_user_who_signs_in_again_and_again_is_never_throttled() {
    let t = TestTenant::new().await;
    t.user("regular", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let code_client = t.code_client().await;
    for i in 0..8 {
        let (s, v) = t.password_grant(&c, "regular", Some("api")).await;
        assert_eq!(s, StatusCode::OK, "password grant {i}: {v}");
        let page = t
            .authorize(&[
                ("response_type", "code"),
                ("client_id", &code_client.id),
                ("redirect_uri", REDIRECT),
                ("state", "s"),
            ])
            .await
            .text()
            .await
            .unwrap();
        let r = t.submit(&page, "regular", PASSWORD, "allow").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login page {i}");
    }
}

#[tokio::test]
async fn throttle_budget_is_shared_by_login_page_password_grant_and_change_password() {
    let t = TestTenant::new().await;
    let user_id = t.user("shared", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let code_client = t.code_client().await;
    // Two failures through the password grant ...
    for _ in 0..2 {
        let (s, _) = t
            .token(
                Some(&c),
                &[
                    ("grant_type", "password"),
                    ("username", "shared"),
                    ("password", "nope"),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    // ... two on the login page ...
    let page = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &code_client.id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ])
        .await
        .text()
        .await
        .unwrap();
    for _ in 0..2 {
        let r = t.submit(&page, "SHARED", "nope", "allow").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // ... and one through change password, by user id.
    let (s, v) = t
        .post_form(
            &change_password_url(&t),
            Some(&c),
            &[
                ("userid", &user_id),
                ("password", "nope"),
                ("newpassword", "a fresh passphrase"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // The budget (5) is spent: even the right password waits, on every path.
    let (s, _) = t.password_grant(&c, "shared", Some("api")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let r = t.submit(&page, "shared", PASSWORD, "allow").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn unknown_username_is_throttled_exactly_like_a_known_one() {
    let t = TestTenant::new().await;
    t.user("known", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let mut seen = Vec::new();
    for name in ["known", "unknown-user"] {
        let mut statuses = Vec::new();
        for _ in 0..7 {
            let (s, v) = t
                .token(
                    Some(&c),
                    &[
                        ("grant_type", "password"),
                        ("username", name),
                        ("password", "nope"),
                    ],
                )
                .await;
            statuses.push((s, v["error"].clone()));
        }
        seen.push(statuses);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0][5].0, StatusCode::TOO_MANY_REQUESTS);
}

// ---- 2. bounded input --------------------------------------------------------

#[tokio::test]
async fn body_over_64_kib_is_413_at_every_form_endpoint() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let body = format!("grant_type=client_credentials&x={}", "a".repeat(70_000)).into_bytes();
    for url in [
        t.token_url(),
        t.url("refresh", "refresh"),
        change_password_url(&t),
        t.url("callback", "callback"),
    ] {
        let r = post_raw(&url, Some(&c), body.clone(), &[]).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{url}");
    }
}

#[tokio::test]
async fn oversized_username_userid_and_client_id_are_client_errors_not_500() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let long = "u".repeat(2000);
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", &long),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(err_code(&v), "invalid_request");
    let (s, v) = t
        .post_form(
            &change_password_url(&t),
            Some(&c),
            &[
                ("userid", &long),
                ("password", "x"),
                ("newpassword", "a fresh passphrase"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let long_id = "c".repeat(5000);
    let (s, v) = t
        .token(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &long_id),
            ],
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let code_client = t.code_client().await;
    let page = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &code_client.id),
            ("redirect_uri", REDIRECT),
        ])
        .await
        .text()
        .await
        .unwrap();
    let r = t.submit(&page, &long, "x", "allow").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t
        .authorize(&[("response_type", "code"), ("client_id", &long_id)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn callback_answers_400_to_random_bodies_and_malformed_tx() {
    let t = TestTenant::new().await;
    let url = t.url("callback", "callback");
    for body in [
        b"\x00\x01\x02garbage".to_vec(),
        b"tx=%%%&decision=allow".to_vec(),
        b"tx=a.b&decision=allow&username=u&password=p".to_vec(),
        b"tx=eyJ0IjoiIn0.AAAA&decision=allow".to_vec(),
        vec![0xff, 0xfe, b'=', 0x80],
        b"tx=%ff%fe".to_vec(),
    ] {
        let r = post_raw(&url, None, body.clone(), &[]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body:?}");
    }
}

#[tokio::test]
async fn non_utf8_body_is_invalid_request() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let r = post_raw(
        &t.token_url(),
        Some(&c),
        b"grant_type=client_credentials&scope=%ff".to_vec(),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(err_code(&v), "invalid_request");
}

#[tokio::test]
async fn sixteen_thousand_repeated_names_are_refused_as_one_duplicate() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let body = "scope=a&".repeat(8_000) + "grant_type=client_credentials";
    let r = post_raw(&t.token_url(), Some(&c), body.into_bytes(), &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_description"], "duplicate parameter: scope");
}

// ---- 3. error_description -----------------------------------------------------

#[tokio::test]
async fn error_description_never_echoes_forbidden_characters() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let (s, v) = t
        .token(Some(&c), &[("grant_type", "x\u{0}\"\\\u{e9}\u{7f}y")])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err_code(&v), "unsupported_grant_type");
    assert_rfc6749_description(&v);
    let r = post_raw(
        &t.token_url(),
        Some(&c),
        b"grant_type=client_credentials&a%22%5C%00%C3%A9=1&a%22%5C%00%C3%A9=2".to_vec(),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_rfc6749_description(&r.json().await.unwrap());
}

// ---- 5. login CSRF ----------------------------------------------------------------

#[tokio::test]
async fn callback_refuses_a_cross_site_form_post() {
    let t = TestTenant::new().await;
    t.user("csrf", &[]).await;
    let c = t.code_client().await;
    let page_resp = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ])
        .await;
    assert_eq!(
        page_resp
            .headers()
            .get("referrer-policy")
            .map(|v| v.to_str().unwrap()),
        Some("strict-origin"),
        "the login page must let the browser send its origin"
    );
    let page = page_resp.text().await.unwrap();
    let tx = form_tx(&page);
    let body = |tx: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("tx", tx)
            .append_pair("username", "csrf")
            .append_pair("password", PASSWORD)
            .append_pair("decision", "allow")
            .finish()
            .into_bytes()
    };
    let url = t.url("callback", "callback");
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("referer", "https://evil.example/attack.html")],
    ] {
        let r = post_raw(&url, None, body(&tx), &headers).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(r.headers().get("location").is_none());
    }
    // The genuine page's origin (cross-origin to the callback on function URLs).
    let authorize_origin = {
        let u = url::Url::parse(&t.url("authorize", "authorize")).unwrap();
        u.origin().ascii_serialization()
    };
    let r = post_raw(&url, None, body(&tx), &[("origin", &authorize_origin)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).contains("code="));
}

// ---- 6. refresh reuse detection ---------------------------------------------------

async fn rotated_pair(t: &TestTenant, c: &TestClient, user: &str) -> (String, String) {
    t.user(user, &[]).await;
    let (s, v) = t.password_grant(c, user, Some("api read")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rt1 = v["refresh_token"].as_str().unwrap().to_owned();
    let (s, v) = t
        .token(
            Some(c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "api"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (rt1, v["refresh_token"].as_str().unwrap().to_owned())
}

async fn password_client(t: &TestTenant) -> TestClient {
    t.client(&["--grant", "password", "--scope", "api", "--scope", "read"])
        .await
}

#[tokio::test]
async fn retry_inside_the_window_with_another_scope_is_reuse_and_revokes_the_family() {
    let t = TestTenant::new().await;
    let c = password_client(&t).await;
    let (rt1, rt2) = rotated_pair(&t, &c, "rs1").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(err_code(&v), "invalid_grant");
    let (s, _) = t.refresh(&c, &rt2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the family is revoked");
}

#[tokio::test]
async fn exact_retry_inside_the_window_gets_the_same_successor() {
    let t = TestTenant::new().await;
    let c = password_client(&t).await;
    let (rt1, rt2) = rotated_pair(&t, &c, "rs2").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "api"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["refresh_token"], rt2.as_str());
}

#[tokio::test]
async fn reuse_by_another_client_revokes_the_family() {
    let t = TestTenant::new().await;
    let c = password_client(&t).await;
    let other = password_client(&t).await;
    let (rt1, rt2) = rotated_pair(&t, &c, "rs3").await;
    let (s, _) = t
        .token(
            Some(&other),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "api"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.refresh(&c, &rt2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the family is revoked");
}

#[tokio::test]
async fn reuse_with_an_invalid_scope_revokes_the_family() {
    let t = TestTenant::new().await;
    let c = password_client(&t).await;
    let (rt1, rt2) = rotated_pair(&t, &c, "rs4").await;
    let (s, _) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "admin"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.refresh(&c, &rt2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the family is revoked");
}

// ---- 7. token shapes ----------------------------------------------------------------

#[tokio::test]
async fn access_token_audience_is_never_the_client_id() {
    let t = TestTenant::new().await;
    t.user("aud", &["--email", "a@example.com", "--name", "A"])
        .await;
    let c = t.code_client().await;
    let code = t.code(&c, &[("scope", "openid")], "aud").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, at) = t.verify(v["access_token"].as_str().unwrap(), None).await;
    assert_ne!(at["aud"], c.id.as_str());
    assert_eq!(at["aud"], t.issuer(), "the tenant's default audience");
    // The id_token releases profile and email claims only for those scopes.
    let (_, id) = t.verify(v["id_token"].as_str().unwrap(), Some(&c.id)).await;
    assert!(id.get("email").is_none(), "{id}");
    assert!(id.get("name").is_none(), "{id}");
    let code = t
        .code(&c, &[("scope", "openid profile email")], "aud")
        .await;
    let (_, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    let (_, id) = t.verify(v["id_token"].as_str().unwrap(), Some(&c.id)).await;
    assert_eq!(id["email"], "a@example.com");
    assert_eq!(id["name"], "A");
}

// ---- 8. loopback ports and the password policy --------------------------------------

#[tokio::test]
async fn loopback_redirect_with_port_zero_or_out_of_range_is_rejected() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ])
        .await;
    for port in ["0", "00000", "99999", "65536"] {
        let r = t
            .authorize(&[
                ("response_type", "code"),
                ("client_id", &c.id),
                ("redirect_uri", &format!("http://127.0.0.1:{port}/cb")),
            ])
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "port {port}");
        assert!(r.headers().get("location").is_none());
    }
    let r = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", "http://127.0.0.1:65535/cb"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn new_password_of_spaces_controls_or_a_common_password_is_refused() {
    let t = TestTenant::new().await;
    let user_id = t.user("policy", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    for bad in ["        ", "abc\u{1}defgh", "password123", "qwertyuiop"] {
        let (s, v) = t
            .post_form(
                &change_password_url(&t),
                Some(&c),
                &[
                    ("userid", &user_id),
                    ("password", PASSWORD),
                    ("newpassword", bad),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
        assert_eq!(v["success"], false);
    }
}
