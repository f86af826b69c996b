//! The token vault with a generic OpenID provider as the upstream: the real
//! node-oidc-provider of `tests/idp` (`server.mjs` with `IDP_REDIRECT_URIS`:
//! the confidential client `tollgate-connector`, Basic auth, PKCE S256
//! required, single-use rotating refresh tokens, opaque access tokens living
//! `IDP_AT_TTL` seconds), added with `provider add --preset oidc --issuer …`
//! (endpoints from its real discovery document). Headless Chromium connects
//! a user's account through Tollgate's login and consent pages and then the
//! provider's own dev login and consent pages; the app's access token is
//! exchanged (RFC 8693, `audience={provider}`) for the provider's access
//! token, which is refreshed at the provider once it goes stale, twice.

use crate::browser::{Driver, Session, Site, WAIT};
use crate::helpers::*;
use crate::token_exchange::Idp;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::{Duration, Instant};
use tollgate::AppState;
use tollgate::domain::connections::{Connection, ConnectionKey, Field, Owner, Status};
use tollgate::domain::upstream_refresh::freshness_margin;
use tollgate::ids::{ProviderName, UserId};

const PROVIDER: &str = "partner";
/// The client Tollgate is registered as at the provider (`server.mjs`).
const CONNECTOR: &str = "tollgate-connector";
const IDP_SECRET: &str = "idp-secret-idp-secret-idp-secret-idp-secret-0000";
/// The provider's access-token lifetime: the freshness margin (30 s for
/// it) leaves 10 s in which the token is served as it is.
const AT_TTL: u64 = 40;
/// Who signs in at the provider (its dev login takes any name and password).
const IDP_LOGIN: &str = "pat.partner";
const FLOW: Duration = Duration::from_secs(120);
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Waits (bounded) until the browser is at a URL starting with `prefix`.
async fn wait_url(b: &Session, prefix: &str) -> String {
    let until = Instant::now() + WAIT;
    loop {
        let at = b.current_url().await;
        if at.starts_with(prefix) {
            return at;
        }
        assert!(
            Instant::now() < until,
            "not at {prefix} within {WAIT:?}; the browser is at {at}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now() -> u64 {
    tollgate::Now::system().secs()
}

/// The refresh_token grants the provider answered and refused.
async fn idp_refreshes(idp: &Idp) -> (u64, u64) {
    let stats = idp.get("/test/stats").await;
    (
        stats["refreshes"]["answered"].as_u64().unwrap(),
        stats["refreshes"]["refused"].as_u64().unwrap(),
    )
}

/// The provider's userinfo for `access_token`: its `sub` (`None` when the
/// provider does not take the token).
async fn idp_subject(userinfo: &str, access_token: &str) -> Option<String> {
    let r = stack()
        .http
        .get(userinfo)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::OK {
        return None;
    }
    let v: Value = r.json().await.unwrap();
    v["sub"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_node_oidc_provider_account_is_connected_in_the_browser_and_refreshed_twice() {
    let site = Site::start().await;
    site.set_page("<!DOCTYPE html><title>App</title><p>Back in the app.</p>".into());
    let redirect_uri = format!("{}/", site.origin());

    // The tenant, and the redirect URI `provider add` will print: the
    // provider starts with it registered for Tollgate's client.
    let t = TestTenant::with(&["--name", "Acme"]).await;
    let callback_uri = format!(
        "{}/oauth2/{}/upstream/{PROVIDER}/callback",
        stack().function_base("callback"),
        t.alias
    );
    let ttl = AT_TTL.to_string();
    let idp = Idp::start_with(&[
        ("IDP_REDIRECT_URIS", callback_uri.as_str()),
        ("IDP_AT_TTL", ttl.as_str()),
    ]);
    let doc: Value = idp.get("/.well-known/openid-configuration").await;
    let userinfo = doc["userinfo_endpoint"].as_str().unwrap().to_owned();

    // The oidc preset asks `openid` by default; offline_access is added, as
    // most OpenID providers issue refresh tokens only for it.
    let added = admin_async(
        [
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            PROVIDER,
            "--preset",
            "oidc",
            "--issuer",
            &idp.issuer,
            "--client-id",
            CONNECTOR,
            "--client-secret-stdin",
            "--scope",
            "openid",
            "--scope",
            "offline_access",
            "--display-name",
            "Partner ID",
        ]
        .map(str::to_owned)
        .to_vec(),
        Some(format!("{IDP_SECRET}\n")),
    )
    .await
    .unwrap();
    assert_eq!(added["callback_uri"], callback_uri, "{added}");
    assert_eq!(added["authorize_url"], doc["authorization_endpoint"]);
    assert_eq!(added["token_url"], doc["token_endpoint"]);

    let app = t
        .client(&[
            "--name",
            "Bookings",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            &redirect_uri,
            "--scope",
            "openid",
            "--scope",
            &format!("upstream:{PROVIDER}"),
        ])
        .await;
    let alice = t.user("alice", &["--name", "Alice"]).await;
    let scope = format!("openid upstream:{PROVIDER}");
    let mut authorize = url::Url::parse(&t.url("authorize", "authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", app.id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", "st-oidc"),
        ("upstream", PROVIDER),
    ]);

    // The browser: Tollgate's sign-in and consent, then the provider's dev
    // login and consent pages, then back through the callback to the app.
    let driver = Driver::start();
    let browser = Session::new(&driver).await;
    let flow = async {
        let b = &browser;
        b.go(authorize.as_str()).await;
        let user = b.wait_for("form#login input[name=username]").await;
        b.type_into(&user, "alice").await;
        let password = b.wait_for("form#login input[name=password]").await;
        b.type_into(&password, PASSWORD).await;
        let allow = b
            .wait_for("form#login button[name=decision][value=allow]")
            .await;
        b.click(&allow).await;
        // The provider's authorize endpoint sent it on to its login page.
        wait_url(b, &format!("{}/interaction/", idp.issuer)).await;
        b.wait_for("input[name=prompt][value=login]").await;
        let name = b.wait_for("input[name=login]").await;
        b.type_into(&name, IDP_LOGIN).await;
        let password = b.wait_for("input[name=password]").await;
        b.type_into(&password, "any password").await;
        let sign_in = b.wait_for("button.login-submit").await;
        b.click(&sign_in).await;
        // Its consent page (same URL, another form).
        b.wait_for("input[name=prompt][value=consent]").await;
        let go_on = b.wait_for("button.login-submit").await;
        b.click(&go_on).await;
        wait_url(b, &redirect_uri).await
    };
    let outcome = tokio::time::timeout(FLOW, flow).await;
    browser.close().await;
    let back = outcome.unwrap_or_else(|_| {
        panic!(
            "the connect flow took over {FLOW:?}; chromedriver:\n{}",
            driver.log_tail()
        )
    });
    drop(browser);
    drop(driver);
    let q = query_of(&back);
    assert_eq!(param(&q, "error"), None, "{back}");
    assert_eq!(param(&q, "state").as_deref(), Some("st-oidc"));
    assert_eq!(param(&q, "iss"), Some(t.issuer()));
    let code = param(&q, "code").unwrap_or_else(|| panic!("no code: {back}"));

    // The connection: alice's, active, with the provider's refresh token;
    // its access token is the provider's, for the user who signed in there.
    let state = AppState::new(config(), &sdk().await);
    let key = ConnectionKey {
        tenant: t.tenant_id(),
        owner: Owner::User(UserId::parse(&alice).unwrap()),
        provider: ProviderName::parse(PROVIDER).unwrap(),
    };
    let vault = state.vault(&t.tenant_id()).await.unwrap();
    let read = async || {
        let conn: Connection = state.ports().connections.get(&key).await.unwrap().unwrap();
        let cached = conn.access_token.clone().unwrap();
        let at = vault
            .open(&key, Field::AccessToken, &cached.sealed)
            .unwrap()
            .expose_secret()
            .to_owned();
        let rt = vault
            .open(
                &key,
                Field::RefreshToken,
                conn.refresh_token.as_ref().unwrap(),
            )
            .unwrap()
            .expose_secret()
            .to_owned();
        (conn, cached.expires_at, at, rt)
    };
    let (conn, expires_at, at1, rt1) = read().await;
    assert_eq!(conn.status, Status::Active);
    assert_eq!(conn.last_refresh_at, None);
    assert_eq!(
        idp_subject(&userinfo, &at1).await.as_deref(),
        Some(IDP_LOGIN)
    );
    assert_eq!(freshness_margin(AT_TTL), 30);

    // The app's code redeems; its access token exchanges for the provider's
    // token, the one the connect stored (still fresh: no refresh).
    let (status, tokens) = t
        .token(
            Some(&app),
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let subject = tokens["access_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", AT),
        ("audience", PROVIDER),
    ];
    let retrieve = async || {
        let (status, v) = t.token(Some(&app), &form).await;
        assert_eq!(status, 200, "{v}");
        assert!(v.get("refresh_token").is_none(), "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    };
    assert!(
        now() + freshness_margin(AT_TTL) + 2 <= expires_at,
        "too slow to see the provider's {AT_TTL} s token while it is fresh"
    );
    assert_eq!(retrieve().await, at1);
    assert_eq!(idp_refreshes(&idp).await, (0, 0));

    // Stale (30 s or less left): the next exchange refreshes at the provider,
    // once, with the single-use refresh token, and serves the new token.
    let wait_stale = async |expires_at: u64| {
        let stale_at = expires_at - freshness_margin(AT_TTL) + 1;
        tokio::time::sleep(Duration::from_secs(stale_at.saturating_sub(now()))).await;
    };
    wait_stale(expires_at).await;
    let at2 = retrieve().await;
    assert_ne!(at2, at1);
    assert_eq!(idp_refreshes(&idp).await, (1, 0));
    assert_eq!(
        idp_subject(&userinfo, &at2).await.as_deref(),
        Some(IDP_LOGIN)
    );
    let (conn2, expires_at2, stored2, rt2) = read().await;
    assert_eq!(stored2, at2);
    assert_ne!(rt2, rt1, "the rotated refresh token is stored");
    assert!(conn2.last_refresh_at.is_some());
    assert_eq!(conn2.status, Status::Active);
    // Fresh again: served as it is, no call to the provider.
    assert_eq!(retrieve().await, at2);
    assert_eq!(idp_refreshes(&idp).await, (1, 0));

    // Stale again: the second refresh works, so it sent the rotated token
    // (the spent one would have been refused, and its reuse revokes the
    // provider's grant).
    wait_stale(expires_at2).await;
    let at3 = retrieve().await;
    assert!(at3 != at2 && at3 != at1);
    assert_eq!(idp_refreshes(&idp).await, (2, 0));
    assert_eq!(
        idp_subject(&userinfo, &at3).await.as_deref(),
        Some(IDP_LOGIN)
    );
    let (conn3, expires_at3, _, rt3) = read().await;
    assert_eq!(conn3.status, Status::Active);
    assert!(rt3 != rt2 && rt3 != rt1);

    // The first refresh token is spent at the provider indeed, and its reuse
    // revokes the provider's grant (node-oidc-provider's reuse detection):
    // the live access token dies with it.
    let r = stack()
        .http
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(CONNECTOR, Some(IDP_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt1)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant", "{v}");
    assert_eq!(idp_subject(&userinfo, &at3).await, None);
    // Once stale, Tollgate's refresh is refused as a dead grant: the
    // connection needs reconnecting, and the provider is not asked again.
    wait_stale(expires_at3).await;
    for _ in 0..2 {
        let (status, v) = t.token(Some(&app), &form).await;
        assert_eq!((status.as_u16(), err_code(&v)), (400, "reconnect_required"));
    }
    assert_eq!(idp_refreshes(&idp).await, (2, 2));
    let dead = state.ports().connections.get(&key).await.unwrap().unwrap();
    assert_eq!(dead.status, Status::ReconnectRequired);
}
