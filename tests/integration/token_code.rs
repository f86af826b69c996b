//! The authorization code exchange, driven by a real OAuth client (the `oauth2`
//! crate) for the happy path, and every rejection by name.

use crate::helpers::*;
use futures::future::join_all;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use tollgate::clock::Now;
use tollgate::crypto::{random_token, token_hash};
use tollgate::domain::records::AuthCode;
use tollgate::ports::CodeStore;

#[tokio::test]
async fn oauth2_crate_completes_the_flow_and_tokens_verify_against_jwks() {
    let t = TestTenant::with(&["--audience", "https://api.example"]).await;
    let user_id = t
        .user(
            "jane",
            &[
                "--email",
                "jane@example.com",
                "--name",
                "Jane Doe",
                "--attr",
                "tier=gold",
            ],
        )
        .await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "api",
        ])
        .await;

    let client = BasicClient::new(oauth2::ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret().to_owned()))
        .set_auth_uri(AuthUrl::new(t.url("authorize", "authorize")).unwrap())
        .set_token_uri(TokenUrl::new(t.token_url()).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api".into()))
        .add_scope(Scope::new("openid".into()))
        .add_extra_param("nonce", "n-0S6_WzA2Mj")
        .set_pkce_challenge(challenge)
        .url();

    let page = stack().http.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let r = t
        .submit(&page.text().await.unwrap(), "jane", PASSWORD, "allow")
        .await;
    let p = query_of(&location(&r));
    assert_eq!(param(&p, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = param(&p, "code").unwrap();

    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 600);
    let refresh = tokens.refresh_token().expect("a refresh token");
    assert!(refresh.secret().len() >= 43, "at least 256 bits");

    let (header, claims) = t
        .verify(tokens.access_token().secret(), Some("https://api.example"))
        .await;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(claims["iss"], t.issuer());
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(claims["scope"], "api openid");
    assert_eq!(claims["name"], "Jane Doe");
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["tier"], "gold");
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );

    let refreshed = client
        .exchange_refresh_token(refresh)
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh.secret(),
        "rotated"
    );
}

/// SPEC Bad input: `state` and `nonce` up to 4 KiB are accepted — through the
/// real functions: authorize's query, the login transaction in the form, the
/// callback's 303 (its `Location` holds the whole state), the code record in
/// DynamoDB and the id_token.
#[tokio::test]
async fn a_4_kib_state_and_nonce_round_trip_the_whole_browser_flow() {
    let t = TestTenant::new().await;
    t.user("kim", &[]).await;
    let c = t.code_client().await;
    let printable: String = (0x20u8..0x7f).map(char::from).collect();
    let mut state = format!("é{}", printable.repeat(50));
    state.truncate(4096);
    let nonce = "\u{1}\"\\é".repeat(819) + "\u{1}";
    assert_eq!((state.len(), nonce.len()), (4096, 4096));
    let redirect = t
        .login(
            &c,
            &[
                ("scope", "openid api"),
                ("state", &state),
                ("nonce", &nonce),
            ],
            "kim",
        )
        .await;
    assert_eq!(param(&redirect, "state").as_deref(), Some(state.as_str()));
    let code = param(&redirect, "code").unwrap();
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
    let (_, claims) = t.verify(v["id_token"].as_str().unwrap(), Some(&c.id)).await;
    assert_eq!(claims["nonce"], nonce.as_str());
    // One byte more of either is refused (the error page, no redirect).
    for (k, v) in [("state", &state), ("nonce", &nonce)] {
        let longer = format!("{v}x");
        let page = t
            .authorize(&[
                ("response_type", "code"),
                ("client_id", c.id.as_str()),
                ("redirect_uri", REDIRECT),
                (k, &longer),
            ])
            .await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{k}");
    }
}

#[tokio::test]
async fn id_token_is_issued_for_openid_with_nonce() {
    let t = TestTenant::new().await;
    let user_id = t.user("kim", &["--email", "kim@example.com"]).await;
    let c = t.code_client().await;
    let code = t
        .code(&c, &[("scope", "openid api"), ("nonce", "abc123")], "kim")
        .await;
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
    assert_eq!(v["token_type"], "Bearer");
    let (h, claims) = t.verify(v["id_token"].as_str().unwrap(), Some(&c.id)).await;
    assert_eq!(h.typ.as_deref(), Some("JWT"));
    assert_eq!(claims["nonce"], "abc123");
    assert_eq!(claims["sub"], user_id);
    assert_eq!(claims["aud"], c.id);
    // No openid, no id_token.
    let code = t.code(&c, &[("scope", "api")], "kim").await;
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
    assert!(v.get("id_token").is_none());
}

#[tokio::test]
async fn code_reuse_revokes_tokens() {
    let t = TestTenant::new().await;
    t.user("leo", &[]).await;
    let c = t.code_client().await;
    let code = t.code(&c, &[], "leo").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (s, first) = t.token(Some(&c), &form).await;
    assert_eq!(s, StatusCode::OK);
    let (s, second) = t.token(Some(&c), &form).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err_code(&second), "invalid_grant");
    let (s, v) = t
        .refresh(&c, first["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "the first redemption's refresh token is revoked"
    );
    assert_eq!(err_code(&v), "invalid_grant");
}

#[tokio::test]
async fn twenty_concurrent_redemptions_have_one_winner() {
    let t = TestTenant::new().await;
    t.user("max", &[]).await;
    let c = t.code_client().await;
    let code = t.code(&c, &[], "max").await;
    let results = join_all((0..20).map(|_| {
        let t = &t;
        let c = &c;
        let code = code.clone();
        async move {
            t.token(
                Some(c),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
            )
            .await
        }
    }))
    .await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "exactly one success: {results:?}");
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .all(|(s, v)| *s == StatusCode::BAD_REQUEST && err_code(v) == "invalid_grant")
    );
}

#[tokio::test]
async fn redirect_uri_mismatch_is_invalid_grant() {
    let t = TestTenant::new().await;
    t.user("ned", &[]).await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--redirect-uri",
            "https://client.example/other",
        ])
        .await;
    let code = t.code(&c, &[], "ned").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://client.example/other"),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let code = t.code(&c, &[], "ned").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "redirect_uri required when it was sent"
    );
}

#[tokio::test]
async fn omitted_redirect_uri_at_both_ends_is_accepted() {
    let t = TestTenant::new().await;
    t.user("ola", &[]).await;
    let c = t.code_client().await;
    let page = t
        .authorize(&[("response_type", "code"), ("client_id", &c.id)])
        .await;
    let r = t
        .submit(&page.text().await.unwrap(), "ola", PASSWORD, "allow")
        .await;
    let code = param(&query_of(&location(&r)), "code").unwrap();
    let (s, v) = t
        .token(
            Some(&c),
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn wrong_pkce_verifier_is_invalid_grant() {
    let t = TestTenant::new().await;
    t.user("pam", &[]).await;
    let c = t.code_client().await;
    let (_, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = t
        .code(
            &c,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "pam",
        )
        .await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &other_verifier),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn missing_pkce_verifier_is_invalid_grant() {
    let t = TestTenant::new().await;
    t.user("quinn", &[]).await;
    let c = t.code_client().await;
    let (_, challenge) = pkce();
    let code = t
        .code(
            &c,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "quinn",
        )
        .await;
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
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn verifier_without_challenge_is_rejected() {
    let t = TestTenant::new().await;
    t.user("ray", &[]).await;
    let c = t.code_client().await;
    let (verifier, _) = pkce();
    let code = t.code(&c, &[], "ray").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn public_client_with_pkce_exchanges_with_client_id_only() {
    let t = TestTenant::new().await;
    t.user("sam", &[]).await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--public",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "api",
        ])
        .await;
    let (verifier, challenge) = pkce();
    let code = t
        .code(
            &c,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
            "sam",
        )
        .await;
    let (s, v) = t
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &c.id),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn code_issued_to_another_client_is_invalid_grant() {
    let t = TestTenant::new().await;
    t.user("tom", &[]).await;
    let a = t.code_client().await;
    let b = t.code_client().await;
    let code = t.code(&a, &[], "tom").await;
    let (s, v) = t
        .token(
            Some(&b),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let t = TestTenant::new().await;
    let user_id = t.user("uma", &[]).await;
    let c = t.code_client().await;
    let code = random_token(32);
    let now = Now::system();
    CodeStore::put(
        &db().await,
        &AuthCode {
            tenant: t.tenant_id(),
            code_hash: token_hash(&code),
            client_id: tollgate::ClientId::parse(&c.id).unwrap(),
            redirect_uri: REDIRECT.into(),
            redirect_uri_in_request: true,
            scope: "api".into(),
            code_challenge: None,
            nonce: None,
            user_id: tollgate::UserId::parse(&user_id).unwrap(),
            auth_time: now.secs() - 120,
            expires_at: now.secs() - 60,
            family_id: None,
        },
    )
    .await
    .unwrap();
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
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_401_with_www_authenticate() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let bad = TestClient {
        id: c.id.clone(),
        secret: Some("x".repeat(64)),
    };
    let r = stack()
        .http
        .post(t.token_url())
        .basic_auth(&bad.id, bad.secret.as_deref())
        .form(&[("grant_type", "authorization_code"), ("code", "abc")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let wrong: serde_json::Value = r.json().await.unwrap();
    let unknown = TestClient {
        id: "abcdefghij0123456789".into(),
        secret: Some("x".repeat(64)),
    };
    let (s, v) = t
        .token(
            Some(&unknown),
            &[("grant_type", "authorization_code"), ("code", "abc")],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v, wrong, "unknown client and wrong secret look alike");
    // client_secret_post with a wrong secret: 401, no Basic challenge needed.
    let (s, v) = t
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", "abc"),
                ("client_id", &c.id),
                ("client_secret", "nope"),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}

#[tokio::test]
async fn client_secret_post_works() {
    let t = TestTenant::new().await;
    t.user("val", &[]).await;
    let c = t.code_client().await;
    let code = t.code(&c, &[], "val").await;
    let (s, v) = t
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &c.id),
                ("client_secret", c.secret()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn basic_and_post_together_are_rejected() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", "abc"),
                ("client_secret", c.secret()),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn client_secret_in_query_is_rejected() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let url = format!(
        "{}?client_id={}&client_secret={}",
        t.token_url(),
        c.id,
        c.secret()
    );
    let (s, v) = t
        .post_form(&url, None, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_errors_not_5xx() {
    let t = TestTenant::new().await;
    let c = t.code_client().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "invalid_request"),
        (
            vec![("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "authorization_code")],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "a"),
                ("code", "b"),
            ],
            "invalid_request",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "nope")],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("code_verifier", "short"),
            ],
            "invalid_request",
        ),
    ];
    for (form, want) in cases {
        let (s, v) = t.token(Some(&c), &form).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{form:?}: {v}");
        assert_eq!(err_code(&v), want, "{form:?}");
        assert!(v["error_description"].is_string());
    }
    // Not a form body.
    let r = stack()
        .http
        .post(t.token_url())
        .basic_auth(&c.id, c.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Garbage Authorization header.
    let r = stack()
        .http
        .post(t.token_url())
        .header("authorization", "Basic !!!")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Wrong method.
    let r = stack().http.get(t.token_url()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn client_without_authorization_code_grant_is_unauthorized_client() {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "client_credentials", "--scope", "api"])
        .await;
    let (s, v) = t
        .token(
            Some(&c),
            &[("grant_type", "authorization_code"), ("code", "abc")],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}
