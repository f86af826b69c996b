//! Introspection, sliding expiry, revocation and userinfo over the fakes, with
//! the clock under control (SPEC: Introspection, Revocation, UserInfo).

use super::*;
use serde_json::json;

/// Maximizer's tenant: 600 s access tokens, extended by every use, at most 24 h.
fn maximizer() -> World {
    World::new_with(|t| t.sliding_max = Some(86_400))
}

fn resource_server(w: &World) -> App {
    w.client(&[Grant::ClientCredentials], |c| c.introspect = true)
}

async fn access_token(w: &World, app: &App, user: &UserId, scope: &str) -> (String, String) {
    let v = w.code_tokens(app, user, scope).await;
    (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap_or_default().to_owned(),
    )
}

fn writes(w: &World) -> usize {
    w.fakes
        .store
        .calls()
        .iter()
        .filter(|c| **c == "access_tokens.extend")
        .count()
}

#[tokio::test]
async fn active_access_token_has_the_rfc7662_fields() {
    let w = World::new();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api openid").await;
    let r = w.introspect(&rs, &at).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["active"], true);
    assert_eq!(v["iss"], ISSUER);
    assert_eq!(v["sub"], alice.as_str());
    assert_eq!(v["aud"], AUDIENCE);
    assert_eq!(v["client_id"], app.id.as_str());
    assert_eq!(v["scope"], "api openid");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["iat"], w.now());
    assert_eq!(v["exp"], w.now() + 600);
    assert_eq!(v["username"], "alice");
    assert!(v["jti"].is_string());
}

#[tokio::test]
async fn without_sliding_expiry_the_token_dies_at_its_exp() {
    let w = World::new();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    w.advance(599);
    assert_eq!(w.introspect(&rs, &at).await.json()["exp"], T0 + 600);
    w.advance(1);
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
    assert_eq!(writes(&w), 0, "no sliding, no writes");
}

#[tokio::test]
async fn sliding_expiry_is_exact_at_the_edge() {
    let w = maximizer();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    // No use: dies exactly at iat + 600.
    w.advance(599);
    let v = w.introspect(&rs, &at).await.json();
    assert_eq!(v["active"], true);
    // That use moved the deadline to now + 600.
    assert_eq!(v["exp"], T0 + 599 + 600);
    w.advance(600);
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn each_use_extends_but_never_past_iat_plus_sliding_max() {
    let w = maximizer();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    // Used every 500 s for a day: alive to the cap, not one second more.
    let mut last = json!(null);
    while w.now() + 500 < T0 + 86_400 {
        w.advance(500);
        last = w.introspect(&rs, &at).await.json();
        assert_eq!(last["active"], true, "at {}", w.now() - T0);
        assert!(last["exp"].as_u64().unwrap() <= T0 + 86_400);
    }
    assert_eq!(last["exp"], T0 + 86_400);
    w.advance(T0 + 86_400 - w.now());
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_token_writes_its_deadline_at_most_once_a_minute() {
    let w = maximizer();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    w.fakes.store.clear_calls();
    for _ in 0..30 {
        w.advance(1);
        assert_eq!(w.introspect(&rs, &at).await.json()["active"], true);
    }
    assert_eq!(writes(&w), 1, "30 uses in 30 s: one write");
    w.advance(31);
    w.introspect(&rs, &at).await;
    assert_eq!(writes(&w), 2, "a minute after the first write: the second");
}

#[tokio::test]
async fn concurrent_uses_never_shorten_the_deadline() {
    let w = maximizer();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    w.advance(100);
    let (a, b, c, d, e, f, g, h) = tokio::join!(
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
        w.introspect(&rs, &at),
    );
    for r in [a, b, c, d, e, f, g, h] {
        assert_eq!(r.json()["active"], true);
    }
    let stored = w.introspect(&rs, &at).await.json()["exp"].as_u64().unwrap();
    assert_eq!(stored, T0 + 100 + 600);
    // Racing first uses may each try the conditional write; one succeeds, and
    // the next minute's uses write nothing.
    let attempts = writes(&w);
    assert!((1..=8).contains(&attempts), "{attempts}");
    w.advance(30);
    w.introspect(&rs, &at).await;
    assert_eq!(writes(&w), attempts, "no write within the minute after");
}

#[tokio::test]
async fn other_clients_see_only_their_own_tokens_and_public_clients_none() {
    let w = World::new();
    let app = w.code_client();
    let other = w.code_client();
    let public = w.client(&[Grant::AuthorizationCode], |c| c.public = true);
    let alice = w.alice();
    let (at, rt) = access_token(&w, &app, &alice, "api offline_access").await;
    assert_eq!(w.introspect(&app, &at).await.json()["active"], true);
    assert_eq!(
        w.introspect(&app, &rt).await.json()["token_type"],
        "refresh_token"
    );
    assert_eq!(
        w.introspect(&other, &at).await.json(),
        json!({"active": false})
    );
    assert_eq!(
        w.introspect(&other, &rt).await.json(),
        json!({"active": false})
    );
    let r = w.introspect(&public, &at).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid_client");
}

#[tokio::test]
async fn garbage_foreign_and_tampered_tokens_are_inactive() {
    let w = World::new();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api openid").await;
    let mut tampered = at.clone();
    tampered.pop();
    tampered.push(if at.ends_with('A') { 'B' } else { 'A' });
    for t in ["x", "a.b.c", &tampered, &"e".repeat(5000)] {
        assert_eq!(
            w.introspect(&rs, t).await.json(),
            json!({"active": false}),
            "{t}"
        );
    }
    // An id_token is not an access token.
    let v = w.code_tokens(&app, &alice, "api openid").await;
    let id_token = v["id_token"].as_str().unwrap();
    assert_eq!(
        w.introspect(&rs, id_token).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_its_access_tokens() {
    let w = World::new();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, rt) = access_token(&w, &app, &alice, "api openid").await;
    let r = w.revoke(&app, &rt).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
    assert_eq!(
        w.introspect(&rs, &rt).await.json(),
        json!({"active": false})
    );
    assert_eq!(w.userinfo(&at).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_an_access_token_ends_it_alone() {
    let w = World::new();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, rt) = access_token(&w, &app, &alice, "api").await;
    assert_eq!(w.revoke(&app, &at).await.status, StatusCode::OK);
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
    assert_eq!(w.introspect(&rs, &rt).await.json()["active"], true);
}

#[tokio::test]
async fn another_clients_or_unknown_token_revokes_nothing() {
    let w = World::new();
    let app = w.code_client();
    let other = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, rt) = access_token(&w, &app, &alice, "api").await;
    for t in [at.as_str(), rt.as_str(), "nonsense", "a.b.c"] {
        let r = w.revoke(&other, t).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(w.introspect(&rs, &at).await.json()["active"], true);
    assert_eq!(w.introspect(&rs, &rt).await.json()["active"], true);
    let r = w.post_as("/oauth2/acme/revoke", &app, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn a_password_change_ends_every_token_of_the_user() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode, Grant::Password], |_| {});
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    let r = w
        .change_password(&app, alice.as_str(), PASSWORD, "a brand new passphrase")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_disabled_user_or_client_has_no_active_tokens() {
    let w = World::new();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    let mut u = w.stored_user(&alice);
    u.enabled = false;
    w.fakes.store.put_user_raw(&u);
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn client_credentials_tokens_introspect_with_the_client_as_subject() {
    let w = World::new();
    let app = w.client(&[Grant::ClientCredentials], |_| {});
    let rs = resource_server(&w);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    let at = r.json()["access_token"].as_str().unwrap().to_owned();
    let v = w.introspect(&rs, &at).await.json();
    assert_eq!(v["active"], true);
    assert_eq!(v["sub"], app.id.as_str());
    assert!(v.get("username").is_none());
    // No user: userinfo has nothing to say.
    assert_eq!(w.userinfo(&at).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn userinfo_releases_claims_by_scope() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "openid").await;
    let v = w.userinfo(&at).await.json();
    assert_eq!(v, json!({"sub": alice.as_str()}));
    let (at, _) = access_token(&w, &app, &alice, "openid profile email").await;
    let v = w.userinfo(&at).await.json();
    assert_eq!(v["name"], "Alice Example");
    assert_eq!(v["preferred_username"], "alice");
    assert_eq!(v["email"], "alice@acme.example");
    assert_eq!(v["tier"], "gold");
}

#[tokio::test]
async fn userinfo_without_openid_is_insufficient_scope() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    let r = w.userinfo(&at).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn userinfo_counts_as_a_use_under_sliding_expiry() {
    let w = maximizer();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "openid").await;
    w.advance(500);
    assert_eq!(w.userinfo(&at).await.status, StatusCode::OK);
    w.advance(500);
    // Without that use it would have died at 600 s.
    assert_eq!(w.introspect(&rs, &at).await.json()["active"], true);
}

#[tokio::test]
async fn cors_allows_only_the_clients_registered_origin() {
    let w = World::new();
    let spa = w.client(&[Grant::AuthorizationCode], |c| {
        c.public = true;
        c.web_origins = vec!["https://spa.example".into()];
    });
    let alice = w.alice();
    let code = w.plant_code(&spa, &alice, "openid", Some(CHALLENGE)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", spa.id.as_str()),
    ];
    let r = w
        .token_raw(&[("origin", "https://spa.example")], &form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    assert!(r.header("access-control-allow-credentials").is_none());
    let r = w
        .token_raw(&[("origin", "https://evil.example")], &form)
        .await;
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_userinfo_call_that_fails_is_not_a_use() {
    let w = maximizer();
    let app = w.code_client();
    let rs = resource_server(&w);
    let alice = w.alice();
    let (at, _) = access_token(&w, &app, &alice, "api").await;
    w.advance(500);
    assert_eq!(w.userinfo(&at).await.status, StatusCode::FORBIDDEN);
    w.advance(100);
    // Not extended by the refused call: it died at 600 s.
    assert_eq!(
        w.introspect(&rs, &at).await.json(),
        json!({"active": false})
    );
}
