//! A single-page app in a real browser (SPEC: Browser clients): headless
//! Chromium, driven through chromedriver's WebDriver HTTP API, loads a small
//! page (`tests/browser/spa.html`) served on 127.0.0.1 by this test. The page
//! is a public client registered with `--web-origin` for its own origin: it
//! sends the browser to authorize with PKCE; the test signs in on Tollgate's
//! login page through WebDriver; back on the page, the app exchanges the code,
//! refreshes, calls userinfo and revokes its refresh token with `fetch`
//! across origins (CORS, preflight included), and writes what it saw into the
//! page for the test to read.
//!
//! The driver, the session and the site are shared with `signin_page.rs`.
//!
//! Chromium and chromedriver are the Debian packages `scripts/local.sh deps`
//! installs. Everything started here is stopped here, and every wait is
//! bounded.

use crate::helpers::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The longest the whole browser flow may take.
const FLOW: Duration = Duration::from_secs(120);
/// The longest one wait for the page may take.
pub const WAIT: Duration = Duration::from_secs(30);
const SPA: &str = include_str!("../browser/spa.html");
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ---------------------------------------------------------------------------
// The app's origin: one page on 127.0.0.1
// ---------------------------------------------------------------------------

/// Serves the page on `127.0.0.1:port` until dropped.
pub struct Site {
    port: u16,
    task: tokio::task::JoinHandle<()>,
    /// Request lines seen (method and path, never the query: it holds the code).
    seen: Arc<Mutex<Vec<String>>>,
    /// The page (set once the client, whose id it names, exists).
    page: Arc<Mutex<String>>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Site {
    pub async fn start() -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let page: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
        let (log, body) = (seen.clone(), page.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (log, body) = (log.clone(), body.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        answer(&mut sock, &log, &body),
                    )
                    .await;
                });
            }
        });
        Site {
            port,
            task,
            seen,
            page,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_page(&self, html: String) {
        *self.page.lock().unwrap() = html;
    }
}

/// One HTTP/1.1 exchange: `GET /` (with any query) is the page, anything else 404.
async fn answer(
    sock: &mut tokio::net::TcpStream,
    seen: &Mutex<Vec<String>>,
    page: &Mutex<String>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut line = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (line.next().unwrap_or(""), line.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    seen.lock().unwrap().push(format!("{method} {path}"));
    let (status, ctype, body) = if method == "GET" && path == "/" {
        (
            "200 OK",
            "text/html; charset=utf-8",
            page.lock().unwrap().clone(),
        )
    } else {
        ("404 Not Found", "text/plain", "not found".to_owned())
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

// ---------------------------------------------------------------------------
// chromedriver and a WebDriver session
// ---------------------------------------------------------------------------

/// chromedriver in its own process group (Chromium runs in it too), and a
/// fresh profile directory; both go away on drop, pass or fail.
pub struct Driver {
    child: Child,
    port: u16,
    profile: std::path::PathBuf,
}

impl Driver {
    pub fn start() -> Driver {
        use std::os::unix::process::CommandExt;
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: run `scripts/local.sh deps` (Debian packages chromium and chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let profile = std::env::temp_dir().join(format!("tollgate-chromium-{}", random_alias()));
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!(
                "--log-path={}",
                profile.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        Driver {
            child,
            port,
            profile,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `kill SIGNAL -- -PGID`; true when some process of the group got it.
    fn signal_group(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The last lines of chromedriver's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.profile.join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share the group: ask them
        // to stop, wait (bounded) until none is left, then insist.
        self.signal_group("-TERM");
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let _ = self.child.try_wait();
            if !self.signal_group("-0") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal_group("-KILL");
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A WebDriver session (W3C protocol over HTTP).
pub struct Session {
    pub http: reqwest::Client,
    pub url: String,
}

impl Session {
    pub async fn new(driver: &Driver) -> Session {
        let http = reqwest::Client::builder()
            .timeout(WAIT)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let ready = Instant::now() + Duration::from_secs(20);
        loop {
            let up = http.get(format!("{}/status", driver.base())).send().await;
            if let Ok(r) = up
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < ready, "chromedriver did not start in 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!(
                "--user-data-dir={}",
                driver.profile.join("profile").display()
            ),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 20_000, "script": 10_000, "implicit": 0},
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let v: Value = http
            .post(format!("{}/session", driver.base()))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}\n{}", driver.log_tail()))
            .to_owned();
        Session {
            http,
            url: format!("{}/session/{id}", driver.base()),
        }
    }

    /// One command; `Err` with WebDriver's error.
    pub async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match v["value"].get("error") {
            Some(e) => Err(format!("{e}: {}", v["value"]["message"])),
            None => Ok(v["value"].clone()),
        }
    }

    pub async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .unwrap();
    }

    pub async fn current_url(&self) -> String {
        let v = self.cmd(reqwest::Method::GET, "/url", None).await.unwrap();
        v.as_str().unwrap_or("").to_owned()
    }

    pub async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .ok()?;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits (bounded) for an element.
    pub async fn wait_for(&self, css: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            assert!(
                Instant::now() < until,
                "no `{css}` within {WAIT:?}; the browser is at {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await
        .unwrap();
    }

    pub async fn click(&self, element: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await
        .unwrap();
    }

    /// The text of `#id`, or `None` while it does not exist.
    pub async fn text_of(&self, id: &str) -> Option<String> {
        let script =
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;";
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": [id]})),
        )
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
    }

    pub async fn close(&self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[tokio::test]
async fn single_page_app_signs_in_with_pkce_and_uses_every_endpoint_over_cors() {
    let w = World::new(&[]).await;
    let site = Site::start().await;
    let origin = site.origin();
    let redirect_uri = format!("{origin}/");
    let spa =
        w.t.client(&[
            "--name",
            "Browser app",
            "--grant",
            "authorization_code",
            "--public",
            "--redirect-uri",
            &redirect_uri,
            "--scope",
            "api",
            "--web-origin",
            &origin,
        ])
        .await;
    let scope = "api openid profile email";
    let config = json!({
        "authorize": w.t.url("authorize", "authorize"),
        "token": w.t.token_url(),
        "userinfo": w.t.userinfo_url(),
        "revoke": w.t.revoke_url(),
        "client_id": spa.id,
        "redirect_uri": redirect_uri,
        "scope": scope,
    });
    site.set_page(SPA.replace("__TOLLGATE_CONFIG__", &config.to_string()));

    let driver = Driver::start();
    let browser = Session::new(&driver).await;
    let flow = async {
        browser.go(&redirect_uri).await;
        // The app sent the browser to Tollgate's login page.
        let user = browser.wait_for("form#login input[name=username]").await;
        let at = browser.current_url().await;
        assert!(
            at.starts_with(&w.t.url("authorize", "authorize")),
            "the login page is Tollgate's: {at}"
        );
        browser.type_into(&user, USER).await;
        let password = browser.wait_for("form#login input[name=password]").await;
        browser.type_into(&password, PASSWORD).await;
        let allow = browser
            .wait_for("form#login button[name=decision][value=allow]")
            .await;
        browser.click(&allow).await;
        // Back on the app, which does the rest and writes #result.
        let until = Instant::now() + WAIT;
        loop {
            if let Some(r) = browser.text_of("result").await {
                return r;
            }
            if Instant::now() >= until {
                let log = browser.text_of("log").await.unwrap_or_default();
                panic!(
                    "the app wrote no result within {WAIT:?}; the browser is at {}; app log:\n{log}",
                    browser.current_url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let outcome = tokio::time::timeout(FLOW, flow).await;
    let app_log = browser.text_of("log").await.unwrap_or_default();
    browser.close().await;
    let seen = site.seen.lock().unwrap().clone();
    let raw = outcome.unwrap_or_else(|_| {
        panic!(
            "the browser flow took over {FLOW:?}; app log:\n{app_log}\nchromedriver:\n{}",
            driver.log_tail()
        )
    });
    drop(browser);
    drop(driver);
    drop(site);
    let r: Value = serde_json::from_str(&raw).unwrap();
    let ctx = format!("app result: {r:#}\napp log:\n{app_log}\nrequests to the app: {seen:?}");
    assert!(r.get("fatal").is_none(), "{ctx}");

    // The authorization response.
    assert_eq!(r["error"], Value::Null, "{ctx}");
    assert_eq!(r["state_ok"], true, "state round-trips: {ctx}");
    assert_eq!(r["iss"], w.t.issuer(), "RFC 9207 iss: {ctx}");
    assert_eq!(
        r["login_hint"],
        format!("d {} u {}", w.t.alias, w.user_id),
        "{ctx}"
    );
    // Code exchange (PKCE, public client, from the app's origin).
    assert_eq!(r["exchange"]["status"], 200, "{ctx}");
    let first = &r["exchange"]["body"];
    assert_eq!(first["token_type"], "Bearer", "{ctx}");
    assert_eq!(first["scope"], scope, "{ctx}");
    assert!(first["id_token"].is_string(), "{ctx}");
    // Refresh: rotated.
    assert_eq!(r["refresh"]["status"], 200, "{ctx}");
    assert_ne!(
        r["refresh"]["body"]["refresh_token"], first["refresh_token"],
        "{ctx}"
    );
    // Userinfo with a Bearer header (a preflighted request).
    assert_eq!(r["userinfo"]["status"], 200, "{ctx}");
    assert_eq!(
        r["userinfo"]["body"],
        json!({
            "sub": w.user_id,
            "name": "Alice Liddell",
            "preferred_username": USER,
            "tier": "gold",
            "email": "alice@example.com",
        }),
        "{ctx}"
    );
    // Revocation: 200, empty body; the refresh token is dead.
    assert_eq!(r["revoke"]["status"], 200, "{ctx}");
    assert_eq!(r["revoke"]["body_length"], 0, "{ctx}");
    assert_eq!(r["refresh_after_revoke"]["status"], 400, "{ctx}");
    assert_eq!(
        r["refresh_after_revoke"]["body"]["error"], "invalid_grant",
        "{ctx}"
    );
    // Userinfo with the revoked family's access token is refused (whether
    // the browser may read the 401 is `cors::userinfo_401_…`'s concern).
    assert_ne!(r["userinfo_after_revoke"]["status"], 200, "{ctx}");

    // On the server side: the whole session is over.
    let tokens = &r["tokens"];
    for k in ["first_access", "first_refresh", "access", "refresh"] {
        let token = tokens[k].as_str().unwrap_or_else(|| panic!("{k}: {ctx}"));
        assert_eq!(
            w.rs_sees(token).await,
            json!({"active": false}),
            "{k} after revocation"
        );
    }
    // The page was loaded twice (out and back) and nothing else was asked of it
    // but, perhaps, a favicon.
    let pages = seen.iter().filter(|s| s.as_str() == "GET /").count();
    assert_eq!(pages, 2, "{seen:?}");
}
