//! The signed-in user's upstream connections on the userinfo function
//! (SPEC: Upstream providers — Health): `GET …/connections` lists the user's
//! own connections' health, never a token; `DELETE …/connections/{provider}`
//! removes one and revokes its refresh token at the provider where it can.

use super::*;
use crate::domain::connections::{ConnectionKey, Field, Owner};
use crate::domain::providers::engine::TokenAnswer;
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::ids::ProviderName;
use crate::ports::{ConnectionStore, ProviderStore};
use crate::testing::fakes::Fault;
use crate::tokens::vault::VaultKeys;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

const REVOKE_URL: &str = "https://crm.example/oauth/revoke";
const UPSTREAM_SECRET: &str = "upstream-client-secret";

/// The vault key set, as `tenant create` makes it.
fn with_vault(w: &World) {
    let keys = VaultKeys::generate().to_json().unwrap();
    w.fakes.secrets.put(
        w.state.config.vault_key_secret(&w.tenant),
        keys.expose_secret(),
    );
}

/// A provider as `provider add --client-secret-stdin` stores it.
async fn provider(w: &World, name: &str, preset: Preset, revocation: Option<&str>) {
    let p = Provider {
        tenant: w.tenant.clone(),
        name: name.into(),
        preset,
        vars: Default::default(),
        endpoints: Endpoints {
            authorize: Some(format!("https://{name}.example/authorize")),
            token: format!("https://{name}.example/token"),
            revocation: revocation.map(str::to_owned),
            ..Endpoints::default()
        },
        client_id: format!("{name}-client"),
        has_client_secret: true,
        scopes: vec![],
        grant: UpstreamGrant::AuthorizationCode,
        display_name: name.into(),
        sign_in: false,
        create_users: false,
        created_at: T0,
    };
    w.fakes.store.create_provider(&p).await.unwrap();
    w.fakes.secrets.put(
        w.state.config.upstream_secret_name(&w.tenant, name),
        UPSTREAM_SECRET,
    );
}

fn key(w: &World, owner: Owner, provider: &str) -> ConnectionKey {
    ConnectionKey {
        tenant: w.tenant.clone(),
        owner,
        provider: ProviderName::parse(provider).unwrap(),
    }
}

/// A connection as the callback stores it after redeeming a code at the
/// fake provider; its refresh token.
async fn connect(w: &World, owner: Owner, provider: &str, account: Option<&str>) -> String {
    let rt = w.fakes.upstream.grant();
    let vault = w.state.vault(&w.tenant).await.unwrap();
    let answer = TokenAnswer {
        access_token: SecretString::from(format!("at-of-{rt}")),
        refresh_token: Some(SecretString::from(rt.clone())),
        expires_in: 600,
        scope: Some("read".into()),
        id_token: None,
    };
    let new = crate::tokens::upstream::new_connection(
        &vault,
        key(w, owner, provider),
        Preset::OAuth2.quirks(),
        &answer,
        account.map(str::to_owned),
        crate::clock::Now(w.now()),
    )
    .unwrap();
    w.fakes
        .store
        .connect(&new, crate::clock::Now(w.now()))
        .await
        .unwrap();
    rt
}

/// A user's access token with `scope`.
async fn access_token(w: &World, app: &App, user: &UserId, scope: &str) -> String {
    w.code_tokens(app, user, scope).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(w: &World, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Body::Empty).unwrap();
    Resp::from(handlers::userinfo_function(&w.state, req).await)
}

async fn list(w: &World, token: &str) -> Resp {
    let bearer = format!("Bearer {token}");
    call(
        w,
        "GET",
        "/oauth2/acme/connections",
        &[("authorization", &bearer)],
    )
    .await
}

async fn delete(w: &World, token: &str, provider: &str) -> Resp {
    let bearer = format!("Bearer {token}");
    call(
        w,
        "DELETE",
        &format!("/oauth2/acme/connections/{provider}"),
        &[("authorization", &bearer)],
    )
    .await
}

async fn stored(w: &World, owner: Owner, provider: &str) -> bool {
    ConnectionStore::get(w.fakes.store.as_ref(), &key(w, owner, provider))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn the_list_shows_only_the_users_own_connections_and_never_a_token() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    let bob = w.user("bob", |_| {});
    provider(&w, "crm", Preset::OAuth2, Some(REVOKE_URL)).await;
    provider(&w, "keap", Preset::OAuth2, None).await;
    let rt = connect(&w, Owner::User(alice.clone()), "crm", Some("acme-co")).await;
    connect(&w, Owner::User(alice.clone()), "keap", None).await;
    connect(&w, Owner::User(bob.clone()), "crm", Some("bobs-co")).await;
    connect(&w, Owner::Service, "crm", Some("service-co")).await;

    let at = access_token(&w, &app, &alice, "openid").await;
    let r = list(&w, &at).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(
        r.json(),
        json!({"items": [
            {"provider": "crm", "status": "active", "account": "acme-co",
             "connected_at": T0, "last_refresh_at": null, "failures": 0},
            {"provider": "keap", "status": "active",
             "connected_at": T0, "last_refresh_at": null, "failures": 0},
        ]})
    );
    assert!(
        !r.body.contains(&rt) && !r.body.contains("v1."),
        "{}",
        r.body
    );

    // Bob sees his one, never Alice's nor the tenant's service connection.
    let at = access_token(&w, &app, &bob, "openid profile").await;
    let items = list(&w, &at).await.json()["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["account"], "bobs-co");

    // A user without connections gets an empty list.
    let carol = w.user("carol", |_| {});
    let at = access_token(&w, &app, &carol, "openid").await;
    assert_eq!(list(&w, &at).await.json(), json!({"items": []}));
}

#[tokio::test]
async fn the_list_shows_a_degraded_connections_health() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    provider(&w, "crm", Preset::OAuth2, None).await;
    connect(&w, Owner::User(alice.clone()), "crm", None).await;
    let k = key(&w, Owner::User(alice.clone()), "crm");
    let generation = ConnectionStore::get(w.fakes.store.as_ref(), &k)
        .await
        .unwrap()
        .unwrap()
        .generation;
    let failure = crate::domain::connections::Failure::Transient {
        class: "unavailable".into(),
        retry_at: w.now() + 30,
        outcome_unknown: false,
    };
    let now = crate::clock::Now(w.now());
    assert!(
        w.fakes
            .store
            .record_failure(&k, generation, &failure, now)
            .await
            .unwrap()
    );
    let at = access_token(&w, &app, &alice, "openid").await;
    let item = list(&w, &at).await.json()["items"][0].clone();
    assert_eq!(item["status"], "degraded");
    assert_eq!(item["failures"], 1);
    assert!(item.get("reason").is_none(), "{item}");
}

#[tokio::test]
async fn connections_without_a_token_is_401_with_a_bearer_challenge() {
    let w = World::new();
    for (method, path) in [
        ("GET", "/oauth2/acme/connections"),
        ("DELETE", "/oauth2/acme/connections/crm"),
    ] {
        let r = call(&w, method, path, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"tollgate\"")
        );
    }
}

#[tokio::test]
async fn a_bad_token_is_invalid_token_and_one_without_openid_insufficient_scope() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    provider(&w, "crm", Preset::OAuth2, None).await;
    connect(&w, Owner::User(alice.clone()), "crm", None).await;

    let r = list(&w, "not-a-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid_token");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let at = access_token(&w, &app, &alice, "api").await;
    for r in [list(&w, &at).await, delete(&w, &at, "crm").await] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.error(), "insufficient_scope");
    }
    assert!(stored(&w, Owner::User(alice.clone()), "crm").await);

    // A client's own token names no user.
    let m2m = w.client(&[Grant::ClientCredentials], |c| {
        c.scopes = vec!["openid".into()]
    });
    let t = w
        .token(&m2m, &[("grant_type", "client_credentials")])
        .await
        .json();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(list(&w, at).await.status, StatusCode::UNAUTHORIZED);

    // Sent in the query: refused, never looked at.
    let at = access_token(&w, &app, &alice, "openid").await;
    let r = call(
        &w,
        "GET",
        &format!("/oauth2/acme/connections?access_token={at}"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn another_tenants_token_is_refused() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    // A second tenant publishing the very same keys: only the issuer differs.
    let mut beta = w.fakes.store.tenant_raw(&w.tenant).unwrap();
    beta.id = TenantId::parse("beta").unwrap();
    w.fakes.store.create_tenant(&beta).unwrap();
    let at = access_token(&w, &app, &alice, "openid").await;
    let bearer = format!("Bearer {at}");
    for (method, path) in [
        ("GET", "/oauth2/beta/connections"),
        ("DELETE", "/oauth2/beta/connections/crm"),
    ] {
        let r = call(&w, method, path, &[("authorization", &bearer)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(r.error(), "invalid_token");
    }
}

#[tokio::test]
async fn disconnect_removes_and_revokes_at_the_provider_with_its_client_auth() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    provider(&w, "crm", Preset::OAuth2, Some(REVOKE_URL)).await;
    let rt = connect(&w, Owner::User(alice.clone()), "crm", None).await;
    let at = access_token(&w, &app, &alice, "openid").await;

    let r = delete(&w, &at, "crm").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(r.body.is_empty());
    assert!(!stored(&w, Owner::User(alice.clone()), "crm").await);
    let sent = w.fakes.upstream.posts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let revocation = &sent[0];
    assert_eq!(revocation.url, REVOKE_URL);
    let form: BTreeMap<_, _> = revocation.form.iter().cloned().collect();
    assert_eq!(form.get("token"), Some(&rt));
    assert_eq!(
        form.get("token_type_hint").map(String::as_str),
        Some("refresh_token")
    );
    // The oauth2 preset authenticates in the body.
    assert_eq!(
        form.get("client_id").map(String::as_str),
        Some("crm-client")
    );
    assert_eq!(
        form.get("client_secret").map(String::as_str),
        Some(UPSTREAM_SECRET)
    );
    assert!(!revocation.basic && revocation.basic_auth.is_none());
    assert!(w.fakes.upstream.is_dead(), "the provider still honours it");

    // Gone: a second delete is 404 and calls nobody.
    let r = delete(&w, &at, "crm").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "not_linked");
    assert_eq!(w.fakes.upstream.posts().len(), 1);
    assert_eq!(list(&w, &at).await.json(), json!({"items": []}));
}

#[tokio::test]
async fn a_basic_auth_provider_is_revoked_with_basic_credentials() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    provider(&w, "idp", Preset::Oidc, Some(REVOKE_URL)).await;
    let rt = connect(&w, Owner::User(alice.clone()), "idp", None).await;
    let at = access_token(&w, &app, &alice, "openid").await;
    assert_eq!(delete(&w, &at, "idp").await.status, StatusCode::NO_CONTENT);
    let sent = w.fakes.upstream.posts();
    assert_eq!(
        sent[0].basic_auth,
        Some(("idp-client".to_owned(), UPSTREAM_SECRET.to_owned()))
    );
    assert!(sent[0].form.iter().all(|(k, _)| k != "client_secret"));
    assert!(sent[0].form.contains(&("token".to_owned(), rt)));
}

#[tokio::test]
async fn disconnect_without_a_revocation_endpoint_still_removes() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    provider(&w, "keap", Preset::OAuth2, None).await;
    connect(&w, Owner::User(alice.clone()), "keap", None).await;
    let at = access_token(&w, &app, &alice, "openid").await;
    assert_eq!(delete(&w, &at, "keap").await.status, StatusCode::NO_CONTENT);
    assert!(!stored(&w, Owner::User(alice.clone()), "keap").await);
    assert!(w.fakes.upstream.posts().is_empty());
}

#[tokio::test]
async fn a_revocation_that_fails_or_cannot_be_made_does_not_fail_the_delete() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    provider(&w, "crm", Preset::OAuth2, Some(REVOKE_URL)).await;
    let at = access_token(&w, &app, &alice, "openid").await;

    // The provider is down, then refuses.
    for fault in [
        Fault::NotSent,
        Fault::Answer(503, "<html>down</html>".into(), None),
    ] {
        connect(&w, Owner::User(alice.clone()), "crm", None).await;
        w.fakes.upstream.push_fault(fault);
        assert_eq!(delete(&w, &at, "crm").await.status, StatusCode::NO_CONTENT);
        assert!(!stored(&w, Owner::User(alice.clone()), "crm").await);
    }
    assert_eq!(w.fakes.upstream.posts().len(), 2);

    // A refresh token sealed under other keys does not open: removed, and
    // nothing is sent.
    connect(&w, Owner::User(alice.clone()), "crm", None).await;
    let k = key(&w, Owner::User(alice.clone()), "crm");
    let c = ConnectionStore::get(w.fakes.store.as_ref(), &k)
        .await
        .unwrap()
        .unwrap();
    let other = VaultKeys::generate().vault().unwrap();
    let forged = other
        .seal(
            &k,
            Field::RefreshToken,
            &SecretString::from("rt-forged".to_owned()),
        )
        .unwrap();
    let new = crate::domain::connections::NewConnection {
        key: k.clone(),
        refresh_token: Some(forged),
        access_token: c.access_token.clone(),
        scope: c.scope.clone(),
        account: None,
        refresh_due_at: None,
    };
    w.fakes
        .store
        .connect(&new, crate::clock::Now(w.now()))
        .await
        .unwrap();
    assert_eq!(delete(&w, &at, "crm").await.status, StatusCode::NO_CONTENT);
    assert!(!stored(&w, Owner::User(alice.clone()), "crm").await);
    assert_eq!(w.fakes.upstream.posts().len(), 2, "nothing sent");

    // Storage down: 503, nothing removed, nothing revoked.
    connect(&w, Owner::User(alice.clone()), "crm", None).await;
    w.fakes.store.fail("connections.remove");
    let r = delete(&w, &at, "crm").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    w.fakes.store.heal();
    assert!(stored(&w, Owner::User(alice.clone()), "crm").await);
    assert_eq!(w.fakes.upstream.posts().len(), 2);
}

#[tokio::test]
async fn a_user_can_never_disconnect_another_users_connection() {
    let w = World::new();
    with_vault(&w);
    let app = w.code_client();
    let alice = w.alice();
    let bob = w.user("bob", |_| {});
    provider(&w, "crm", Preset::OAuth2, Some(REVOKE_URL)).await;
    connect(&w, Owner::User(alice.clone()), "crm", None).await;
    connect(&w, Owner::Service, "crm", None).await;
    let at = access_token(&w, &app, &bob, "openid").await;
    let r = delete(&w, &at, "crm").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(stored(&w, Owner::User(alice.clone()), "crm").await);
    assert!(stored(&w, Owner::Service, "crm").await);
    assert!(w.fakes.upstream.posts().is_empty());
    // Not a provider name at all: no such connection either.
    for segment in ["CRM", "a_b", "~", "x%2Fy"] {
        let r = delete(&w, &at, segment).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{segment}: {}", r.body);
    }
}

#[tokio::test]
async fn the_connections_routes_take_only_their_methods_and_answer_cors() {
    let w = World::new();
    with_vault(&w);
    let spa = w.client(&[Grant::AuthorizationCode], |c| {
        c.public = true;
        c.web_origins = vec!["https://spa.example".into()];
    });
    let alice = w.alice();
    let r = call(&w, "POST", "/oauth2/acme/connections", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = call(&w, "DELETE", "/oauth2/acme/connections", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = call(&w, "GET", "/oauth2/acme/connections/crm", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("DELETE"));
    let r = call(&w, "GET", "/oauth2/acme/connections/a/b", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A preflight from a registered origin, then the actual request.
    let r = call(
        &w,
        "OPTIONS",
        "/oauth2/acme/connections/crm",
        &[("origin", "https://spa.example")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-methods"), Some("DELETE"));
    let code = w.plant_code(&spa, &alice, "openid", Some(CHALLENGE)).await;
    let t = w
        .token(
            &spa,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .json();
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    for origin in ["https://spa.example", "https://evil.example"] {
        let r = call(
            &w,
            "GET",
            "/oauth2/acme/connections",
            &[("authorization", &bearer), ("origin", origin)],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let allowed = r.header("access-control-allow-origin");
        assert_eq!(allowed, (origin == "https://spa.example").then_some(origin));
        assert!(r.header("access-control-allow-credentials").is_none());
    }
    // The userinfo route is still there.
    let r = call(
        &w,
        "GET",
        "/oauth2/acme/userinfo",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.json()["sub"], alice.as_str());
}
