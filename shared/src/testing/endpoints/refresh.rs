//! grant_type=refresh_token: rotation, the 10 s exact-retry window, reuse
//! detection revoking the family, scope that only shrinks, password changes,
//! expiry, and the refresh endpoint.

use super::*;
use crate::ports::UserStore;

fn assert_revoked(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_grant", "{}", r.body);
}

fn refresh_of(r: &Resp) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refresh_rotates_the_token_and_the_successor_works() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let rt1 = w.refresh_token(&app, &alice, "api").await;
    w.advance(30);
    let r = w.refresh(&app, &rt1, None).await;
    let rt2 = refresh_of(&r);
    assert_ne!(rt1, rt2);
    let b = r.json();
    assert_eq!(b["scope"], "api");
    let claims = w.verify_jwt(b["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["iat"], T0 + 30);
    let family = w
        .fakes
        .store
        .family_raw(&w.tenant, rt1.split_once('.').unwrap().0)
        .unwrap();
    let chain = family.refresh.unwrap();
    assert_eq!(chain.generation, 1);
    assert_eq!(chain.current_hash, token_hash(&rt2));
    assert_eq!(chain.last_rotation.unwrap().at, T0 + 30);
    w.advance(30);
    refresh_of(&w.refresh(&app, &rt2, None).await);
}

#[tokio::test]
async fn exact_retry_within_10_seconds_gets_the_same_successor() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    w.advance(10);
    let again = refresh_of(&w.refresh(&app, &rt1, None).await);
    assert_eq!(again, rt2, "a lost response must not log the user out");
    refresh_of(&w.refresh(&app, &rt2, None).await);
}

#[tokio::test]
async fn retry_at_11_seconds_is_reuse_and_revokes_the_family() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    w.advance(11);
    assert_revoked(&w.refresh(&app, &rt1, None).await);
    assert_revoked(&w.refresh(&app, &rt2, None).await);
}

#[tokio::test]
async fn retry_with_another_scope_inside_the_window_is_reuse() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api openid").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    w.advance(1);
    assert_revoked(&w.refresh(&app, &rt1, Some("api")).await);
    assert_revoked(&w.refresh(&app, &rt2, None).await);
}

#[tokio::test]
async fn retry_by_another_client_inside_the_window_is_reuse() {
    let w = World::new();
    let app = w.code_client();
    let other = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    w.advance(1);
    assert_revoked(&w.refresh(&other, &rt1, None).await);
    assert_revoked(&w.refresh(&app, &rt2, None).await);
}

#[tokio::test]
async fn retry_after_the_successor_was_used_is_reuse() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    w.advance(1);
    let rt3 = refresh_of(&w.refresh(&app, &rt2, None).await);
    w.advance(1);
    assert_revoked(&w.refresh(&app, &rt1, None).await);
    assert_revoked(&w.refresh(&app, &rt3, None).await);
}

#[tokio::test]
async fn active_token_of_another_client_is_refused_without_revoking() {
    let w = World::new();
    let app = w.code_client();
    let other = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    assert_revoked(&w.refresh(&other, &rt1, None).await);
    refresh_of(&w.refresh(&app, &rt1, None).await);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_all_get_the_same_successor() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let go = || w.refresh(&app, &rt1, None);
    let (a, b, c, d) = tokio::join!(go(), go(), go(), go());
    let tokens: Vec<String> = [a, b, c, d].iter().map(refresh_of).collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
}

#[tokio::test]
async fn scope_only_shrinks_and_the_refresh_token_keeps_the_grant() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api openid").await;
    let r = w.refresh(&app, &rt1, Some("api admin")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "invalid_scope");
    let r = w.refresh(&app, &rt1, Some("api")).await;
    let rt2 = refresh_of(&r);
    assert_eq!(r.json()["scope"], "api");
    let claims = w.verify_jwt(r.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "api");
    w.advance(20);
    let r = w.refresh(&app, &rt2, None).await;
    refresh_of(&r);
    assert_eq!(r.json()["scope"], "api openid");
}

#[tokio::test]
async fn password_change_kills_the_family() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let rt1 = w.refresh_token(&app, &alice, "api").await;
    assert!(
        w.fakes
            .store
            .change_password(&w.tenant, &alice, 0, &password_hash())
            .await
            .unwrap()
    );
    assert_revoked(&w.refresh(&app, &rt1, None).await);
}

#[tokio::test]
async fn expired_refresh_token_is_invalid_grant() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let old = w.refresh_token(&app, &alice, "api").await;
    w.advance(1);
    let young = w.refresh_token(&app, &alice, "api").await;
    w.advance(DEFAULT_REFRESH_TOKEN_TTL - 1);
    assert_revoked(&w.refresh(&app, &old, None).await);
    refresh_of(&w.refresh(&app, &young, None).await);
}

#[tokio::test]
async fn refresh_endpoint_accepts_only_the_refresh_token_grant() {
    let w = World::new();
    let app = w.client(
        &[Grant::AuthorizationCode, Grant::ClientCredentials],
        |_| {},
    );
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let r = w
        .token_at(
            Endpoint::Refresh,
            &app,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "unsupported_grant_type");
    let r = w
        .token_at(
            Endpoint::Refresh,
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    refresh_of(&r);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn client_not_registered_for_refresh_is_unauthorized_client() {
    let w = World::new();
    let app = w.code_client();
    let cc = w.client(&[Grant::ClientCredentials], |_| {});
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let r = w.refresh(&cc, &rt1, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "unauthorized_client");
    refresh_of(&w.refresh(&app, &rt1, None).await);
}

#[tokio::test]
async fn disabled_user_cannot_refresh() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let rt1 = w.refresh_token(&app, &alice, "api").await;
    let mut u = w.stored_user(&alice);
    u.enabled = false;
    w.fakes.store.put_user_raw(&u);
    assert_revoked(&w.refresh(&app, &rt1, None).await);
}

#[tokio::test]
async fn an_older_token_of_the_family_is_reuse_and_revokes_it() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    let rt3 = refresh_of(&w.refresh(&app, &rt2, None).await);
    // Inside the retry window, but two generations back: never a retry.
    w.advance(1);
    assert_revoked(&w.refresh(&app, &rt1, None).await);
    assert_revoked(&w.refresh(&app, &rt3, None).await);
    assert_eq!(
        w.introspect(&app, &rt3).await.json(),
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn a_forged_token_naming_a_real_family_revokes_nothing() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let family_id = rt1.split_once('.').unwrap().0;
    // Anyone who saw an access token knows its family (`sid`): a token made
    // up for it, with another key or with bits flipped, is no token at all.
    let stranger =
        crate::domain::refresh_rotation::first_token(b"attacker's key", family_id, &[9u8; 32]);
    let mut flipped = rt1.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for forged in [stranger, flipped, format!("{family_id}.AAAA")] {
        assert_revoked(&w.refresh(&app, &forged, None).await);
        assert_eq!(w.revoke(&app, &forged).await.status, StatusCode::OK);
    }
    refresh_of(&w.refresh(&app, &rt1, None).await);
}

#[tokio::test]
async fn a_password_change_racing_the_rotation_leaves_no_live_token() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    let rt1 = w.refresh_token(&app, &alice, "api").await;
    // The password changes after the refresh read the user and before its
    // rotation commits.
    let (tenant, user) = (w.tenant.clone(), alice.clone());
    w.fakes.store.before("refresh.rotate", move |store| {
        let mut u = store.user_raw(&tenant, &user).unwrap();
        u.pwd_version += 1;
        store.put_user_raw(&u);
    });
    assert_revoked(&w.refresh(&app, &rt1, None).await);
    let family = w
        .fakes
        .store
        .family_raw(&w.tenant, rt1.split_once('.').unwrap().0)
        .unwrap();
    assert!(
        family.revoked,
        "the family that rotated during the change died"
    );
    assert_revoked(&w.refresh(&app, &rt1, None).await);
}

#[tokio::test]
async fn a_refresh_is_one_read_of_the_family_one_of_the_user_one_write_and_a_reread() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    w.fakes.store.clear_calls();
    refresh_of(&w.refresh(&app, &rt1, None).await);
    let storage: Vec<_> = w
        .fakes
        .store
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("refresh.") || c.starts_with("users."))
        .collect();
    assert_eq!(
        storage,
        [
            "refresh.family",
            "users.by_id",
            "refresh.rotate",
            "users.by_id"
        ]
    );
}

#[tokio::test]
async fn a_rotation_keeps_the_family_alive_as_long_as_its_new_access_token() {
    // Refresh tokens shorter-lived than access tokens (both are tenant settings).
    let w = World::new_with(|t| {
        t.refresh_token_ttl = 300;
        t.access_token_ttl = 3600;
    });
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    w.advance(200);
    let r = w.refresh(&app, &rt1, None).await;
    refresh_of(&r);
    let family = w
        .fakes
        .store
        .family_raw(&w.tenant, rt1.split_once('.').unwrap().0)
        .unwrap();
    assert!(family.expires_at >= T0 + 200 + 3600, "{family:?}");
    assert_eq!(family.refresh.unwrap().expires_at, T0 + 200 + 300);
    let at = r.json()["access_token"].as_str().unwrap().to_owned();
    w.advance(3000);
    assert_eq!(w.introspect(&app, &at).await.json()["active"], true);
}

#[tokio::test]
async fn an_old_token_of_a_revoked_family_is_refused_and_a_revoked_token_stays_so() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    assert_eq!(w.revoke(&app, &rt2).await.status, StatusCode::OK);
    w.advance(1);
    // An exact retry of a revoked family's token is refused too.
    assert_revoked(&w.refresh(&app, &rt1, None).await);
    assert_revoked(&w.refresh(&app, &rt2, None).await);
    w.fakes.store.clear_calls();
    assert_eq!(w.revoke(&app, &rt1).await.status, StatusCode::OK);
    assert!(
        !w.fakes.store.calls().contains(&"refresh.revoke_family"),
        "revoking a revoked family changes nothing"
    );
}

#[tokio::test]
async fn every_successor_carries_a_fresh_salt() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api").await;
    let family_id = rt1.split_once('.').unwrap().0.to_owned();
    let salt_of = |w: &World| {
        w.fakes
            .store
            .family_raw(&w.tenant, &family_id)
            .unwrap()
            .refresh
            .unwrap()
            .salt
    };
    assert_eq!(salt_of(&w), "");
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    let s1 = salt_of(&w);
    refresh_of(&w.refresh(&app, &rt2, None).await);
    let s2 = salt_of(&w);
    assert_eq!(crate::crypto::b64url_decode(&s1).unwrap().len(), 32);
    assert_ne!(s1, s2);
    let debug = format!(
        "{:?}",
        w.fakes.store.family_raw(&w.tenant, &family_id).unwrap()
    );
    assert!(!debug.contains(&s2), "the salt stays out of Debug");
}

// ---- the exact retry's scope is compared as a set ----------------------------

#[tokio::test]
async fn an_exact_retry_compares_the_requested_scope_as_a_set() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api openid").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, Some("api openid")).await);
    w.advance(1);
    // The same scope in another order, or with a scope repeated, is the same request.
    for same in ["openid api", "openid  api openid"] {
        let again = refresh_of(&w.refresh(&app, &rt1, Some(same)).await);
        assert_eq!(again, rt2, "{same:?} is the same requested scope");
    }
    refresh_of(&w.refresh(&app, &rt2, None).await);
}

/// The SPEC's exact retry compares the *requested* scope: a request without
/// `scope` asks for none, which is not the same request as one naming the
/// whole grant, even though both yield the same access token (see
/// `domain::refresh_rotation::is_exact_retry`).
#[tokio::test]
async fn retry_naming_the_whole_grant_after_none_was_requested_is_reuse() {
    let w = World::new();
    let app = w.code_client();
    let rt1 = w.refresh_token(&app, &w.alice(), "api openid").await;
    let rt2 = refresh_of(&w.refresh(&app, &rt1, None).await);
    w.advance(1);
    assert_revoked(&w.refresh(&app, &rt1, Some("openid api")).await);
    assert_revoked(&w.refresh(&app, &rt2, None).await);
}

// ---- a refresh with `openid` returns a fresh id_token ------------------------

/// The claims of the `id_token` of a token response.
fn id_token_of(w: &World, r: &Resp) -> Value {
    let id = r.json()["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token: {}", r.body))
        .to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&id).unwrap().typ.as_deref(),
        Some("JWT")
    );
    w.verify_jwt(&id)
}

#[tokio::test]
async fn a_refresh_with_openid_returns_an_id_token_of_the_original_authentication() {
    let w = World::new();
    let app = w.code_client();
    let alice = w.alice();
    // Signed in at T0; the code is redeemed 20 s later.
    let code = w
        .plant_code(&app, &alice, "api openid profile", Some(CHALLENGE))
        .await;
    w.advance(20);
    let first = w
        .token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    let rt1 = refresh_of(&first);
    let original = id_token_of(&w, &first);
    w.advance(100);
    let r = w.refresh(&app, &rt1, None).await;
    let rt2 = refresh_of(&r);
    let id = id_token_of(&w, &r);
    // OIDC Core §12.2: the same iss, sub, aud and azp; a new iat; auth_time
    // the original authentication's; no nonce (a refresh is no
    // authentication request).
    for same in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(id[same], original[same], "{same}");
    }
    assert_eq!(id["auth_time"], T0);
    assert_eq!(id["iat"], T0 + 120);
    assert_eq!(id["exp"], T0 + 120 + 600);
    assert_eq!(original["nonce"], "n-0S6");
    assert!(id.get("nonce").is_none(), "{id}");
    // Profile claims follow the granted scopes, as at userinfo.
    assert_eq!(id["name"], "Alice Example");
    assert_eq!(id["preferred_username"], "alice");
    assert!(id.get("email").is_none(), "no email scope: {id}");
    // The refreshed access token also names the original authentication.
    let at = w.verify_jwt(r.json()["access_token"].as_str().unwrap());
    assert_eq!(at["auth_time"], T0);

    // An exact retry gets the same successor and an id_token just like it.
    w.advance(5);
    let retry = w.refresh(&app, &rt1, None).await;
    assert_eq!(refresh_of(&retry), rt2);
    let again = id_token_of(&w, &retry);
    for same in ["iss", "sub", "aud", "azp", "auth_time", "name"] {
        assert_eq!(again[same], id[same], "{same}");
    }
    assert!(again.get("nonce").is_none());

    // A refresh narrowed to `openid` alone releases no profile claims; one
    // without `openid` gets no id_token.
    let r = w.refresh(&app, &rt2, Some("openid api")).await;
    let rt3 = refresh_of(&r);
    let id = id_token_of(&w, &r);
    assert!(id.get("name").is_none(), "{id}");
    assert!(id.get("preferred_username").is_none(), "{id}");
    let r = w.refresh(&app, &rt3, Some("api")).await;
    refresh_of(&r);
    assert!(r.json().get("id_token").is_none(), "{}", r.body);
}

#[tokio::test]
async fn a_refresh_of_a_password_grant_names_the_password_check_as_auth_time() {
    let w = World::new();
    let app = w.password_client();
    w.alice();
    let r = w
        .token(
            &app,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
                ("scope", "api openid email"),
            ],
        )
        .await;
    let rt1 = refresh_of(&r);
    assert_eq!(id_token_of(&w, &r)["auth_time"], T0);
    w.advance(300);
    let r = w.refresh(&app, &rt1, None).await;
    refresh_of(&r);
    let id = id_token_of(&w, &r);
    assert_eq!(id["auth_time"], T0);
    assert_eq!(id["iat"], T0 + 300);
    assert_eq!(id["email"], "alice@acme.example");
    assert!(id.get("name").is_none(), "no profile scope: {id}");
}
