//! The authorize endpoint: errors before the redirect URI is trusted are HTML
//! pages (never a redirect); errors after it redirect with state and iss.

use crate::helpers::*;
use reqwest::StatusCode;

async fn html_error(t: &TestTenant, q: &[(&str, &str)]) -> String {
    let r = t.authorize(q).await;
    assert!(
        r.headers().get("location").is_none(),
        "must not redirect: {q:?}"
    );
    assert!(
        r.status().is_client_error(),
        "status {} for {q:?}",
        r.status()
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    r.text().await.unwrap()
}

/// The error redirect's parameters (asserting it goes to `REDIRECT`).
async fn error_redirect(t: &TestTenant, q: &[(&str, &str)]) -> Vec<(String, String)> {
    let r = t.authorize(q).await;
    assert_eq!(r.status(), StatusCode::FOUND, "{q:?}");
    let loc = location(&r);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let p = query_of(&loc);
    assert_eq!(
        param(&p, "iss").as_deref(),
        Some(t.issuer().as_str()),
        "RFC 9207 iss"
    );
    assert!(param(&p, "error_description").is_some());
    p
}

#[tokio::test]
async fn unknown_tenant_shows_an_error_page() {
    let t = TestTenant {
        alias: random_alias(),
    };
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", "abcdefghij0123456789"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_client_shows_an_error_page() {
    let t = TestTenant::new().await;
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", "abcdefghij0123456789"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    html_error(&t, &[("response_type", "code"), ("redirect_uri", REDIRECT)]).await;
}

#[tokio::test]
async fn client_of_another_tenant_is_unknown_here() {
    let a = TestTenant::new().await;
    let b = TestTenant::new().await;
    let c = a.code_client().await;
    html_error(
        &b,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_an_error_page() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    for bad in [
        "https://evil.example/cb",
        "https://client.example/cb/",
        "https://client.example/cb?x=1",
        "https://CLIENT.example/cb",
        "http://client.example/cb",
        "https://client.example/cb#f",
    ] {
        html_error(
            &t,
            &[
                ("response_type", "code"),
                ("client_id", &c.id),
                ("redirect_uri", bad),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn redirect_uri_with_extra_query_is_rejected() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", "https://client.example/cb?next=/admin"),
        ],
    )
    .await;
}

#[tokio::test]
async fn omitted_redirect_uri_needs_exactly_one_registered() {
    let t = TestTenant::new().await;
    let one = t.code_client().await;
    let r = t
        .authorize(&[("response_type", "code"), ("client_id", &one.id)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let two = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--redirect-uri",
            "https://client.example/other",
        ])
        .await;
    html_error(&t, &[("response_type", "code"), ("client_id", &two.id)]).await;
}

#[tokio::test]
async fn loopback_redirect_uri_may_use_any_port() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ])
        .await;
    let r = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", "http://127.0.0.1:53124/cb"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", "http://127.0.0.1:53124/other"),
        ],
    )
    .await;
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", "http://localhost:53124/cb"),
        ],
    )
    .await;
}

#[tokio::test]
async fn duplicate_client_id_or_redirect_uri_shows_an_error_page() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    html_error(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
}

#[tokio::test]
async fn duplicate_parameter_redirects_invalid_request_with_state() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("scope", "api"),
            ("scope", "api"),
            ("state", "st8"),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&p, "state").as_deref(), Some("st8"));
}

#[tokio::test]
async fn missing_response_type_is_invalid_request() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let p = error_redirect(
        &t,
        &[
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn unknown_response_type_is_unsupported_response_type() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "id_token"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(
        param(&p, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(param(&p, "state").as_deref(), Some("s"));
}

#[tokio::test]
async fn token_response_type_for_non_implicit_client_is_unauthorized_client() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let r = t
        .authorize(&[
            ("response_type", "token"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = location(&r);
    assert!(
        loc.contains('#'),
        "implicit errors go in the fragment: {loc}"
    );
    assert_eq!(
        param(&query_of(&loc), "error").as_deref(),
        Some("unauthorized_client")
    );
}

#[tokio::test]
async fn code_for_client_without_authorization_code_grant_is_unauthorized_client() {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "implicit", "--redirect-uri", REDIRECT])
        .await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("unauthorized_client"));
}

#[tokio::test]
async fn unregistered_scope_is_invalid_scope() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("scope", "api admin"),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn pkce_plain_is_rejected() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let (_, ch) = pkce();
    for method in [Some("plain"), None] {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", c.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", ch.as_str()),
        ];
        if let Some(m) = method {
            q.push(("code_challenge_method", m));
        }
        let p = error_redirect(&t, &q).await;
        assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
    }
}

#[tokio::test]
async fn malformed_code_challenge_is_rejected() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn public_client_without_pkce_is_rejected() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--public",
            "--redirect-uri",
            REDIRECT,
        ])
        .await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn require_pkce_client_without_pkce_is_rejected() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--require-pkce",
            "--redirect-uri",
            REDIRECT,
        ])
        .await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn prompt_none_is_login_required() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let p = error_redirect(
        &t,
        &[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(param(&p, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn login_page_is_protected_and_escapes_what_it_echoes() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "api",
            "--name",
            "<script>alert(1)</script>",
        ])
        .await;
    let r = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("scope", "api"),
            ("login_hint", "\"><img src=x onerror=alert(1)>"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    // The page sends its origin (never its path or query) with the form post,
    // so the callback can refuse cross-site posts (SPEC: Callback).
    assert_eq!(h["referrer-policy"], "strict-origin");
    assert_eq!(h["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "client name escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<img"), "login_hint escaped");
    assert!(html.contains("id=\"login\""));
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    assert!(
        html.contains("name=\"decision\" value=\"allow\"")
            && html.contains("name=\"decision\" value=\"deny\"")
    );
    assert!(html.contains("<li>api</li>"), "lists the requested scopes");
    assert!(html.contains(&format!("action=\"{}\"", t.url("callback", "callback"))));
    assert!(
        !html.contains("http://") || !html.contains("<link"),
        "no external assets"
    );
}

#[tokio::test]
async fn implicit_client_gets_a_fragment_token_and_no_refresh_token() {
    let t = TestTenant::new().await;
    t.user("imp", &[]).await;
    let c = t
        .client(&[
            "--grant",
            "implicit",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "api",
        ])
        .await;
    let page = t
        .authorize(&[
            ("response_type", "token"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
        ])
        .await;
    let html = page.text().await.unwrap();
    let r = t.submit(&html, "imp", PASSWORD, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = location(&r);
    let (base, frag) = loc.split_once('#').expect("fragment response");
    assert_eq!(base, REDIRECT);
    let p = query_of(&loc);
    assert!(!frag.is_empty());
    assert_eq!(param(&p, "token_type").as_deref(), Some("Bearer"));
    assert_eq!(param(&p, "state").as_deref(), Some("s1"));
    assert_eq!(param(&p, "iss").as_deref(), Some(t.issuer().as_str()));
    assert!(param(&p, "refresh_token").is_none());
    let (_, claims) = t.verify(&param(&p, "access_token").unwrap(), None).await;
    assert_eq!(claims["client_id"], c.id);
}
