//! The token endpoint's input rules: a form body, bounded, UTF-8, each
//! parameter once, never a credential in the query string.

use super::*;

fn cc(w: &World) -> (App, String) {
    let app = w.client(&[Grant::ClientCredentials], |_| {});
    let secret = app.secret.clone().unwrap();
    (app, secret)
}

async fn post(w: &World, uri: &str, content_type: &str, body: Body) -> Resp {
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", content_type)
        .body(body)
        .unwrap();
    Resp::from(handlers::token::handle(&w.state, req, Endpoint::Token).await)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn client_secret_in_the_query_string_is_invalid_request() {
    let w = World::new();
    let (app, secret) = cc(&w);
    let uri = format!("/oauth2/acme/token?client_secret={secret}");
    let body = format!("grant_type=client_credentials&client_id={}", app.id);
    let r = post(&w, &uri, FORM, Body::Text(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let w = World::new();
    let (app, secret) = cc(&w);
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={secret}&pad={}",
        app.id,
        "a".repeat(64 * 1024)
    );
    let r = post(&w, "/oauth2/acme/token", FORM, Body::Text(body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
}

#[tokio::test]
async fn non_utf8_body_is_a_client_error() {
    let w = World::new();
    let mut body = b"grant_type=client_credentials&scope=".to_vec();
    body.push(0xff);
    let r = post(&w, "/oauth2/acme/token", FORM, Body::Binary(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let w = World::new();
    let (app, _) = cc(&w);
    let r = w
        .token(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "api"),
                ("scope", "api"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn json_body_is_invalid_request() {
    let w = World::new();
    let r = post(
        &w,
        "/oauth2/acme/token",
        "application/json",
        Body::Text("{\"grant_type\":\"client_credentials\"}".into()),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported_grant_type_with_a_clean_description() {
    let w = World::new();
    let (app, _) = cc(&w);
    let r = w.token(&app, &[("grant_type", "magic\"\\\u{e9}")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "unsupported_grant_type");
    let d = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(
        d.bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
        "{d}"
    );
}

#[tokio::test]
async fn get_on_the_token_endpoint_is_405() {
    let w = World::new();
    let req = lambda_http::http::Request::builder()
        .method("GET")
        .uri("/oauth2/acme/token")
        .body(Body::Empty)
        .unwrap();
    let r = Resp::from(handlers::token::handle(&w.state, req, Endpoint::Token).await);
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// SPEC Bad input: a `code`, `refresh_token` or `subject_token` too long to be
/// valid is `invalid_grant` (what a client library acts on: start again),
/// judged after the client authenticated; every other field's limit still
/// makes `invalid_request`, and a body over 64 KiB is still 413.
#[tokio::test]
async fn a_grant_token_too_long_to_be_valid_is_invalid_grant() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode, Grant::TokenExchange], |_| {});
    let long = "A".repeat(20_000);
    for form in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", long.as_str()),
            ("redirect_uri", REDIRECT),
        ],
        vec![("grant_type", "refresh_token"), ("refresh_token", &long)],
        vec![
            ("grant_type", crate::domain::token_exchange::GRANT_TYPE),
            ("subject_token", &long),
            (
                "subject_token_type",
                crate::domain::token_exchange::ACCESS_TOKEN_TYPE,
            ),
        ],
    ] {
        let r = w.token(&app, &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form:?}: {}", r.body);
        assert_eq!(r.error(), "invalid_grant", "{:?}: {}", form[0], r.body);
        // Client authentication still comes first.
        let wrong = App {
            secret: Some("wrong".into()),
            ..app.clone()
        };
        assert_eq!(w.token(&wrong, &form).await.error(), "invalid_client");
    }
    // Just over the longest valid code or refresh token is already too long.
    let r = w.refresh(&app, &"r".repeat(257), None).await;
    assert_eq!(r.error(), "invalid_grant", "{}", r.body);
    // Other fields keep their limits.
    let r = w
        .token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("code_verifier", &"v".repeat(257)),
            ],
        )
        .await;
    assert_eq!(r.error(), "invalid_request", "{}", r.body);
    let r = w
        .token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "r"),
                ("scope", &"s".repeat(crate::domain::scope::MAX_LEN + 1)),
            ],
        )
        .await;
    assert_eq!(r.error(), "invalid_request", "{}", r.body);
    // And the body's own limit holds whatever the field.
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        "r".repeat(64 * 1024)
    );
    let r = post(&w, "/oauth2/acme/token", FORM, Body::Text(body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
}
