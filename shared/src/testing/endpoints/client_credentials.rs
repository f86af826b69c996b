//! grant_type=client_credentials: confidential clients registered for it, no
//! refresh token, `sub` is the client, scope within the client's.

use super::*;

fn cc_client(w: &World) -> App {
    w.client(&[Grant::ClientCredentials], |c| {
        c.scopes = vec!["api".into(), "read".into()];
        c.redirect_uris.clear();
    })
}

#[tokio::test]
async fn client_credentials_yield_an_access_token_for_the_client_and_no_refresh_token() {
    let w = World::new();
    let app = cc_client(&w);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let b = r.json();
    assert_eq!(b["scope"], "api read");
    assert_eq!(b["expires_in"], 600);
    assert!(b.get("refresh_token").is_none());
    let claims = w.verify_jwt(b["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], app.id.as_str());
    assert_eq!(claims["client_id"], app.id.as_str());
    assert_eq!(claims["aud"], AUDIENCE);
    assert!(claims.get("email").is_none());
}

#[tokio::test]
async fn client_credentials_with_secret_in_the_body_work() {
    let w = World::new();
    let app = cc_client(&w);
    let r = w
        .token_raw(
            &[],
            &[
                ("grant_type", "client_credentials"),
                ("client_id", app.id.as_str()),
                ("client_secret", app.secret.as_deref().unwrap()),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["scope"], "read");
}

#[tokio::test]
async fn client_credentials_for_a_public_client_are_unauthorized_client() {
    let w = World::new();
    let app = w.client(&[Grant::Password], |c| c.public = true);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "unauthorized_client");
}

#[tokio::test]
async fn client_credentials_for_an_unregistered_client_are_unauthorized_client() {
    let w = World::new();
    let app = w.code_client();
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "unauthorized_client");
}

#[tokio::test]
async fn client_credentials_beyond_the_clients_scopes_are_invalid_scope() {
    let w = World::new();
    let app = cc_client(&w);
    let r = w
        .token(
            &app,
            &[("grant_type", "client_credentials"), ("scope", "api admin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "invalid_scope");
}

#[tokio::test]
async fn unknown_client_and_wrong_secret_get_the_same_invalid_client() {
    let w = World::new();
    let app = cc_client(&w);
    let wrong = App {
        secret: Some("nope".into()),
        ..app.clone()
    };
    let unknown = App {
        id: ClientId::parse("zzzzzzzzzzzzzzzzzzzz").unwrap(),
        ..app
    };
    let a = w
        .token(&wrong, &[("grant_type", "client_credentials")])
        .await;
    let b = w
        .token(&unknown, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!((a.status, a.body), (b.status, b.body));
}

#[tokio::test]
async fn both_basic_and_body_secret_is_invalid_request() {
    let w = World::new();
    let app = cc_client(&w);
    let secret = app.secret.clone().unwrap();
    let r = w
        .token(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn disabled_client_is_invalid_client() {
    let w = World::new();
    let app = cc_client(&w);
    let mut c = crate::ports::Directory::client(w.fakes.store.as_ref(), &w.tenant, &app.id)
        .await
        .unwrap()
        .unwrap();
    c.enabled = false;
    w.fakes.store.put_client_raw(&c);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn unknown_tenant_is_404() {
    let w = World::new();
    let app = cc_client(&w);
    let req = form_request(
        "/oauth2/nobody/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app.id.as_str()),
            ("client_secret", app.secret.as_deref().unwrap()),
        ],
        &[],
    );
    let r = Resp::from(handlers::token::handle(&w.state, req, Endpoint::Token).await);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn secrets_outage_is_503_temporarily_unavailable_with_retry_after() {
    let w = World::new();
    let app = cc_client(&w);
    w.fakes.secrets.set_outage(true);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error(), "temporarily_unavailable");
    assert!(r.header("retry-after").is_some());
    w.fakes.secrets.set_outage(false);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an outage is not cached: {}",
        r.body
    );
}

/// A made-up `client_id` of the right shape, with a secret.
fn made_up_client() -> App {
    App {
        id: ClientId::parse(&random_alphanumeric(ClientId::LEN)).unwrap(),
        secret: Some(random_alphanumeric(64)),
    }
}

#[tokio::test]
async fn unknown_client_ids_never_make_a_secrets_manager_call() {
    let w = World::new();
    let app = cc_client(&w);
    // Warm: the tenant, the client, its secret and the signer are cached.
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fetches = w.fakes.secrets.fetch_count();
    for _ in 0..50 {
        let unknown = made_up_client();
        let basic = w
            .token(&unknown, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED, "{}", basic.body);
        let unknown = made_up_client();
        let post = w
            .token_raw(
                &[],
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", unknown.id.as_str()),
                    ("client_secret", unknown.secret.as_deref().unwrap()),
                ],
            )
            .await;
        assert_eq!(post.error(), "invalid_client", "{}", post.body);
    }
    assert_eq!(
        w.fakes.secrets.fetch_count(),
        fetches,
        "no secret is read for a client that does not exist"
    );
}

#[tokio::test]
async fn unknown_client_ids_never_evict_a_real_client_from_the_cache() {
    let w = World::new();
    let app = cc_client(&w);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for _ in 0..5_000 {
        let r = w
            .token(&made_up_client(), &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    w.fakes.store.clear_calls();
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        !w.fakes.store.calls().contains(&"directory.client"),
        "the real client is still cached: {:?}",
        w.fakes.store.calls()
    );
}

#[tokio::test]
async fn unknown_tenant_aliases_never_evict_a_real_tenant_from_the_cache() {
    let w = World::new();
    let app = cc_client(&w);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for i in 0..2_000 {
        let req = form_request(
            &format!("/oauth2/made-up-{i}/token"),
            &[("grant_type", "client_credentials")],
            &[],
        );
        let r = Resp::from(handlers::token::handle(&w.state, req, Endpoint::Token).await);
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    w.fakes.store.clear_calls();
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        !w.fakes.store.calls().contains(&"directory.tenant"),
        "the real tenant is still cached: {:?}",
        w.fakes.store.calls()
    );
}
