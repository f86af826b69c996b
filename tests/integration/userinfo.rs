//! OIDC Core §5.3 UserInfo (SPEC: UserInfo): the token in the Bearer header
//! or a form body (never the query), RFC 6750 errors, and claims by scope.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate::crypto::random_token;

fn challenge(a: &Answer) -> String {
    a.header("www-authenticate")
        .unwrap_or_else(|| panic!("no WWW-Authenticate: {a:?}"))
        .to_owned()
}

fn assert_invalid_token(a: &Answer, what: &str) {
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {a:?}");
    let c = challenge(a);
    assert!(
        c.starts_with("Bearer") && c.contains("error=\"invalid_token\""),
        "{what}: {c}"
    );
    assert_eq!(err_code(&a.json()), "invalid_token", "{what}");
}

async fn token_with(w: &World, scope: &str) -> String {
    let (s, v) = w.t.password_grant(&w.app, USER, Some(scope)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn claims(w: &World, token: &str) -> Value {
    let a = w.t.userinfo(token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{a:?}"
    );
    a.json()
}

#[tokio::test]
async fn bearer_header_gets_sub_and_the_claims_its_scopes_grant() {
    let w = World::new(&[]).await;
    let at = token_with(&w, FULL_SCOPE).await;
    assert_eq!(
        claims(&w, &at).await,
        json!({
            "sub": w.user_id,
            "name": "Alice Liddell",
            "preferred_username": USER,
            "tier": "gold",
            "email": "alice@example.com",
        })
    );
}

#[tokio::test]
async fn claims_follow_the_scopes() {
    let w = World::new(&[]).await;
    let cases = [
        ("api openid", json!({"sub": w.user_id})),
        (
            "api openid profile",
            json!({"sub": w.user_id, "name": "Alice Liddell", "preferred_username": USER, "tier": "gold"}),
        ),
        (
            "api openid email",
            json!({"sub": w.user_id, "email": "alice@example.com"}),
        ),
    ];
    for (scope, expected) in cases {
        let at = token_with(&w, scope).await;
        assert_eq!(claims(&w, &at).await, expected, "scope {scope}");
    }
    // A refreshed token whose scope shrank releases less.
    let (s, v) = w.t.password_grant(&w.app, USER, Some(FULL_SCOPE)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) =
        w.t.token(
            Some(&w.app),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", v["refresh_token"].as_str().unwrap()),
                ("scope", "api openid"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        claims(&w, v["access_token"].as_str().unwrap()).await,
        json!({"sub": w.user_id})
    );
}

#[tokio::test]
async fn post_with_a_bearer_header_or_a_form_body_token() {
    let w = World::new(&[]).await;
    let at = token_with(&w, "api openid email").await;
    let expected = json!({"sub": w.user_id, "email": "alice@example.com"});
    let url = w.t.userinfo_url();
    let a = send(stack().http.post(&url).bearer_auth(&at)).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, expected.clone()),
        "POST, header"
    );
    let a = send(stack().http.post(&url).form(&[("access_token", &at)])).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, expected.clone()),
        "POST, form body"
    );
    let a = send(
        stack()
            .http
            .get(&url)
            .header("authorization", format!("bearer {at}")),
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, expected),
        "scheme without regard to case"
    );
}

#[tokio::test]
async fn token_in_the_query_string_is_rejected() {
    let w = World::new(&[]).await;
    let at = token_with(&w, FULL_SCOPE).await;
    let url = w.t.userinfo_url();
    let q = [("access_token", at.as_str())];
    for (what, req) in [
        ("GET", stack().http.get(&url).query(&q)),
        (
            "POST",
            stack().http.post(&url).query(&q).form(&[("x", "y")]),
        ),
        (
            "GET with the header too",
            stack().http.get(&url).query(&q).bearer_auth(&at),
        ),
    ] {
        let a = send(req).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {a:?}");
        assert_eq!(err_code(&a.json()), "invalid_request", "{what}");
    }
}

#[tokio::test]
async fn token_in_both_header_and_body_is_invalid_request() {
    let w = World::new(&[]).await;
    let at = token_with(&w, FULL_SCOPE).await;
    let a = send(
        stack()
            .http
            .post(w.t.userinfo_url())
            .bearer_auth(&at)
            .form(&[("access_token", &at)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{a:?}");
    assert_eq!(err_code(&a.json()), "invalid_request");
}

#[tokio::test]
async fn missing_token_is_401_with_a_bearer_challenge() {
    let w = World::new(&[]).await;
    let url = w.t.userinfo_url();
    for (what, req) in [
        ("GET without Authorization", stack().http.get(&url)),
        (
            "POST with an empty form",
            stack().http.post(&url).form(&[("x", "y")]),
        ),
    ] {
        let a = send(req).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {a:?}");
        assert!(challenge(&a).starts_with("Bearer"), "{what}: {a:?}");
    }
}

#[tokio::test]
async fn invalid_tokens_are_401_invalid_token() {
    let w = World::new(&["--access-token-ttl", "60"]).await;
    let other = World::new(&[]).await;
    let (s, v) = w.t.password_grant(&w.app, USER, Some(FULL_SCOPE)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at = v["access_token"].as_str().unwrap().to_owned();
    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    let id_token = v["id_token"].as_str().unwrap().to_owned();
    let (foreign, _) = other.session(&other.app, FULL_SCOPE).await;
    let now = now_secs();
    let expired =
        w.t.resign(&at, |c| {
            c.insert("iat".into(), json!(now - 90));
            c.insert("exp".into(), json!(now - 30));
            c.insert("jti".into(), json!(random_token(16)));
        })
        .await;
    let mut flipped = at.clone().into_bytes();
    let i = flipped.len() - 10;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let (revoked, _) = w.session(&w.app, FULL_SCOPE).await;
    assert_eq!(w.t.revoke(&w.app, &revoked).await.status, StatusCode::OK);
    for (what, token) in [
        ("garbage", "not-a-token".to_owned()),
        ("a.b.c", "a.b.c".to_owned()),
        ("wrong signature", String::from_utf8(flipped).unwrap()),
        ("another tenant's token", foreign),
        ("expired", expired),
        ("revoked", revoked),
        ("a refresh token", rt),
        ("an id_token", id_token),
    ] {
        assert_invalid_token(&w.t.userinfo(&token).await, what);
    }
    assert_eq!(w.t.userinfo(&at).await.status, StatusCode::OK, "control");
}

#[tokio::test]
async fn token_without_openid_is_403_insufficient_scope() {
    let w = World::new(&[]).await;
    let at = token_with(&w, "api profile email").await;
    let a = w.t.userinfo(&at).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{a:?}");
    let c = challenge(&a);
    assert!(
        c.starts_with("Bearer") && c.contains("error=\"insufficient_scope\""),
        "{c}"
    );
    assert_eq!(err_code(&a.json()), "insufficient_scope");
}

#[tokio::test]
async fn tokens_of_a_changed_password_are_401_invalid_token() {
    let w = World::new(&[]).await;
    let at = token_with(&w, FULL_SCOPE).await;
    assert_eq!(w.t.userinfo(&at).await.status, StatusCode::OK, "control");
    let (s, v) =
        w.t.post_form(
            &w.t.url("change-password", "token/changepassword"),
            None,
            &[
                ("client_id", &w.app.id),
                ("client_secret", w.app.secret()),
                ("userid", &w.user_id),
                ("password", PASSWORD),
                ("newpassword", "a different passphrase"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_invalid_token(&w.t.userinfo(&at).await, "after a password change");
}
