//! The sign-in page in a real browser (issue: the sign-in page people actually
//! meet): headless Chromium through chromedriver (`browser.rs`'s driver),
//! keyboard only — Tab, typing, Enter — for Allow, Deny and a wrong password;
//! axe-core (npm, `node_modules/axe-core`) run inside the page finds no
//! violation; every language is screenshotted at 360 px and 1280 px into
//! `target/signin-screenshots/` (artifacts to look at, not compared).

use crate::browser::{Driver, Session, Site, WAIT};
use crate::helpers::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USERNAME: &str = "dana";
const LOGO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/logo.png");
pub const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../node_modules/axe-core/axe.min.js"
);
/// The longest one whole browser test may take.
const FLOW: Duration = Duration::from_secs(240);

/// WebDriver key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// A tenant (branded or not) with a user and a confidential code client whose
/// redirect URI is a page on 127.0.0.1 (no request leaves the machine).
struct Setup {
    t: TestTenant,
    client: TestClient,
    redirect_uri: String,
    _site: Site,
}

impl Setup {
    async fn new(branded: bool) -> Setup {
        let t = TestTenant::with(&["--name", "Acme Mobility"]).await;
        if branded {
            admin_async(
                [
                    "tenant",
                    "update",
                    &t.alias,
                    "--display-name",
                    "Acme Mobility Group",
                    "--logo",
                    LOGO,
                    "--primary-color",
                    "#ffcc00",
                    "--scope-description",
                    "api=Read and change your bookings",
                ]
                .map(str::to_owned)
                .to_vec(),
                None,
            )
            .await
            .unwrap();
        }
        t.user(USERNAME, &["--name", "Dana Scully"]).await;
        let site = Site::start().await;
        site.set_page("<!DOCTYPE html><title>App</title><p>Back in the app.</p>".into());
        let redirect_uri = format!("{}/", site.origin());
        let client = t
            .client(&[
                "--name",
                "Bookings",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                &redirect_uri,
                "--scope",
                "api",
                "--scope",
                "openid",
                "--scope",
                "offline_access",
            ])
            .await;
        Setup {
            t,
            client,
            redirect_uri,
            _site: site,
        }
    }

    /// The authorize URL; `ui_locales` when given, `state` unless `no_state`.
    fn authorize_url(&self, ui_locales: Option<&str>, no_state: bool) -> String {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", self.client.id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", "openid offline_access api"),
        ];
        if !no_state {
            q.push(("state", "st-browser"));
        }
        if let Some(l) = ui_locales {
            q.push(("ui_locales", l));
        }
        let mut u = url::Url::parse(&self.t.url("authorize", "authorize")).unwrap();
        u.query_pairs_mut().extend_pairs(q);
        u.to_string()
    }
}

// ---------------------------------------------------------------------------
// Keyboard, focus, axe and screenshots over WebDriver
// ---------------------------------------------------------------------------

impl Session {
    pub(crate) async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Real key events (WebDriver actions), one key at a time.
    async fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.cmd(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await
        .unwrap();
    }

    /// `id` of the focused element (`""` for none or the body).
    async fn focused(&self) -> String {
        let v = self
            .script(
                "const e = document.activeElement; return e && e !== document.body ? (e.id || e.value || e.name || e.tagName) : '';",
                json!([]),
            )
            .await;
        v.as_str().unwrap_or("").to_owned()
    }

    /// Tabs until `id` has the focus (at most 8 presses); asserts the focus
    /// is visible there (an outline of at least 2 px).
    async fn tab_to(&self, id: &str) {
        for _ in 0..8 {
            self.keys(TAB).await;
            if self.focused().await == id {
                let outline = self
                    .script(
                        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, parseFloat(s.outlineWidth)];",
                        json!([]),
                    )
                    .await;
                assert_ne!(outline[0], "none", "focus on {id} is visible");
                assert!(outline[1].as_f64().unwrap_or(0.0) >= 2.0, "{outline}");
                return;
            }
        }
        panic!(
            "Tab never reached #{id}; focus is on {:?}",
            self.focused().await
        );
    }

    /// Waits (bounded) until the browser is at a URL starting with `prefix`.
    pub(crate) async fn wait_url(&self, prefix: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let at = self.current_url().await;
            if at.starts_with(prefix) {
                return at;
            }
            assert!(Instant::now() < until, "never reached {prefix}; at {at}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A Chrome DevTools command through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// The viewport as a phone (`mobile`) or a desktop of this width.
    pub(crate) async fn viewport(&self, width: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
    }

    /// Runs axe-core in the page: its violations (impact, id, nodes).
    pub async fn axe(&self, axe_src: &str) -> Vec<Value> {
        let script = format!(
            "{axe_src}\n;const done = arguments[arguments.length - 1];\
             axe.run(document, {{resultTypes: ['violations']}})\
               .then(r => done(JSON.stringify(r.violations.map(v => ({{id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)}})))))\
               .catch(e => done('axe failed: ' + e));"
        );
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/execute/async",
                Some(json!({"script": script, "args": []})),
            )
            .await
            .unwrap_or_else(|e| panic!("axe did not run: {e}"));
        let raw = v.as_str().unwrap_or_default();
        serde_json::from_str(raw).unwrap_or_else(|_| panic!("{raw}"))
    }

    /// A PNG of the whole page at the current width.
    async fn screenshot(&self, path: &std::path::Path) {
        let v = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// `target/signin-screenshots/` (from the test binary's own path).
fn screenshot_dir() -> PathBuf {
    // target/debug/deps/integration-… → target/
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("signin-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn with_browser<F, Fut>(f: F)
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = Session>,
{
    let driver = Driver::start();
    let browser = Session::new(&driver).await;
    let outcome = tokio::time::timeout(FLOW, f(browser)).await;
    match outcome {
        Ok(browser) => browser.close().await,
        Err(_) => panic!(
            "the browser test took over {FLOW:?}; chromedriver:\n{}",
            driver.log_tail()
        ),
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn keyboard_only_sign_in_allows_denies_and_focuses_the_wrong_password_error() {
    let s = Setup::new(false).await;
    let axe_src = std::fs::read_to_string(AXE)
        .expect("node_modules/axe-core is missing: run `scripts/local.sh deps`");
    let (s, axe_src) = (&s, &axe_src);
    with_browser(|b| async move {
        // Allow: Tab to the username, type, Tab, type, Enter.
        b.go(&s.authorize_url(None, false)).await;
        b.wait_for("form#login").await;
        let violations = b.axe(axe_src).await;
        assert!(violations.is_empty(), "axe on the default page: {violations:#?}");
        b.tab_to("username").await;
        b.keys(USERNAME).await;
        b.tab_to("password").await;
        b.keys(PASSWORD).await;
        b.keys(ENTER).await;
        let back = b.wait_url(&s.redirect_uri).await;
        let q = query(&back);
        assert!(get(&q, "code").is_some_and(|c| c.len() >= 22), "{back}");
        assert_eq!(get(&q, "state"), Some("st-browser"));
        assert_eq!(get(&q, "iss"), Some(s.t.issuer().as_str()));
        // The code is real: it redeems.
        let (status, tokens) = s
            .t
            .token(
                Some(&s.client),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", get(&q, "code").unwrap()),
                    ("redirect_uri", &s.redirect_uri),
                ],
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");

        // Wrong password: the page again, focus on the announced error.
        b.go(&s.authorize_url(None, false)).await;
        b.wait_for("form#login").await;
        b.tab_to("username").await;
        b.keys(USERNAME).await;
        b.tab_to("password").await;
        b.keys("not the password").await;
        b.keys(ENTER).await;
        b.wait_for("#login-error").await;
        assert_eq!(b.focused().await, "login-error", "focus moves to the error");
        let error = b
            .script(
                "const e = document.activeElement; return [e.getAttribute('role'), e.textContent, document.getElementById('password').getAttribute('aria-describedby')];",
                json!([]),
            )
            .await;
        assert_eq!(
            error,
            json!(["alert", "Incorrect username or password.", "login-error"])
        );
        let violations = b.axe(axe_src).await;
        assert!(violations.is_empty(), "axe with the error: {violations:#?}");
        // From the error, the keyboard goes on: Tab to the password, type it.
        b.tab_to("password").await;
        b.keys(PASSWORD).await;
        b.keys(ENTER).await;
        let back = b.wait_url(&s.redirect_uri).await;
        assert!(get(&query(&back), "code").is_some(), "{back}");

        // Deny: Tab past Allow to Deny, Enter.
        b.go(&s.authorize_url(None, false)).await;
        b.wait_for("form#login").await;
        b.tab_to("username").await;
        b.keys(USERNAME).await;
        b.tab_to("password").await;
        b.tab_to("deny").await;
        b.keys(ENTER).await;
        let back = b.wait_url(&s.redirect_uri).await;
        let q = query(&back);
        assert_eq!(get(&q, "error"), Some("access_denied"), "{back}");
        assert_eq!(get(&q, "state"), Some("st-browser"));
        assert_eq!(get(&q, "code"), None);

        // axe does check this page: without the username's label it objects.
        b.go(&s.authorize_url(None, false)).await;
        b.wait_for("form#login").await;
        b.script(
            "document.querySelector('label[for=username]').remove();",
            json!([]),
        )
        .await;
        let violations = b.axe(axe_src).await;
        assert!(
            violations.iter().any(|v| v["id"] == "label"),
            "axe sees a missing label: {violations:#?}"
        );
        b
    })
    .await;
}

#[tokio::test]
async fn every_language_passes_axe_fits_a_phone_and_is_screenshotted() {
    let s = Setup::new(true).await;
    let axe_src = std::fs::read_to_string(AXE)
        .expect("node_modules/axe-core is missing: run `scripts/local.sh deps`");
    let dir = screenshot_dir();
    let (s, axe_src, shots) = (&s, &axe_src, &dir);
    with_browser(|b| async move {
        for (lang, title, error) in [
            (
                "en",
                "Sign in to Acme Mobility Group",
                "Incorrect username or password.",
            ),
            (
                "fr",
                "Connexion à Acme Mobility Group",
                "Nom d’utilisateur ou mot de passe incorrect.",
            ),
            (
                "nl",
                "Aanmelden bij Acme Mobility Group",
                "Onjuiste gebruikersnaam of onjuist wachtwoord.",
            ),
            (
                "de",
                "Bei Acme Mobility Group anmelden",
                "Benutzername oder Passwort ist falsch.",
            ),
        ] {
            // No state: the warning shows too.
            b.go(&s.authorize_url(Some(lang), true)).await;
            b.wait_for("form#login").await;
            let page = b
                .script(
                    "return [document.documentElement.lang, document.title, \
                      !!document.getElementById('no-state-warning'), \
                      document.querySelector('img.logo') ? document.querySelector('img.logo').naturalWidth : 0, \
                      performance.getEntriesByType('resource').map(r => r.name), \
                      document.querySelector('li[data-scope=api]').textContent, \
                      document.documentElement.outerHTML.length];",
                    json!([]),
                )
                .await;
            assert_eq!(page[0], lang);
            assert_eq!(page[1], title);
            assert_eq!(page[2], true, "{lang}: the missing-state warning");
            assert_eq!(page[3], 144, "{lang}: the logo is decoded and shown");
            assert_eq!(page[4], json!([]), "{lang}: no other request");
            assert_eq!(page[5], "Read and change your bookings");
            for width in [360, 1280] {
                b.viewport(width).await;
                let scroll = b
                    .script(
                        "return document.documentElement.scrollWidth;",
                        json!([]),
                    )
                    .await;
                assert!(
                    scroll.as_u64().unwrap() <= u64::from(width),
                    "{lang} at {width}px scrolls sideways: {scroll}"
                );
                let violations = b.axe(axe_src).await;
                assert!(
                    violations.is_empty(),
                    "axe, {lang} at {width}px: {violations:#?}"
                );
                b.screenshot(&shots.join(format!("{lang}-{width}.png"))).await;
            }
            // The error, in the same language (kept through the callback).
            b.viewport(360).await;
            b.tab_to("username").await;
            b.keys(USERNAME).await;
            b.tab_to("password").await;
            b.keys("wrong").await;
            b.keys(ENTER).await;
            b.wait_for("#login-error").await;
            let shown = b
                .script(
                    "return [document.documentElement.lang, document.activeElement.id, document.activeElement.textContent];",
                    json!([]),
                )
                .await;
            assert_eq!(shown, json!([lang, "login-error", error]));
            let violations = b.axe(axe_src).await;
            assert!(violations.is_empty(), "axe, {lang} error: {violations:#?}");
            b.screenshot(&shots.join(format!("{lang}-360-error.png"))).await;
            b.viewport(1280).await;
            b.screenshot(&shots.join(format!("{lang}-1280-error.png"))).await;
            if lang == "en" {
                // Without its style sheet the page still works: every field
                // and both buttons are shown.
                let bare = b
                    .script(
                        "document.querySelectorAll('style').forEach(s => s.remove()); \
                         return [...document.querySelectorAll('#username, #password, button[name=decision]')] \
                           .map(e => e.offsetWidth > 0 && e.offsetHeight > 0);",
                        json!([]),
                    )
                    .await;
                assert_eq!(bare, json!([true, true, true, true]), "without CSS");
                b.screenshot(&shots.join("en-1280-nocss.png")).await;
            }
        }
        b
    })
    .await;
    for lang in ["en", "fr", "nl", "de"] {
        for width in [360, 1280] {
            let p = dir.join(format!("{lang}-{width}.png"));
            let png = std::fs::read(&p).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{}", p.display());
        }
    }
}
