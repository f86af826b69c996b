//! A scripted, misbehaving upstream provider for the token vault's fault
//! tests (issue #22): an in-process HTTP/1.1 server on 127.0.0.1 (ephemeral
//! port) in the style of `fault_proxy.rs`, with no dependency beyond tokio.
//!
//! Every POST to its token path ([`ScriptedUpstream::token_url`]) is answered
//! by a model of a provider with **single-use, rotating refresh tokens and
//! reuse detection** (Maximizer, Profix: presenting a used refresh token
//! kills the whole grant; any later refresh is refused), unless the test's
//! script says otherwise for that request ([`Step`]): a delay, a connection
//! closed without an answer (optionally after the model rotated: the lost
//! answer), an HTML 500, a 302 to another path (never to be followed: hits
//! there are counted), a 429 with `Retry-After`, Keap's dead-grant answer,
//! or any raw answer. Knobs change every later answer: `expires_in` as a
//! number, a string or missing; no `refresh_token` in refresh answers; tokens
//! with `!` (Profix). It records every request (path, grant, form fields,
//! Basic credentials) so tests can assert client authentication and count
//! upstream calls per grant. The server stops when dropped.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What one request to the token path meets (the script is consumed in
/// order; once empty, every request gets [`Step::Model`]).
#[derive(Debug, Clone)]
pub enum Step {
    /// The model's answer.
    Model,
    /// Wait, then the model's answer (the model acts after the wait, as a
    /// slow server that still does its work).
    Delay(Duration),
    /// Read the request and close the connection: no answer, model untouched.
    Drop,
    /// The model acts (a refresh rotates), then the connection closes: the
    /// answer is lost after the upstream consumed the refresh token.
    DropAfterRotating,
    /// 500 with an HTML page.
    Html500,
    /// 302 to this server's `/elsewhere` (counted by [`ScriptedUpstream::hits`]).
    Redirect,
    /// 429 with `Retry-After: {secs}`.
    TooMany(u64),
    /// Keap's answer to a bad or used refresh token: 400 `invalid_request`
    /// "Invalid Refresh Token" (and the model's grant is dead).
    KeapInvalidRefresh,
    /// This status and JSON body, model untouched.
    Raw(u16, String),
}

/// How `expires_in` is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiresIn {
    Number(u64),
    /// A JSON string (B2C: `"3600"`).
    Text(String),
    Missing,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub grant_type: Option<String>,
    pub form: Vec<(String, String)>,
    /// `Authorization: Basic` as (client_id, client_secret), form-decoded.
    pub basic: Option<(String, String)>,
}

impl Request {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Model {
    script: VecDeque<Step>,
    expires_in: ExpiresIn,
    rotate: bool,
    bang: bool,
    serial: u64,
    current: Option<String>,
    used: HashSet<String>,
    dead: bool,
    requests: Vec<Request>,
}

pub struct ScriptedUpstream {
    addr: std::net::SocketAddr,
    model: Arc<Mutex<Model>>,
    task: JoinHandle<()>,
}

pub const TOKEN_PATH: &str = "/oauth/token";

impl ScriptedUpstream {
    pub async fn start() -> ScriptedUpstream {
        let model = Arc::new(Mutex::new(Model {
            script: VecDeque::new(),
            expires_in: ExpiresIn::Number(600),
            rotate: true,
            bang: false,
            serial: 0,
            current: None,
            used: HashSet::new(),
            dead: false,
            requests: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(accept_loop(listener, model.clone()));
        ScriptedUpstream { addr, model, task }
    }

    fn m(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:{port}/oauth/token`
    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.addr)
    }

    /// Scripts the next requests to the token path, after any already queued.
    pub fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.m().script.extend(steps);
    }

    pub fn set_expires_in(&self, e: ExpiresIn) {
        self.m().expires_in = e;
    }

    /// `false`: refresh answers carry no `refresh_token` (the old one stays live).
    pub fn set_rotation(&self, rotate: bool) {
        self.m().rotate = rotate;
    }

    /// Tokens and codes with `!` in them (Profix: `Gcp7!IAAAAB…`).
    pub fn set_bang(&self, bang: bool) {
        self.m().bang = bang;
    }

    /// Every request received so far, in order (any path).
    pub fn requests(&self) -> Vec<Request> {
        self.m().requests.clone()
    }

    /// Requests to the token path with this `grant_type`.
    pub fn count(&self, grant: &str) -> usize {
        self.m()
            .requests
            .iter()
            .filter(|r| r.path == TOKEN_PATH && r.grant_type.as_deref() == Some(grant))
            .count()
    }

    /// Requests to `path` (any method).
    pub fn hits(&self, path: &str) -> usize {
        self.m().requests.iter().filter(|r| r.path == path).count()
    }

    /// Whether reuse detection (or a Keap refusal) killed the grant.
    pub fn is_dead(&self) -> bool {
        self.m().dead
    }

    /// The live refresh token.
    pub fn current_refresh_token(&self) -> Option<String> {
        self.m().current.clone()
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, model: Arc<Mutex<Model>>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, _)) => {
                    let _ = sock.set_nodelay(true);
                    conns.spawn(serve(sock, model.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// An answer to write: status, headers, body.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn json(status: u16, body: serde_json::Value) -> Answer {
    Answer {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string(),
    }
}

impl Model {
    fn token(&mut self, kind: &str) -> String {
        self.serial += 1;
        if self.bang {
            format!("{kind}{}!IAAAAB{}", self.serial, self.serial)
        } else {
            format!("{kind}-{}-{}", self.serial, crate::helpers::random_alias())
        }
    }

    fn ok(&mut self, refresh_token: Option<String>) -> Answer {
        let mut body = serde_json::json!({
            "access_token": self.token("at"),
            "token_type": "Bearer",
            "scope": "api",
        });
        match &self.expires_in {
            ExpiresIn::Number(n) => body["expires_in"] = (*n).into(),
            ExpiresIn::Text(s) => body["expires_in"] = s.clone().into(),
            ExpiresIn::Missing => {}
        }
        if let Some(rt) = refresh_token {
            body["refresh_token"] = rt.into();
        }
        json(200, body)
    }

    fn fresh_grant(&mut self) -> Answer {
        let rt = self.token("rt");
        self.current = Some(rt.clone());
        self.used.clear();
        self.dead = false;
        self.ok(Some(rt))
    }

    /// The provider's work for one token request.
    fn act(&mut self, r: &Request) -> Answer {
        let invalid_grant = json(400, serde_json::json!({"error": "invalid_grant"}));
        match r.grant_type.as_deref() {
            Some("password" | "authorization_code") => self.fresh_grant(),
            Some("client_credentials") => self.ok(None),
            Some("refresh_token") => {
                let presented = r.field("refresh_token").unwrap_or("").to_owned();
                if self.dead || self.current.as_deref() != Some(presented.as_str()) {
                    if self.used.contains(&presented) {
                        // Reuse detection: the whole grant dies.
                        self.dead = true;
                        self.current = None;
                    }
                    return invalid_grant;
                }
                if !self.rotate {
                    return self.ok(None);
                }
                self.used.insert(presented);
                let next = self.token("rt");
                self.current = Some(next.clone());
                self.ok(Some(next))
            }
            _ => json(400, serde_json::json!({"error": "unsupported_grant_type"})),
        }
    }
}

async fn serve(mut sock: TcpStream, model: Arc<Mutex<Model>>) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let step = {
        let mut m = model.lock().unwrap();
        m.requests.push(req.clone());
        if req.path == TOKEN_PATH {
            m.script.pop_front().unwrap_or(Step::Model)
        } else {
            Step::Raw(404, r#"{"error":"not_found"}"#.into())
        }
    };
    let answer = match step {
        Step::Model => model.lock().unwrap().act(&req),
        Step::Delay(d) => {
            tokio::time::sleep(d).await;
            model.lock().unwrap().act(&req)
        }
        Step::Drop => return,
        Step::DropAfterRotating => {
            model.lock().unwrap().act(&req);
            return;
        }
        Step::Html500 => Answer {
            status: 500,
            headers: vec![("content-type", "text/html".into())],
            body: "<html><body><h1>500 Internal Server Error</h1></body></html>".into(),
        },
        Step::Redirect => {
            let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
            Answer {
                status: 302,
                headers: vec![("location", format!("http://127.0.0.1:{port}/elsewhere"))],
                body: String::new(),
            }
        }
        Step::TooMany(secs) => Answer {
            status: 429,
            headers: vec![("retry-after", secs.to_string())],
            body: "Too Many Requests".into(),
        },
        Step::KeapInvalidRefresh => {
            let mut m = model.lock().unwrap();
            m.dead = true;
            m.current = None;
            json(
                400,
                serde_json::json!({"error": "invalid_request", "error_description": "Invalid Refresh Token"}),
            )
        }
        Step::Raw(status, body) => Answer {
            status,
            headers: vec![("content-type", "application/json".into())],
            body,
        },
    };
    let mut out = format!(
        "HTTP/1.1 {} Scripted\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&answer.body);
    let _ = sock.write_all(out.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// One request (head and a Content-Length body); `None` on anything else.
async fn read_request(sock: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_len = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_len]).ok()?.to_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let (mut length, mut basic) = (0usize, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => basic = decode_basic(value.trim()),
            _ => {}
        }
    }
    while buf.len() < head_len + length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(&buf[head_len..head_len + length])
            .into_owned()
            .collect();
    let grant_type = form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.clone());
    Some(Request {
        path,
        grant_type,
        form,
        basic,
    })
}

fn decode_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

/// The harness itself: rotation, reuse detection, the faults, the records.
#[tokio::test]
async fn the_scripted_upstream_rotates_detects_reuse_and_plays_its_script() {
    let s = ScriptedUpstream::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        let req = http
            .post(s.token_url())
            .basic_auth("id%3Ax", Some("s%25y"))
            .form(&form);
        async move {
            match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    Ok((status, body))
                }
                Err(e) => Err(e),
            }
        }
    };
    let grant = |g: &str| vec![("grant_type", g.to_owned())];
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt.to_owned()),
        ]
    };
    let (st, v) = post(grant("password")).await.unwrap();
    assert_eq!(st, 200);
    let rt1 = v["refresh_token"].as_str().unwrap().to_owned();
    // Rotation: the next token works once.
    let (_, v) = post(refresh(&rt1)).await.unwrap();
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    // Lost after rotating: the client sees no answer, the token moved on.
    s.script([Step::DropAfterRotating]);
    assert!(post(refresh(&rt2)).await.is_err());
    let rt3 = s.current_refresh_token().unwrap();
    assert_ne!(rt3, rt2);
    // Reusing a used token kills the grant, even its live successor.
    let (st, v) = post(refresh(&rt2)).await.unwrap();
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_grant")));
    assert!(s.is_dead());
    assert_eq!(post(refresh(&rt3)).await.unwrap().0, 400);
    // A fresh grant revives; without rotation the same token keeps working.
    let (_, v) = post(grant("password")).await.unwrap();
    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    s.set_rotation(false);
    for _ in 0..2 {
        let (st, v) = post(refresh(&rt)).await.unwrap();
        assert_eq!(st, 200);
        assert!(v.get("refresh_token").is_none());
    }
    // Keap's dead grant; a delay; the records.
    s.script([Step::KeapInvalidRefresh]);
    let (st, v) = post(refresh(&rt)).await.unwrap();
    assert_eq!(
        (st, v["error_description"].as_str()),
        (400, Some("Invalid Refresh Token"))
    );
    s.script([Step::Delay(Duration::from_millis(300))]);
    let started = std::time::Instant::now();
    assert_eq!(post(grant("client_credentials")).await.unwrap().0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(s.count("refresh_token"), 7);
    let r = &s.requests()[0];
    assert_eq!(r.basic, Some(("id:x".to_owned(), "s%y".to_owned())));
    assert_eq!(r.field("grant_type"), Some("password"));
}
