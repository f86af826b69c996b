//! The connect flow on the real stack, in a real browser (SPEC: Upstream
//! providers — Connecting a user's account): the upstream is another tenant
//! of the same local stack, added Maximizer-style (`provider add --preset
//! maximizer` with its authorize, token and refresh URLs; the preset's quirks
//! stay: alphanumeric `state`, no PKCE, `redirect_uri` resent on refresh),
//! whose client's redirect URI is the `callback_uri` that `provider add`
//! prints. Headless Chromium goes through BOTH real login pages: Tollgate's
//! (the consent page names the provider, axe-clean), then the upstream's;
//! the callback function redeems the upstream code, stores the sealed
//! connection, and the app gets Tollgate's code, which redeems.

use crate::browser::{Driver, Session, Site, WAIT};
use crate::helpers::*;
use crate::signin_page::AXE;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::{Duration, Instant};
use tollgate::AppState;
use tollgate::domain::connections::{ConnectionKey, Field, Owner, Status};
use tollgate::ids::{ProviderName, UserId};

const PROVIDER: &str = "maxcrm";
const UPSTREAM_USER: &str = "max-user";
const FLOW: Duration = Duration::from_secs(180);

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

/// Signs in on the login page the browser is on.
async fn sign_in(b: &Session, username: &str) {
    let user = b.wait_for("form#login input[name=username]").await;
    b.type_into(&user, username).await;
    let password = b.wait_for("form#login input[name=password]").await;
    b.type_into(&password, PASSWORD).await;
    let allow = b
        .wait_for("form#login button[name=decision][value=allow]")
        .await;
    b.click(&allow).await;
}

/// Two tenants of this stack: `up` acting as Maximizer, with a user and the
/// client Tollgate is registered as (its redirect URI the printed
/// `callback_uri`), and `down`, which added it as provider [`PROVIDER`]; an
/// app of `down` registered for it (redirect URI `redirect_uri`), and alice.
struct Connect {
    up: TestTenant,
    up_user: String,
    up_client: TestClient,
    down: TestTenant,
    callback_uri: String,
    app: TestClient,
    redirect_uri: String,
    alice: String,
}

impl Connect {
    async fn new(redirect_uri: &str) -> Connect {
        // The upstream: a tenant of this stack acting as Maximizer.
        let up = TestTenant::with(&["--name", "Upstream CRM"]).await;
        let up_user = up.user(UPSTREAM_USER, &["--name", "Max User"]).await;
        // The tenant that connects it, and the redirect URI it will print.
        let down = TestTenant::with(&["--name", "Acme"]).await;
        let callback_uri = format!(
            "{}/oauth2/{}/upstream/{PROVIDER}/callback",
            stack().function_base("callback"),
            down.alias
        );
        let up_client = up
            .client(&[
                "--name",
                "Tollgate connector",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                &callback_uri,
                "--scope",
                "api",
            ])
            .await;
        let added = admin_async(
            [
                "provider",
                "add",
                "--tenant",
                &down.alias,
                "--name",
                PROVIDER,
                "--preset",
                "maximizer",
                "--var",
                "region=x",
                "--var",
                "company_alias=y",
                "--authorize-url",
                &up.url("authorize", "authorize"),
                "--token-url",
                &up.token_url(),
                "--refresh-url",
                &up.url("refresh", "refresh"),
                "--client-id",
                &up_client.id,
                "--client-secret-stdin",
                "--display-name",
                "Upstream CRM",
            ]
            .map(str::to_owned)
            .to_vec(),
            Some(format!("{}\n", up_client.secret())),
        )
        .await
        .unwrap();
        assert_eq!(added["callback_uri"], callback_uri, "{added}");

        // The app: a confidential client of `down` registered for the provider.
        let redirect_uri = redirect_uri.to_owned();
        let app = down
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
        let alice = down.user("alice", &["--name", "Alice"]).await;
        Connect {
            up,
            up_user,
            up_client,
            down,
            callback_uri,
            app,
            redirect_uri,
            alice,
        }
    }

    /// Tollgate's authorize URL for the app, with `upstream`.
    fn authorize_url(&self) -> url::Url {
        let scope = format!("openid upstream:{PROVIDER}");
        let mut authorize = url::Url::parse(&self.down.url("authorize", "authorize")).unwrap();
        authorize.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", self.app.id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", "st-connect"),
            ("upstream", PROVIDER),
        ]);
        authorize
    }
}

#[tokio::test]
async fn a_user_connects_a_maximizer_style_account_through_both_login_pages() {
    let site = Site::start().await;
    site.set_page("<!DOCTYPE html><title>App</title><p>Back in the app.</p>".into());
    let c = Connect::new(&format!("{}/", site.origin())).await;
    let Connect {
        up,
        up_user,
        up_client,
        down,
        callback_uri,
        app,
        redirect_uri,
        alice,
    } = &c;
    let scope = format!("openid upstream:{PROVIDER}");
    let authorize = c.authorize_url();
    let axe_src = std::fs::read_to_string(AXE)
        .expect("node_modules/axe-core is missing: run `scripts/local.sh deps`");

    let driver = Driver::start();
    let browser = Session::new(&driver).await;
    let flow = async {
        let b = &browser;
        b.go(authorize.as_str()).await;
        // Tollgate's consent page names the provider, and passes axe.
        b.wait_for("form#login").await;
        let line = b
            .text_of_selector(&format!("li[data-scope='upstream:{PROVIDER}']"))
            .await;
        assert_eq!(
            line,
            "Bookings will use your Upstream CRM account (after you sign in, you continue to Upstream CRM to connect it)"
        );
        let violations = b.axe(&axe_src).await;
        assert!(
            violations.is_empty(),
            "axe on the connect consent page: {violations:#?}"
        );
        sign_in(b, "alice").await;
        // On to the upstream's own login page (Maximizer-style: no PKCE,
        // an alphanumeric state, the printed callback URI).
        let at_up = wait_url(b, &up.url("authorize", "authorize")).await;
        let q = query_of(&at_up);
        assert_eq!(param(&q, "client_id"), Some(up_client.id.clone()));
        assert_eq!(param(&q, "redirect_uri"), Some(callback_uri.clone()));
        assert_eq!(param(&q, "code_challenge"), None);
        let up_state = param(&q, "state").unwrap();
        assert!(
            up_state.bytes().all(|c| c.is_ascii_alphanumeric()),
            "{up_state}"
        );
        sign_in(b, UPSTREAM_USER).await;
        // Back through the callback function to the app, with Tollgate's code.
        (wait_url(b, redirect_uri).await, up_state)
    };
    let outcome = tokio::time::timeout(FLOW, flow).await;
    browser.close().await;
    let (back, up_state) = outcome.unwrap_or_else(|_| {
        panic!(
            "the connect flow took over {FLOW:?}; chromedriver:\n{}",
            driver.log_tail()
        )
    });
    drop(browser);
    drop(driver);
    let q = query_of(&back);
    assert_eq!(param(&q, "error"), None, "{back}");
    assert_eq!(param(&q, "state").as_deref(), Some("st-connect"));
    assert_eq!(param(&q, "iss"), Some(down.issuer()));
    let code = param(&q, "code").unwrap_or_else(|| panic!("no code: {back}"));

    // The connection is stored for alice, sealed, labelled with the
    // upstream's login_hint; its access token is the upstream user's.
    let state = AppState::new(config(), &sdk().await);
    let key = ConnectionKey {
        tenant: down.tenant_id(),
        owner: Owner::User(UserId::parse(alice).unwrap()),
        provider: ProviderName::parse(PROVIDER).unwrap(),
    };
    let conn = state
        .ports()
        .connections
        .get(&key)
        .await
        .unwrap()
        .expect("the connection is stored");
    assert_eq!(conn.status, Status::Active);
    assert_eq!(
        conn.account,
        Some(format!("d {} u {up_user}", up.alias)),
        "Maximizer's login_hint kept as the account label"
    );
    let vault = state.vault(&down.tenant_id()).await.unwrap();
    let upstream_at = vault
        .open(
            &key,
            Field::AccessToken,
            &conn.access_token.as_ref().unwrap().sealed,
        )
        .unwrap();
    let (_, claims) = up.verify(upstream_at.expose_secret(), None).await;
    assert_eq!(claims["sub"], up_user.as_str());
    assert!(
        conn.refresh_token.is_some(),
        "the upstream refresh token is kept"
    );
    let items = db().await.tenant_items(&down.tenant_id()).await.unwrap();
    assert!(
        items
            .iter()
            .all(|i| !i.dump.contains(upstream_at.expose_secret())),
        "the upstream token is stored only sealed"
    );
    assert!(
        items.iter().all(|i| !i.partition_key.contains("#UTX#")),
        "the upstream transaction is spent"
    );

    // The app's code redeems, once.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
    ];
    let (status, tokens) = down.token(Some(app), &form).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], scope.as_str());
    let (_, claims) = down
        .verify(tokens["access_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(claims["sub"], alice.as_str());
    // And the app gets the upstream token through RFC 8693 (the lead's
    // retrieval grant): the one the connect stored, still fresh.
    let exchanged = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", tokens["access_token"].as_str().unwrap()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("audience", PROVIDER),
    ];
    let (status, upstream) = down.token(Some(app), &exchanged).await;
    assert_eq!(status, 200, "{upstream}");
    assert_eq!(upstream["access_token"], upstream_at.expose_secret());
    assert!(upstream.get("refresh_token").is_none());
    // The code works once (a replay also revokes what it issued).
    let (status, again) = down.token(Some(app), &form).await;
    assert_eq!((status.as_u16(), err_code(&again)), (400, "invalid_grant"));

    // The provider's redirect sent again from elsewhere (no cookie, a spent
    // state) connects nothing: the error page, never a redirect.
    let replay = stack()
        .http
        .get(callback_uri.as_str())
        .query(&[("code", "whatever"), ("state", up_state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.headers().get("location").is_none());
    let page = replay.text().await.unwrap();
    assert!(page.contains("Account not connected"), "{page}");
    let after = state.ports().connections.get(&key).await.unwrap().unwrap();
    assert_eq!(after.generation, conn.generation, "nothing was reconnected");
}

impl Session {
    /// The text of the first element matching `css` (waited for).
    async fn text_of_selector(&self, css: &str) -> String {
        let e = self.wait_for(css).await;
        let v: Value = self
            .cmd(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_owned()
    }
}

/// The `__Host-` cookie's value from a response's `Set-Cookie`.
fn binding_cookie(resp: &reqwest::Response) -> String {
    let set = resp
        .headers()
        .get("set-cookie")
        .expect("the browser-binding cookie")
        .to_str()
        .unwrap();
    assert!(set.starts_with("__Host-tollgate-upstream="), "{set}");
    for attr in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Lax"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    set.split(';').next().unwrap().to_owned()
}

/// The provider's redirect back, sent with `cookie` (a `name=value` pair).
async fn back(url: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = stack().http.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// Without a browser: both login pages posted directly, so the test holds the
/// provider's redirect and the cookie, and can send them apart.
#[tokio::test]
async fn a_provider_redirect_from_another_browser_or_replayed_connects_nothing() {
    let c = Connect::new(REDIRECT).await;
    // Two connects of alice's, in two "browsers".
    let mut starts = Vec::new();
    for _ in 0..2 {
        let page = stack()
            .http
            .get(c.authorize_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let to_provider = c.down.submit(&page, "alice", PASSWORD, "allow").await;
        assert_eq!(to_provider.status(), 303);
        let cookie = binding_cookie(&to_provider);
        let at_up = location(&to_provider);
        assert!(
            at_up.starts_with(&c.up.url("authorize", "authorize")),
            "{at_up}"
        );
        let up_page = stack().http.get(&at_up).send().await.unwrap();
        assert_eq!(up_page.status(), 200);
        let up_page = up_page.text().await.unwrap();
        let redirect =
            c.up.submit(&up_page, UPSTREAM_USER, PASSWORD, "allow")
                .await;
        assert_eq!(redirect.status(), 303);
        let redirect = location(&redirect);
        assert!(redirect.starts_with(&c.callback_uri), "{redirect}");
        starts.push((redirect, cookie));
    }
    let (first, first_cookie) = &starts[0];
    let (second, second_cookie) = &starts[1];
    let key = ConnectionKey {
        tenant: c.down.tenant_id(),
        owner: Owner::User(UserId::parse(&c.alice).unwrap()),
        provider: ProviderName::parse(PROVIDER).unwrap(),
    };
    let state = AppState::new(config(), &sdk().await);
    // No cookie, or the other connect's: the 400 page, nothing connected.
    for cookie in [
        None,
        Some(second_cookie.as_str()),
        Some("__Host-tollgate-upstream=forged"),
    ] {
        let r = back(first, cookie).await;
        assert_eq!(r.status(), 400, "{cookie:?}");
        assert!(r.headers().get("location").is_none());
    }
    assert!(state.ports().connections.get(&key).await.unwrap().is_none());
    // Its own browser finishes it, once.
    let r = back(first, Some(first_cookie)).await;
    assert_eq!(r.status(), 303);
    let to_app = location(&r);
    assert!(to_app.starts_with(REDIRECT), "{to_app}");
    let cleared = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let code = param(&query_of(&to_app), "code").unwrap();
    let conn = state.ports().connections.get(&key).await.unwrap().unwrap();
    let r = back(first, Some(first_cookie)).await;
    assert_eq!(r.status(), 400, "a replay");
    // The second connect still finishes in its own browser, and replaces the
    // grant (a new generation).
    let r = back(second, Some(second_cookie)).await;
    assert_eq!(r.status(), 303);
    let again = state.ports().connections.get(&key).await.unwrap().unwrap();
    assert!(again.generation > conn.generation);
    // The app's first code redeems.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, tokens) = c.down.token(Some(&c.app), &form).await;
    assert_eq!(status, 200, "{tokens}");
}

/// The provider's redirect route on the real stack, sent garbage: never a
/// 5xx, never a redirect; an HTML page for every refusal.
#[tokio::test]
async fn the_provider_redirect_route_answers_garbage_with_4xx_pages() {
    let t = TestTenant::new().await;
    let base = format!(
        "{}/oauth2/{}/upstream/{PROVIDER}/callback",
        stack().function_base("callback"),
        t.alias
    );
    let long = "a".repeat(5000);
    let cases: Vec<(reqwest::Method, String, u16)> = vec![
        (reqwest::Method::GET, base.clone(), 400),
        (reqwest::Method::GET, format!("{base}?code=x&state=y"), 400),
        (reqwest::Method::GET, format!("{base}?state=y&state=z"), 400),
        (reqwest::Method::GET, format!("{base}?state={long}"), 400),
        (reqwest::Method::GET, format!("{base}?state=%FF%FE"), 400),
        (
            reqwest::Method::GET,
            format!("{base}?error=access_denied"),
            400,
        ),
        (reqwest::Method::POST, format!("{base}?code=x&state=y"), 405),
        (
            reqwest::Method::GET,
            // Not the route (no provider name): the login callback's 405.
            base.replace(PROVIDER, "Not_A_Provider"),
            405,
        ),
        (reqwest::Method::GET, base.replace(&t.alias, "nope"), 400),
    ];
    for (method, url, status) in cases {
        let r = stack()
            .http
            .request(method.clone(), &url)
            .header("cookie", "__Host-tollgate-upstream=forged")
            .send()
            .await
            .unwrap();
        let shown = &url[..url.len().min(120)];
        assert_eq!(r.status().as_u16(), status, "{method} {shown}");
        assert!(r.headers().get("location").is_none(), "{shown}");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ctype.starts_with("text/html"), "{shown}: {ctype}");
    }
}
