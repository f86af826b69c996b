//! grant_type=authorization_code: PKCE, binding to client and redirect_uri,
//! single use with replay revocation, the 60 s lifetime.

use super::*;
use crate::ports::RefreshStore;

async fn exchange(w: &World, app: &App, code: &str, extra: &[(&str, &str)]) -> Resp {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code)];
    form.extend_from_slice(extra);
    w.token(app, &form).await
}

const GOOD: [(&str, &str); 2] = [("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];

fn assert_invalid_grant(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_grant", "{}", r.body);
}

#[tokio::test]
async fn code_with_pkce_yields_signed_access_token_and_refresh_token() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let code = w.plant_code(&app, &alice, "api", Some(CHALLENGE)).await;
    let r = exchange(&w, &app, &code, &GOOD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let b = r.json();
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 600);
    assert_eq!(b["scope"], "api");
    assert!(b["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    assert!(b.get("id_token").is_none(), "no id_token without openid");
    let claims = w.verify_jwt(b["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["client_id"], app.id.as_str());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["scope"], "api");
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["exp"], T0 + 600);
    assert_eq!(claims["email"], "alice@acme.example");
    assert_eq!(claims["tier"], "gold");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let header = jsonwebtoken::decode_header(b["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
}

#[tokio::test]
async fn openid_code_yields_id_token_with_nonce_and_scoped_claims() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let b = w.code_tokens(&app, &alice, "api openid email").await;
    let id = w.verify_jwt(b["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], app.id.as_str());
    assert_eq!(id["sub"], alice.as_str());
    assert_eq!(id["nonce"], "n-0S6");
    assert_eq!(id["email"], "alice@acme.example");
    assert!(
        id.get("name").is_none(),
        "profile claims need the profile scope"
    );
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant_and_burns_the_code() {
    let w = World::new();
    let app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    let wrong = "x".repeat(43);
    let r = exchange(
        &w,
        &app,
        &code,
        &[("redirect_uri", REDIRECT), ("code_verifier", &wrong)],
    )
    .await;
    assert_invalid_grant(&r);
    assert_invalid_grant(&exchange(&w, &app, &code, &GOOD).await);
}

#[tokio::test]
async fn missing_verifier_for_a_pkce_code_is_invalid_grant() {
    let w = World::new();
    let app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    assert_invalid_grant(&exchange(&w, &app, &code, &[("redirect_uri", REDIRECT)]).await);
}

#[tokio::test]
async fn verifier_for_a_code_without_challenge_is_invalid_grant() {
    let w = World::new();
    let app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", None).await;
    assert_invalid_grant(&exchange(&w, &app, &code, &GOOD).await);
}

#[tokio::test]
async fn replayed_code_is_refused_and_revokes_the_refresh_family_it_issued() {
    let w = World::new();
    let app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    let first = exchange(&w, &app, &code, &GOOD).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let rt = first.json()["refresh_token"].as_str().unwrap().to_owned();
    w.advance(5);
    assert_invalid_grant(&exchange(&w, &app, &code, &GOOD).await);
    let family_id = rt.split_once('.').unwrap().0;
    let family = w
        .fakes
        .store
        .family(&w.tenant, family_id, crate::Now(w.now()))
        .await
        .unwrap()
        .unwrap();
    assert!(family.revoked, "the replay revoked the family");
    assert_invalid_grant(&w.refresh(&app, &rt, None).await);
}

#[tokio::test]
async fn redirect_uri_other_than_the_authorization_requests_is_invalid_grant() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.redirect_uris.push("https://client.example/other".into());
    });
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    let r = exchange(
        &w,
        &app,
        &code,
        &[
            ("redirect_uri", "https://client.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_invalid_grant(&r);
    assert_invalid_grant(&exchange(&w, &app, &code, &GOOD).await);
}

#[tokio::test]
async fn redirect_uri_omitted_when_the_request_carried_it_is_invalid_grant() {
    let w = World::new();
    let app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    let r = exchange(&w, &app, &code, &[("code_verifier", VERIFIER)]).await;
    assert_invalid_grant(&r);
}

#[tokio::test]
async fn code_expires_at_exactly_60_seconds() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let live = w.plant_code(&app, &alice, "api", Some(CHALLENGE)).await;
    let dead = w.plant_code(&app, &alice, "api", Some(CHALLENGE)).await;
    w.advance(59);
    let r = exchange(&w, &app, &live, &GOOD).await;
    assert_eq!(r.status, StatusCode::OK, "at 59 s: {}", r.body);
    w.advance(1);
    assert_invalid_grant(&exchange(&w, &app, &dead, &GOOD).await);
}

#[tokio::test]
async fn code_presented_by_another_client_is_refused_and_burnt() {
    let w = World::new();
    let owner = w.code_client();
    let thief = w.code_client();
    let code = w
        .plant_code(&owner, &w.alice(), "api", Some(CHALLENGE))
        .await;
    assert_invalid_grant(&exchange(&w, &thief, &code, &GOOD).await);
    assert_invalid_grant(&exchange(&w, &owner, &code, &GOOD).await);
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let w = World::new();
    let app = w.code_client();
    assert_invalid_grant(&exchange(&w, &app, "no-such-code", &GOOD).await);
}

#[tokio::test]
async fn client_not_registered_for_the_code_grant_is_unauthorized_client() {
    let w = World::new();
    let app = w.password_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    let r = exchange(&w, &app, &code, &GOOD).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "unauthorized_client");
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_401_with_basic_challenge() {
    let w = World::new();
    let mut app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    app.secret = Some("wrong".into());
    let r = exchange(&w, &app, &code, &GOOD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid_client");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic"))
    );
}

#[tokio::test]
async fn storage_outage_at_redemption_is_503_and_leaves_the_code_redeemable() {
    let w = World::new();
    let app = w.code_client();
    let code = w.plant_code(&app, &w.alice(), "api", Some(CHALLENGE)).await;
    w.fakes.store.fail("codes.redeem");
    let r = exchange(&w, &app, &code, &GOOD).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error(), "temporarily_unavailable");
    assert!(r.header("retry-after").is_some());
    w.fakes.store.heal();
    let r = exchange(&w, &app, &code, &GOOD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn disabled_user_code_is_invalid_grant() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let code = w.plant_code(&app, &alice, "api", Some(CHALLENGE)).await;
    let mut u = w.stored_user(&alice);
    u.enabled = false;
    w.fakes.store.put_user_raw(&u);
    assert_invalid_grant(&exchange(&w, &app, &code, &GOOD).await);
}
