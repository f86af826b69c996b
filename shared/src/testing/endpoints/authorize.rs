//! GET …/authorize: HTML errors until the client and redirect URI are
//! trusted, error redirects with state and iss after, PKCE for public
//! clients, and the login page with its signed transaction.

use super::*;
use crate::clock::Now;
use crate::domain::login_tx::LoginTx;

fn assert_html_error(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.header("location").is_none(), "never a redirect");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.body.contains("<h1>"));
}

/// An error redirect to the client: 302 with error, state and iss.
fn assert_error_redirect(r: &Resp, error: &str) {
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert!(
        r.location().as_str().starts_with(REDIRECT),
        "{}",
        r.location()
    );
    assert_eq!(r.param("error").as_deref(), Some(error));
    assert!(r.param("error_description").is_some());
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
}

#[tokio::test]
async fn unknown_client_gets_an_html_error_page_not_a_redirect() {
    let w = World::new();
    let r = w
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "zzzzzzzzzzzzzzzzzzzz"),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_html_error(&r, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_html_error_page_not_a_redirect() {
    let w = World::new();
    let app = w.code_client();
    for evil in [
        "https://evil.example/cb",
        "https://client.example/cb/x",
        "http://client.example/cb",
    ] {
        let r = w
            .authorize(&[
                ("response_type", "code"),
                ("client_id", app.id.as_str()),
                ("redirect_uri", evil),
                ("state", "st-1"),
            ])
            .await;
        assert_html_error(&r, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn unknown_tenant_gets_an_html_404() {
    let w = World::new();
    let req = lambda_http::http::Request::builder()
        .uri("/oauth2/nobody/authorize?response_type=code")
        .body(Body::Empty)
        .unwrap();
    let r = Resp::from(handlers::authorize::handle(&w.state, req).await);
    assert_html_error(&r, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unsupported_response_type_redirects_with_state_and_iss() {
    let w = World::new();
    let app = w.code_client();
    let r = w
        .authorize(&[
            ("response_type", "id_token"),
            ("client_id", app.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "st-1"),
        ])
        .await;
    assert_error_redirect(&r, "unsupported_response_type");
}

#[tokio::test]
async fn scope_beyond_the_clients_redirects_invalid_scope() {
    let w = World::new();
    let app = w.code_client();
    let r = w
        .authorize(&[
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("state", "st-1"),
            ("scope", "api admin"),
        ])
        .await;
    assert_error_redirect(&r, "invalid_scope");
}

#[tokio::test]
async fn prompt_none_redirects_login_required() {
    let w = World::new();
    let app = w.code_client();
    let r = w
        .authorize(&[
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("state", "st-1"),
            ("prompt", "none"),
        ])
        .await;
    assert_error_redirect(&r, "login_required");
}

#[tokio::test]
async fn public_client_without_s256_pkce_is_refused_by_redirect() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| c.public = true);
    let base = [
        ("response_type", "code"),
        ("client_id", app.id.as_str()),
        ("state", "st-1"),
    ];
    let r = w.authorize(&base).await;
    assert_error_redirect(&r, "invalid_request");
    let mut plain = base.to_vec();
    plain.extend([
        ("code_challenge", VERIFIER),
        ("code_challenge_method", "plain"),
    ]);
    assert_error_redirect(&w.authorize(&plain).await, "invalid_request");
    let mut s256 = base.to_vec();
    s256.extend([
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let r = w.authorize(&s256).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn login_page_carries_a_signed_transaction_of_the_request() {
    let w = World::new();
    let app = w.code_client();
    let r = w
        .login_page(&app, &[("scope", "api openid"), ("nonce", "n-1")])
        .await;
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("referrer-policy"), Some("strict-origin"));
    assert!(r.header("access-control-allow-origin").is_none());
    for needle in [
        "id=\"login\"",
        "name=\"username\"",
        "name=\"password\"",
        "name=\"decision\" value=\"allow\"",
        "name=\"decision\" value=\"deny\"",
        "action=\"https://fn.example/callback/oauth2/acme/callback\"",
        "Test App",
        "<li>api</li>",
        "<li data-scope=\"openid\">",
    ] {
        assert!(r.body.contains(needle), "page lacks {needle}");
    }
    assert!(!r.body.contains("no-state-warning"));
    let key = w.state.login_key().await.unwrap();
    let tx = LoginTx::open(&r.form_tx(), &key, Now(T0)).unwrap();
    assert_eq!(tx.t, TENANT);
    assert_eq!(tx.c, app.id.as_str());
    assert_eq!(tx.r, REDIRECT);
    assert!(tx.ri);
    assert_eq!(tx.s, "api openid");
    assert_eq!(tx.st.as_deref(), Some("st-1"));
    assert_eq!(tx.cc.as_deref(), Some(CHALLENGE));
    assert_eq!(tx.n.as_deref(), Some("n-1"));
    assert_eq!(tx.rt, "code");
    assert_eq!(tx.exp, T0 + crate::domain::login_tx::LIFETIME);
}

#[tokio::test]
async fn request_without_state_shows_the_csrf_warning_and_still_works() {
    let w = World::new();
    let app = w.code_client();
    let r = w
        .authorize(&[("response_type", "code"), ("client_id", app.id.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("no-state-warning"));
    let r = w.sign_in(&r, "alice", PASSWORD, "deny").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.param("error").as_deref(), Some("access_denied"));
    assert_eq!(r.param("state"), None);
}

#[tokio::test]
async fn omitted_redirect_uri_with_several_registered_gets_an_html_error_page() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.redirect_uris.push("https://client.example/other".into());
    });
    let r = w
        .authorize(&[("response_type", "code"), ("client_id", app.id.as_str())])
        .await;
    assert_html_error(&r, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn loopback_redirect_may_change_only_its_port() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.redirect_uris = vec!["http://127.0.0.1/cb".into()];
    });
    let q = |uri| {
        vec![
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("redirect_uri", uri),
            ("state", "st-1"),
        ]
    };
    let page = w.authorize(&q("http://127.0.0.1:53124/cb")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let r = w.sign_in(&page, "", "", "deny").await;
    assert!(
        r.location()
            .as_str()
            .starts_with("http://127.0.0.1:53124/cb?")
    );
    for other in ["http://127.0.0.1:53124/cb2", "http://localhost:53124/cb"] {
        assert_html_error(&w.authorize(&q(other)).await, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn confidential_client_registered_with_require_pkce_needs_a_challenge() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| c.require_pkce = true);
    let r = w
        .authorize(&[
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("state", "st-1"),
        ])
        .await;
    assert_error_redirect(&r, "invalid_request");
}

/// A login transaction longer than the callback reads (only a client's very
/// long registered scopes can make one) is refused at authorize, with a
/// redirect, before the user types a password.
#[tokio::test]
async fn a_request_too_large_to_carry_through_the_sign_in_redirects_invalid_request() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = (0..20)
            .map(|i| format!("s{i}-{}", "x".repeat(2000)))
            .collect();
    });
    let r = w.authorize(&code_request(&app)).await;
    assert_error_redirect(&r, "invalid_request");
    // Asking for fewer of them fits.
    let mut q = code_request(&app);
    let one = format!("s0-{}", "x".repeat(2000));
    q.push(("scope", &one));
    assert_eq!(w.authorize(&q).await.status, StatusCode::OK);
}
