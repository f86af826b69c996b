//! An HTTP fuzzer for every public route of Tollgate (authorize, callback,
//! token, refresh, change-password, discovery, introspect, revoke, userinfo,
//! and CORS preflights of all of them), shared by the integration
//! test (`integration/fuzz.rs`, a bounded run with a fixed seed) and the
//! `tollgate-fuzz` command (`make fuzz`, against a running `make dev` stack).
//!
//! Each request is either random or a valid baseline request (a real tenant,
//! a confidential client with every grant, a public client, real users, and
//! fresh login transactions, codes and refresh tokens taken from the stack)
//! with a few mutations: parameters dropped, duplicated or repeated thousands
//! of times, values 10-100 KB long, NUL / control / non-ASCII / invalid UTF-8
//! bytes, invalid percent-escapes, bodies just over 64 KiB, malformed `Basic`
//! headers, wrong content types, odd methods, random paths and tenant
//! segments, `OPTIONS` preflights from registered, foreign and malformed
//! origins. Every response is checked: never 5xx (503 included: no outage is
//! simulated), an answer within the client timeout, RFC 6749 / RFC 6750 error
//! JSON (code and `error_description` characters) on the JSON endpoints, a
//! `WWW-Authenticate` challenge where RFC 6749 §5.2 / RFC 6750 §3 require one,
//! RFC 7662 / RFC 7009 answer shapes, `text/html` error pages on authorize and
//! callback, and the CORS rules (SPEC: Browser clients): never
//! `Access-Control-Allow-Credentials`, no CORS header at all on authorize and
//! callback, `Access-Control-Allow-Origin` only `*` on discovery or the
//! request's own origin when that origin is registered for a client.
//!
//! Request `i` is generated from its own `StdRng` seeded with `(seed, i)`;
//! only the fresh tokens taken from the stack differ between two runs.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The registered redirect URI of both fuzz clients (the harness uses the same).
pub const REDIRECT: &str = "https://client.example/cb";
/// RFC 7636 Appendix B: a verifier and its S256 challenge.
pub const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGCCwAnQ8c";
/// Largest body Tollgate must accept; one byte more is 413 (SPEC, Bad input).
pub const MAX_BODY: usize = 64 * 1024;
/// The longest URL the HTTP client can send.
const MAX_URL: usize = 65_000;
/// The longest body sent: well over [`MAX_BODY`] (so still a 413), far
/// under what a function URL accepts (6 MB). Mutations compose (a 64 KiB
/// value repeated thousands of times is hundreds of MB); sending that would
/// time the client out, not test Tollgate.
const MAX_SEND: usize = 1024 * 1024;

/// A loopback redirect URI of the confidential client (any port matches).
pub const LOOPBACK: &str = "http://127.0.0.1/cb";
/// The confidential client's registered web origin (`--web-origin`).
pub const CONFIDENTIAL_ORIGIN: &str = "https://app.fuzz.example";
/// The public client's registered web origin.
pub const PUBLIC_ORIGIN: &str = "http://127.0.0.1:8080";
/// Every origin registered for a client of the fuzzed tenant.
pub const REGISTERED_ORIGINS: &[&str] = &[CONFIDENTIAL_ORIGIN, PUBLIC_ORIGIN];
/// `tollgate-admin client create` arguments (after `--tenant`/`--name`) of the
/// confidential client: every grant, a web origin, and a resource server's
/// right to introspect every token.
pub const CONFIDENTIAL_CLIENT: &[&str] = &[
    "--grant",
    "authorization_code",
    "client_credentials",
    "password",
    "implicit",
    "token_exchange",
    "--redirect-uri",
    REDIRECT,
    LOOPBACK,
    "--scope",
    "api",
    "--web-origin",
    CONFIDENTIAL_ORIGIN,
    "--introspect",
];
/// The public client: code (PKCE) and password, a web origin.
pub const PUBLIC_CLIENT: &[&str] = &[
    "--grant",
    "authorization_code",
    "password",
    "--public",
    "--redirect-uri",
    REDIRECT,
    "--scope",
    "api",
    "--web-origin",
    PUBLIC_ORIGIN,
];
/// The user whose credentials are never mutated: it logs in to mint fresh
/// codes and refresh tokens. Every password check counts toward the throttle
/// (5 per user per 15 minutes, successes included), so after its first few
/// logins of a run the fuzzer falls back to cached codes and refresh tokens;
/// fresh access tokens come from private sessions started before the run
/// (rotated, never replayed: no password check).
pub const MAIN_USER: &str = "fuzz-main";
/// Users that mutated requests name (they may end up throttled or with a
/// changed password; the fuzzer follows password changes).
pub const VICTIM_USERS: &[(&str, &[&str])] = &[
    (
        "fuzz-alice",
        &["--email", "alice@fuzz.example", "--name", "Alice"],
    ),
    ("fuzz-bob", &["--attr", "tier=gold"]),
    ("fuzz-carol", &[]),
    ("fuzz-dave", &["--require-password-change"]),
];

/// What the fuzzer talks to: one provisioned tenant of a running stack.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://127.0.0.1:9000/lambda-url/{function}`
    pub url_template: String,
    pub tenant: String,
    pub confidential_id: String,
    pub confidential_secret: String,
    pub public_id: String,
    /// (username, user_id) of [`MAIN_USER`].
    pub main_user: (String, String),
    /// (username, user_id) of every [`VICTIM_USERS`] entry.
    pub victims: Vec<(String, String)>,
    /// The password every user was created with.
    pub password: String,
}

impl Target {
    pub fn base(&self, function: &str) -> String {
        self.url_template.replace("{function}", function)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub requests: usize,
    pub seed: u64,
    pub concurrency: usize,
    /// Client timeout per request: a slower answer is a failure.
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Authorize,
    Callback,
    Token,
    Refresh,
    ChangePassword,
    Discovery,
    Introspect,
    Revoke,
    Userinfo,
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Authorize,
        Endpoint::Callback,
        Endpoint::Token,
        Endpoint::Refresh,
        Endpoint::ChangePassword,
        Endpoint::Discovery,
        Endpoint::Introspect,
        Endpoint::Revoke,
        Endpoint::Userinfo,
    ];

    pub fn function(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::Callback => "callback",
            Endpoint::Token => "token",
            Endpoint::Refresh => "refresh",
            Endpoint::ChangePassword => "change-password",
            Endpoint::Discovery => "discovery",
            Endpoint::Introspect => "introspect",
            Endpoint::Revoke => "revoke",
            Endpoint::Userinfo => "userinfo",
        }
    }

    /// Endpoints whose requests are form POSTs (userinfo is a GET, or a POST
    /// only when the token travels in the body).
    fn is_post(self) -> bool {
        !matches!(
            self,
            Endpoint::Authorize | Endpoint::Discovery | Endpoint::Userinfo
        )
    }

    fn is_html(self) -> bool {
        matches!(self, Endpoint::Authorize | Endpoint::Callback)
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// One form or query parameter. `raw` parts are written as they are (so they
/// can carry `&`, `=`, bad escapes or invalid UTF-8); the others are
/// percent-encoded byte by byte.
#[derive(Clone, Debug)]
struct Pair {
    k: Vec<u8>,
    v: Vec<u8>,
    raw: bool,
}

fn pair(k: &str, v: &str) -> Pair {
    Pair {
        k: k.as_bytes().to_vec(),
        v: v.as_bytes().to_vec(),
        raw: false,
    }
}

fn pct_bytes(out: &mut Vec<u8>, b: &[u8]) {
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
    }
}

fn encode_pairs(pairs: &[Pair]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        if p.raw {
            out.extend_from_slice(&p.k);
            out.push(b'=');
            out.extend_from_slice(&p.v);
        } else {
            pct_bytes(&mut out, &p.k);
            out.push(b'=');
            pct_bytes(&mut out, &p.v);
        }
    }
    out
}

/// Bytes that cannot stand in a URL as they are get percent-encoded (a URL is
/// a `str`); everything else, bad escapes included, is kept.
fn url_safe(raw: &[u8], keep_slash: bool) -> String {
    let mut s = String::with_capacity(raw.len());
    for &c in raw {
        // What the URL parser would encode anyway is encoded here, so that
        // the length of the URL sent is known.
        let keep = c.is_ascii_graphic()
            && !b"#\"<>`{}|\\^' ".contains(&c)
            && (keep_slash || c != b'/')
            && (keep_slash || c != b'?');
        if keep {
            s.push(c as char);
        } else {
            let _ = write!(s, "%{c:02X}");
        }
    }
    s
}

/// A request under construction.
#[derive(Clone, Debug)]
struct Draft {
    endpoint: Endpoint,
    method: String,
    /// After the function's base URL, starting with `/`.
    path: String,
    path_mutated: bool,
    query: Vec<Pair>,
    query_raw: Option<Vec<u8>>,
    body: Vec<Pair>,
    body_raw: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    notes: Vec<String>,
    /// Set when a change-password request names this victim (index).
    victim: Option<usize>,
    /// The parameters travel in a form body (a POST endpoint, or userinfo
    /// with `access_token` in the body).
    form_body: bool,
}

impl Draft {
    fn new(endpoint: Endpoint, method: &str, path: String) -> Draft {
        Draft {
            endpoint,
            method: method.to_owned(),
            path,
            path_mutated: false,
            query: Vec::new(),
            query_raw: None,
            body: Vec::new(),
            body_raw: None,
            content_type: if endpoint.is_post() {
                Some(b"application/x-www-form-urlencoded".to_vec())
            } else {
                None
            },
            headers: Vec::new(),
            notes: Vec::new(),
            victim: None,
            form_body: endpoint.is_post(),
        }
    }

    fn set_header(&mut self, name: &str, v: Vec<u8>) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_owned(), v));
    }

    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    /// The parameters a mutation works on: the body for POST endpoints, the
    /// query for GET ones (and, now and then, the other).
    fn params_mut(&mut self, rng: &mut StdRng) -> &mut Vec<Pair> {
        let body = self.form_body != rng.gen_bool(0.08);
        if body {
            &mut self.body
        } else {
            &mut self.query
        }
    }

    fn finish(self, target: &Target) -> FuzzRequest {
        let mut url = format!(
            "{}{}",
            target.base(self.endpoint.function()),
            url_safe(self.path.as_bytes(), true)
        );
        let query = match self.query_raw {
            Some(q) => Some(q),
            None if !self.query.is_empty() => Some(encode_pairs(&self.query)),
            None => None,
        };
        if let Some(q) = query {
            url.push('?');
            url.push_str(&url_safe(&q, true));
        }
        let mut notes = self.notes;
        if url.len() > MAX_URL {
            // The client cannot send more (`http::Uri` is at most 64 KiB).
            url.truncate(MAX_URL);
            if let Some(i) = url[url.len() - 2..].find('%') {
                url.truncate(url.len() - 2 + i);
            }
            notes.push(format!("URL cut to {} bytes (client limit)", url.len()));
        }
        let mut body = match self.body_raw {
            Some(b) => b,
            None => encode_pairs(&self.body),
        };
        if body.len() > MAX_SEND {
            notes.push(format!("body cut from {} to {MAX_SEND} bytes", body.len()));
            body.truncate(MAX_SEND);
        }
        let mut headers = self.headers;
        if let Some(ct) = self.content_type {
            headers.push(("content-type".to_owned(), ct));
        }
        let real_post = !self.path_mutated && self.endpoint.is_post() && self.method == "POST";
        // Userinfo reads a body only when it is a form; whether another error
        // comes first (a token in the query) is its own business.
        let form_ct = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .is_some_and(|(_, v)| is_form_ct(&String::from_utf8_lossy(v)));
        let any_post = !self.path_mutated
            && self.method == "POST"
            && (self.endpoint.is_post() || (self.endpoint == Endpoint::Userinfo && form_ct));
        FuzzRequest {
            endpoint: self.endpoint,
            real_post,
            any_post,
            method: self.method,
            url,
            headers,
            body,
            notes,
            victim: self.victim,
        }
    }
}

/// A request ready to send.
#[derive(Clone, Debug)]
pub struct FuzzRequest {
    pub endpoint: Endpoint,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// What was done to the baseline, for the report.
    pub notes: Vec<String>,
    /// A POST to the endpoint's real route: 413 exactly when the body is
    /// over 64 KiB.
    pub real_post: bool,
    /// A POST whose body the endpoint parses: never 413 for 64 KiB or less.
    pub any_post: bool,
    victim: Option<usize>,
}

fn escape_bytes(b: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(max.min(b.len()) + 16);
    for &c in b.iter().take(max) {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if b.len() > max {
        let _ = write!(s, "…[+{} bytes]", b.len() - max);
    }
    s
}

impl FuzzRequest {
    /// A reproducible description: method, URL, headers, the start of the body.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {}\n",
            self.method,
            escape_bytes(self.url.as_bytes(), 400)
        );
        for (n, v) in &self.headers {
            let _ = writeln!(s, "    {n}: {}", escape_bytes(v, 200));
        }
        let _ = writeln!(
            s,
            "    body ({} bytes): {}",
            self.body.len(),
            escape_bytes(&self.body, 400)
        );
        if !self.notes.is_empty() {
            let _ = writeln!(s, "    mutations: {}", self.notes.join("; "));
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// Values that break parsers: (bytes, raw).
const NASTY: &[(&[u8], bool)] = &[
    (b"", false),
    (b" ", false),
    (b"\0", false),
    (b"\0", true),
    (b"api\0openid", false),
    (b"\x01\x02\x1b\x1f\x7f", true),
    (b"\x01\x02\x1b\x1f\x7f", false),
    (b"\r\n\t\x0b\x0c", false),
    (b"\r\nSet-Cookie: x=y", false),
    (b"\"\\", false),
    (b"\"\\<>'&;`", false),
    ("é".as_bytes(), false),
    ("é".as_bytes(), true),
    ("日本語のテキスト".as_bytes(), false),
    ("😀👍🏽".as_bytes(), true),
    ("\u{202e}gnp.exe".as_bytes(), false),
    ("\u{feff}\u{200b}".as_bytes(), false),
    ("ǅ\u{0301}\u{0308}".as_bytes(), false),
    (b"\xff\xfe", true),
    (b"\xff\xfe", false),
    (b"\xc3", false),
    (b"\xc3(", true),
    (b"\xed\xa0\x80", false),
    (b"\xc0\xaf", false),
    (b"\xf4\x90\x80\x80", false),
    (b"%", true),
    (b"%G1", true),
    (b"%zz", true),
    (b"%%", true),
    (b"%4", true),
    (b"%00", true),
    (b"%ff%fe", true),
    (b"%C3%28", true),
    (b"%ED%A0%80", true),
    (b"%u0041", true),
    (b"%%32%35", true),
    (b"+", true),
    (b"+++", true),
    (b"%2B", true),
    (b"a=b&c=d", true),
    (b"=", true),
    (b"&&&", true),
    (b"null", false),
    (b"0", false),
    (b"-1", false),
    (b"99999999999999999999999999999999", false),
    (b"[]", false),
    (b"{\"a\":1}", false),
    (b"true", false),
    (b"../../../etc/passwd", false),
    (b"<script>alert(1)</script>", false),
    (b"${jndi:ldap://x/a}", false),
    (b"%s%s%n%x", false),
];

fn random_ascii(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.gen_range(0x20u8..0x7f)).collect()
}

fn random_alnum(rng: &mut StdRng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

fn random_token(rng: &mut StdRng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

fn random_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.r#gen::<u8>()).collect()
}

/// A value of `len` bytes in one of several shapes. Returns (bytes, raw).
fn long_value(rng: &mut StdRng, len: usize) -> (Vec<u8>, bool, &'static str) {
    match rng.gen_range(0..6) {
        0 => (vec![b'A'; len], false, "A"),
        1 => (random_alnum(rng, len).into_bytes(), false, "alnum"),
        2 => ("é".repeat(len / 2).into_bytes(), false, "é"),
        3 => (random_ascii(rng, len), false, "printable"),
        4 => (b"%41".repeat(len / 3), true, "%41"),
        _ => (random_bytes(rng, len), false, "random bytes"),
    }
}

fn long_len(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..4) {
        0 => rng.gen_range(10_000..20_000),
        1 => rng.gen_range(20_000..MAX_BODY - 200),
        2 => rng.gen_range(MAX_BODY - 200..MAX_BODY + 200),
        _ => rng.gen_range(MAX_BODY..100_000),
    }
}

/// Field-specific values that are plausible but wrong (or right).
fn specials(target: &Target, rng: &mut StdRng, key: &[u8]) -> Vec<Vec<u8>> {
    let s = |v: &str| v.as_bytes().to_vec();
    let mut out: Vec<Vec<u8>> = match key {
        b"subject_token_type" | b"actor_token_type" | b"requested_token_type" => [
            "urn:ietf:params:oauth:token-type:access_token",
            "urn:ietf:params:oauth:token-type:jwt",
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:ietf:params:oauth:token-type:refresh_token",
            "urn:ietf:params:oauth:token-type:saml2",
            "",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"grant_type" => [
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "implicit",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:device_code",
            "AUTHORIZATION_CODE",
            "password ",
            "refresh_token\0",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"scope" => {
            let many: Vec<String> = (0..rng.gen_range(60..3000))
                .map(|i| format!("s{i}"))
                .collect();
            vec![
                s("api"),
                s("openid"),
                s("api api api"),
                s("offline_access"),
                s("api openid profile email offline_access"),
                s("unknown-scope"),
                s("API"),
                s("api\topenid"),
                s("  api  "),
                many.join(" ").into_bytes(),
                "api ".repeat(rng.gen_range(65..5000)).into_bytes(),
            ]
        }
        b"redirect_uri" => vec![
            s(REDIRECT),
            s("https://evil.example/cb"),
            format!("{REDIRECT}?x=1").into_bytes(),
            format!("{REDIRECT}#frag").into_bytes(),
            format!("{REDIRECT}/").into_bytes(),
            s("HTTPS://CLIENT.EXAMPLE/cb"),
            s("http://client.example/cb"),
            s(LOOPBACK),
            s("http://127.0.0.1:1/cb"),
            s("http://127.0.0.1:65535/cb"),
            s("http://127.0.0.1:65536/cb"),
            s("http://127.0.0.1:0/cb"),
            s("http://127.0.0.1:08080/cb"),
            s("http://127.0.0.1:99999999999999999999/cb"),
            s("http://127.0.0.1:/cb"),
            s("http://127.0.0.1:8080"),
            s("http://127.0.0.1:8080/cb?x=%0d%0a"),
            s("http://127.0.0.1:8080/cb#x"),
            s("http://127.0.0.1:8080/CB"),
            s("http://127.0.0.1.evil.example/cb"),
            s("http://[::1]:65535/cb"),
            s("javascript:alert(1)"),
            s("data:text/html,<b>x</b>"),
            s("https://client.example/cb/../cb"),
            s("https://client.example:443/cb"),
            s("https://client.example@evil.example/cb"),
            s("//evil.example/cb"),
            s("not a url"),
            format!("{REDIRECT}{}", "a".repeat(rng.gen_range(1990..3000))).into_bytes(),
        ],
        b"response_type" => [
            "code",
            "token",
            "code token",
            "id_token",
            "CODE",
            "none",
            " code",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"code_challenge_method" => ["S256", "plain", "s256", "S512", "S256 "]
            .iter()
            .map(|v| s(v))
            .collect(),
        b"code_challenge" | b"code_verifier" => vec![
            s(PKCE_CHALLENGE),
            s(PKCE_VERIFIER),
            random_token(rng, 42).into_bytes(),
            random_token(rng, 43).into_bytes(),
            random_token(rng, 128).into_bytes(),
            random_token(rng, 129).into_bytes(),
            s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGCCwAnQ8c="),
            s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGCCwAn+/c"),
            "é".repeat(43).into_bytes(),
        ],
        b"client_id" => vec![
            s(&target.confidential_id),
            s(&target.public_id),
            s(&target.confidential_id.to_ascii_lowercase()),
            s(&target.confidential_id[..19]),
            format!("{}x", target.confidential_id).into_bytes(),
            random_alnum(rng, 20).into_bytes(),
            format!("{} ", target.confidential_id).into_bytes(),
        ],
        b"client_secret" => vec![
            s(&target.confidential_secret),
            format!("{}x", target.confidential_secret).into_bytes(),
            s(&target.confidential_secret[..63]),
            s(&target.confidential_secret.to_ascii_uppercase()),
            random_alnum(rng, 64).into_bytes(),
        ],
        b"decision" => ["allow", "deny", "ALLOW", "allow deny", "maybe"]
            .iter()
            .map(|v| s(v))
            .collect(),
        b"prompt" => ["none", "login", "consent none", "select_account"]
            .iter()
            .map(|v| s(v))
            .collect(),
        b"code" | b"refresh_token" | b"token" | b"access_token" => {
            let mut v: Vec<Vec<u8>> = [1, 22, 43, 44, 255, 256, 257, 4096, 8193]
                .iter()
                .map(|n| random_token(rng, *n).into_bytes())
                .collect();
            // JWT-shaped: three parts, a header that parses, or not.
            let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
            let c = URL_SAFE_NO_PAD.encode(r#"{"iss":"x","sub":"y","exp":99999999999}"#);
            v.push(format!("{h}.{c}.").into_bytes());
            v.push(format!("{h}.{c}.{}", random_token(rng, 86)).into_bytes());
            v.push(b"a.b.c".to_vec());
            v.push(b"..".to_vec());
            v.push(
                format!(
                    "eyJ{}.eyJ{}.{}",
                    random_token(rng, 30),
                    random_token(rng, 200),
                    random_token(rng, 86)
                )
                .into_bytes(),
            );
            v
        }
        b"token_type_hint" => [
            "access_token",
            "refresh_token",
            "id_token",
            "ACCESS_TOKEN",
            "urn:ietf:params:oauth:token-type:jwt",
            "",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"username" | b"userid" | b"login_hint" => {
            let (name, id) = &target.victims[rng.gen_range(0..target.victims.len())];
            vec![
                s(name),
                s(id),
                s(&name.to_ascii_uppercase()),
                format!(" {name} ").into_bytes(),
                format!("{name}@{}", target.tenant).into_bytes(),
                s("nobody-at-all"),
                random_token(rng, 64).into_bytes(),
                random_token(rng, 65).into_bytes(),
                random_ascii(rng, 257),
            ]
        }
        b"password" | b"newpassword" => vec![
            s(&target.password),
            s("x"),
            s("short"),
            random_ascii(rng, 256),
            random_ascii(rng, 257),
            random_ascii(rng, 1025),
            "é".repeat(200).into_bytes(),
        ],
        b"tx" => vec![
            random_token(rng, 300).into_bytes(),
            s("a.b"),
            s(".."),
            s("eyJhbGciOiJub25lIn0.e30."),
        ],
        _ => Vec::new(),
    };
    out.push({
        let n = rng.gen_range(1..64);
        random_ascii(rng, n)
    });
    out
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

fn pick_index(rng: &mut StdRng, len: usize) -> Option<usize> {
    (len > 0).then(|| rng.gen_range(0..len))
}

fn key_name(p: &Pair) -> String {
    escape_bytes(&p.k, 24)
}

/// Pair-level mutation of the draft's parameters.
fn mutate_params(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    let op = rng.gen_range(0..14);
    let params = d.params_mut(rng);
    let note = match op {
        // Drop a parameter.
        0 => match pick_index(rng, params.len()) {
            Some(i) => format!("drop {}", key_name(&params.remove(i))),
            None => "drop (none)".to_owned(),
        },
        // Duplicate one, same or different value.
        1 => match pick_index(rng, params.len()) {
            Some(i) => {
                let mut p = params[i].clone();
                let same = rng.gen_bool(0.5);
                if !same {
                    p.v = random_alnum(rng, 8).into_bytes();
                    p.raw = false;
                }
                let at = rng.gen_range(0..=params.len());
                let n = format!(
                    "duplicate {} ({})",
                    key_name(&p),
                    if same { "same value" } else { "other value" }
                );
                params.insert(at, p);
                n
            }
            None => "duplicate (none)".to_owned(),
        },
        // Repeat one thousands of times.
        2 => match pick_index(rng, params.len()) {
            Some(i) => {
                let n = rng.gen_range(100..6000);
                let p = params[i].clone();
                for _ in 0..n {
                    params.push(p.clone());
                }
                format!("repeat {} x{n}", key_name(&p))
            }
            None => "repeat (none)".to_owned(),
        },
        // Thousands of distinct junk parameters.
        3 => {
            let n = rng.gen_range(100..5000);
            for j in 0..n {
                params.push(pair(&format!("p{j}"), "x"));
            }
            format!("{n} junk parameters")
        }
        // A very long value.
        4 | 5 => match pick_index(rng, params.len()) {
            Some(i) => {
                let len = long_len(rng);
                let (v, raw, shape) = long_value(rng, len);
                params[i].v = v;
                params[i].raw = raw;
                format!("long {} ({len} bytes of {shape})", key_name(&params[i]))
            }
            None => "long (none)".to_owned(),
        },
        // A nasty value.
        6 | 7 => match pick_index(rng, params.len()) {
            Some(i) => {
                let (v, raw) = NASTY[rng.gen_range(0..NASTY.len())];
                params[i].v = v.to_vec();
                params[i].raw = raw;
                format!(
                    "{} = {}{}",
                    key_name(&params[i]),
                    escape_bytes(v, 40),
                    if raw { " (raw)" } else { "" }
                )
            }
            None => "nasty (none)".to_owned(),
        },
        // A field-specific value.
        8 | 9 => match pick_index(rng, params.len()) {
            Some(i) => {
                let opts = specials(target, rng, &params[i].k);
                let v = opts[rng.gen_range(0..opts.len())].clone();
                let n = format!("{} = {}", key_name(&params[i]), escape_bytes(&v, 60));
                params[i].v = v;
                params[i].raw = false;
                n
            }
            None => "special (none)".to_owned(),
        },
        // Mangle a key.
        10 => match pick_index(rng, params.len()) {
            Some(i) => {
                let old = key_name(&params[i]);
                let k = &mut params[i].k;
                match rng.gen_range(0..7) {
                    0 => k.make_ascii_uppercase(),
                    1 => k.push(b' '),
                    2 => k.extend_from_slice("é".as_bytes()),
                    3 => k.clear(),
                    4 => k.extend_from_slice(b"\"\\\x01\x7f<"),
                    5 => *k = vec![b'k'; 5000],
                    _ => {
                        k.extend_from_slice(b"\xff%zz");
                        params[i].raw = true;
                    }
                }
                // Twice, now and then: a repeated name is echoed in errors.
                if rng.gen_bool(0.5) {
                    let p = params[i].clone();
                    params.push(p);
                }
                format!("key {old} -> {}", key_name(&params[i]))
            }
            None => "key (none)".to_owned(),
        },
        // Another parameter's value.
        11 => {
            if params.len() >= 2 {
                let a = rng.gen_range(0..params.len());
                let b = rng.gen_range(0..params.len());
                let v = params[b].v.clone();
                params[a].v = v;
                format!(
                    "{} gets the value of {}",
                    key_name(&params[a]),
                    key_name(&params[b])
                )
            } else {
                "swap (none)".to_owned()
            }
        }
        // Damage a value: truncate, flip or insert a byte.
        12 => match pick_index(rng, params.len()) {
            Some(i) => {
                let v = &mut params[i].v;
                let what = if v.is_empty() {
                    v.push(rng.r#gen());
                    "insert"
                } else {
                    let at = rng.gen_range(0..v.len());
                    match rng.gen_range(0..3) {
                        0 => {
                            v.truncate(at);
                            "truncate"
                        }
                        1 => {
                            v[at] ^= 1 << rng.gen_range(0..8);
                            "flip a bit in"
                        }
                        _ => {
                            v.insert(at, rng.r#gen());
                            "insert a byte into"
                        }
                    }
                };
                format!("{what} {}", key_name(&params[i]))
            }
            None => "damage (none)".to_owned(),
        },
        // A new parameter with a surprising name.
        _ => {
            let names: &[&str] = &[
                "client_secret",
                "client_id",
                "scope",
                "audience",
                "resource",
                "request",
                "request_uri",
                "assertion",
                "client_assertion",
                "client_assertion_type",
                "response_mode",
                "nonce",
                "max_age",
                "claims",
                "id_token_hint",
            ];
            let name = names[rng.gen_range(0..names.len())];
            let v = {
                let n = rng.gen_range(1..200);
                random_ascii(rng, n)
            };
            params.push(Pair {
                k: name.as_bytes().to_vec(),
                v,
                raw: false,
            });
            format!("add {name}")
        }
    };
    d.note(note);
}

/// Body-level mutation (after encoding).
fn mutate_body(rng: &mut StdRng, d: &mut Draft) {
    let mut body = d.body_raw.take().unwrap_or_else(|| encode_pairs(&d.body));
    let note = match rng.gen_range(0..8) {
        0 => {
            let at = rng.gen_range(0..=body.len());
            body.truncate(at);
            format!("body truncated at {at}")
        }
        1 => {
            let n = rng.gen_range(1..8);
            for _ in 0..n {
                if body.is_empty() {
                    body.push(rng.r#gen());
                } else {
                    let at = rng.gen_range(0..body.len());
                    body[at] = rng.r#gen();
                }
            }
            format!("{n} random bytes in the body")
        }
        2 => {
            // Just over the limit: 64 KiB + 1..=64 bytes.
            let want = MAX_BODY + rng.gen_range(1..=64);
            if body.len() < want {
                body.extend_from_slice(b"&pad=");
                body.resize(want, b'a');
            }
            format!("body padded to {} bytes (just over 64 KiB)", body.len())
        }
        3 => {
            // Exactly at the limit: must not be 413.
            if body.len() < MAX_BODY {
                body.extend_from_slice(b"&pad=");
                body.resize(MAX_BODY, b'a');
            }
            format!("body padded to {} bytes", body.len())
        }
        4 => {
            let n = rng.gen_range(0..4000);
            body = random_bytes(rng, n);
            format!("body = {n} random bytes")
        }
        5 => {
            // The same parameters as JSON.
            let mut m = serde_json::Map::new();
            for p in &d.body {
                m.insert(
                    String::from_utf8_lossy(&p.k).into_owned(),
                    Value::String(String::from_utf8_lossy(&p.v).into_owned()),
                );
            }
            body = Value::Object(m).to_string().into_bytes();
            if rng.gen_bool(0.5) {
                d.content_type = Some(b"application/json".to_vec());
            }
            "body as JSON".to_owned()
        }
        6 => {
            body.clear();
            "empty body".to_owned()
        }
        _ => {
            let sep: &[u8] = [&b"&"[..], b";", b"\n", b"&&", b"\r\n"][rng.gen_range(0..5)];
            let joined: Vec<u8> = body.split(|b| *b == b'&').collect::<Vec<_>>().join(sep);
            body = joined;
            format!("separator {}", escape_bytes(sep, 4))
        }
    };
    d.body_raw = Some(body);
    d.note(note);
}

/// Now and then, the `Origin` a browser app of the client would send.
fn maybe_origin(rng: &mut StdRng, d: &mut Draft, kind: Kind) {
    if rng.gen_bool(0.3) {
        let origin = match kind {
            Kind::Confidential => CONFIDENTIAL_ORIGIN,
            Kind::Public => PUBLIC_ORIGIN,
        };
        d.set_header("origin", origin.as_bytes().to_vec());
    }
}

fn basic(id: &str, secret: &str) -> Vec<u8> {
    let mut raw = Vec::new();
    pct_bytes(&mut raw, id.as_bytes());
    raw.push(b':');
    pct_bytes(&mut raw, secret.as_bytes());
    format!("Basic {}", STANDARD.encode(raw)).into_bytes()
}

fn mutate_headers(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    let note = match rng.gen_range(0..4) {
        0 | 1 => {
            let cts: &[&[u8]] = &[
                b"application/json",
                b"text/plain",
                b"multipart/form-data; boundary=xyz",
                b"application/x-www-form-urlencoded; charset=ISO-8859-1",
                b"application/x-www-form-urlencoded;charset=UTF-8",
                b"APPLICATION/X-WWW-FORM-URLENCODED",
                b"application/x-www-form-urlencodedX",
                b"application/x-www-form-urlencoded, text/plain",
                b"",
                b";",
                b"application/x-www-form-urlencoded; charset=\xff\xfe",
                b"text/html",
                b"application/octet-stream",
            ];
            if rng.gen_bool(0.15) {
                d.content_type = None;
                "no content-type".to_owned()
            } else {
                let ct = cts[rng.gen_range(0..cts.len())];
                d.content_type = Some(ct.to_vec());
                format!("content-type {}", escape_bytes(ct, 60))
            }
        }
        2 => {
            let id = &target.confidential_id;
            let sec = &target.confidential_secret;
            let b64 = |s: &[u8]| STANDARD.encode(s).into_bytes();
            let mut opts: Vec<Vec<u8>> = vec![
                b"Basic".to_vec(),
                b"Basic ".to_vec(),
                b"Basic !!!not-base64!!!".to_vec(),
                [b"Basic ".as_slice(), &b64(b"no-colon-here")].concat(),
                [b"Basic ".as_slice(), &b64(b"\xff\xfe:\xff")].concat(),
                [b"Basic ".as_slice(), &b64(b"%zz:%")].concat(),
                [b"Basic ".as_slice(), &b64(b":")].concat(),
                [
                    b"Basic ".as_slice(),
                    &b64(format!("{id}:{sec}:extra").as_bytes()),
                ]
                .concat(),
                [
                    b"Basic ".as_slice(),
                    URL_SAFE_NO_PAD.encode(format!("{id}:{sec}")).as_bytes(),
                ]
                .concat(),
                [
                    b"basic   ".as_slice(),
                    &b64(format!("{id}:{sec}").as_bytes()),
                ]
                .concat(),
                basic(id, &format!("{sec}x")),
                basic(&target.public_id, ""),
                basic(&target.public_id, "x"),
                basic(&"A".repeat(5000), sec),
                basic(id, &"é".repeat(2000)),
                format!("Bearer {}", random_token(rng, 40)).into_bytes(),
                b"Bearer".to_vec(),
                b"Bearer ".to_vec(),
                b"bearer a.b.c".to_vec(),
                format!("Bearer {}", "e".repeat(9000)).into_bytes(),
                b"Bearer \xff\xfe".to_vec(),
                b"Digest username=\"x\"".to_vec(),
                b"Basic \xe9\xe9\xe9".to_vec(),
                [b"Basic ".as_slice(), &b64(&random_bytes(rng, 64))].concat(),
                [b"Basic ".as_slice(), &vec![b'A'; 7000]].concat(),
            ];
            let v = opts.swap_remove(rng.gen_range(0..opts.len()));
            let n = format!("authorization: {}", escape_bytes(&v, 60));
            if rng.gen_bool(0.1) {
                d.headers.retain(|(n, _)| n != "authorization");
                "no authorization".to_owned()
            } else {
                d.set_header("authorization", v);
                n
            }
        }
        _ => {
            let origin = target
                .base("authorize")
                .split('/')
                .take(3)
                .collect::<Vec<_>>()
                .join("/");
            let opts: Vec<Vec<u8>> = vec![
                origin.clone().into_bytes(),
                CONFIDENTIAL_ORIGIN.as_bytes().to_vec(),
                PUBLIC_ORIGIN.as_bytes().to_vec(),
                format!("{CONFIDENTIAL_ORIGIN}/").into_bytes(),
                CONFIDENTIAL_ORIGIN.to_ascii_uppercase().into_bytes(),
                b"null".to_vec(),
                b"https://evil.example".to_vec(),
                format!("{origin}.evil.example").into_bytes(),
                b"\xff\xfe".to_vec(),
                random_ascii(rng, 3000),
            ];
            let v = opts[rng.gen_range(0..opts.len())].clone();
            let h = if rng.gen_bool(0.6) {
                "origin"
            } else {
                "referer"
            };
            let n = format!("{h}: {}", escape_bytes(&v, 40));
            d.set_header(h, v);
            n
        }
    };
    d.note(note);
}

fn mutate_method(rng: &mut StdRng, d: &mut Draft) {
    let ms = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "get", "post",
    ];
    d.method = ms[rng.gen_range(0..ms.len())].to_owned();
    d.note(format!("method {}", d.method));
}

fn tenant_variant(target: &Target, rng: &mut StdRng) -> String {
    let t = &target.tenant;
    let opts = [
        t.to_ascii_uppercase(),
        format!("{t}x"),
        "zz-no-such-tenant".to_owned(),
        "a".repeat(63),
        "a".repeat(64),
        "b".repeat(rng.gen_range(100..3000)),
        format!("-{t}"),
        String::new(),
        "..".to_owned(),
        format!("%{:02X}{}", t.as_bytes()[0], &t[1..]),
        format!("{t}%00"),
        format!("{t}%2Fx"),
        "démo".to_owned(),
        "%ff%fe".to_owned(),
        "%".to_owned(),
        "demo".to_owned(),
        format!(" {t}"),
        random_token(rng, 12),
    ];
    opts[rng.gen_range(0..opts.len())].clone()
}

fn mutate_path(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    let t = &target.tenant;
    let mut segs: Vec<String> = d.path.split('/').skip(1).map(str::to_owned).collect();
    let note = match rng.gen_range(0..9) {
        0 | 1 => {
            let v = tenant_variant(target, rng);
            let n = format!("tenant segment {}", escape_bytes(v.as_bytes(), 40));
            for s in segs.iter_mut() {
                if s == t {
                    *s = v.clone();
                }
            }
            d.path_mutated = true;
            n
        }
        2 => {
            for s in segs.iter_mut() {
                if s != t {
                    *s = s.to_ascii_uppercase();
                }
            }
            // Same route: fixed segments match without regard to case.
            "fixed segments upper-cased".to_owned()
        }
        3 => {
            segs.push(String::new());
            "trailing slash".to_owned()
        }
        4 => {
            let at = rng.gen_range(0..=segs.len());
            segs.insert(at, {
                let n = rng.gen_range(0..12);
                random_token(rng, n)
            });
            d.path_mutated = true;
            "extra segment".to_owned()
        }
        5 => {
            if let Some(i) = pick_index(rng, segs.len()) {
                segs.remove(i);
            }
            d.path_mutated = true;
            "missing segment".to_owned()
        }
        6 => {
            let n = rng.gen_range(1..6);
            segs = (0..n)
                .map(|_| {
                    let raw = {
                        let n = rng.gen_range(0..20);
                        random_bytes(rng, n)
                    };
                    let mut s = Vec::new();
                    pct_bytes(&mut s, &raw);
                    String::from_utf8_lossy(&s).into_owned()
                })
                .collect();
            d.path_mutated = true;
            "random path".to_owned()
        }
        7 => {
            let n = rng.gen_range(1000..8000);
            segs.push("x".repeat(n));
            d.path_mutated = true;
            format!("path +{n} bytes")
        }
        _ => {
            segs.insert(0, String::new());
            d.path_mutated = true;
            "double slash".to_owned()
        }
    };
    d.path = format!("/{}", segs.join("/"));
    d.note(note);
}

/// Adds query parameters to a POST endpoint (credentials in the query) or a
/// long query string to a GET endpoint.
fn mutate_query(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    if (d.endpoint.is_post() || d.endpoint == Endpoint::Userinfo) && rng.gen_bool(0.7) {
        let k = [
            "client_secret",
            "password",
            "refresh_token",
            "code",
            "newpassword",
            "x",
            "token",
            "access_token",
        ][rng.gen_range(0..8)];
        let v = specials(target, rng, k.as_bytes());
        let v = v[rng.gen_range(0..v.len())].clone();
        d.query.push(Pair {
            k: k.as_bytes().to_vec(),
            v,
            raw: false,
        });
        d.note(format!("query {k}"));
    } else {
        let len = rng.gen_range(10_000..100_000);
        let (v, raw, shape) = long_value(rng, len);
        let k = ["state", "nonce", "scope", "login_hint", "junk"][rng.gen_range(0..5)];
        d.query.push(Pair {
            k: k.as_bytes().to_vec(),
            v,
            raw,
        });
        d.note(format!("long query {k} ({len} bytes of {shape})"));
    }
}

// ---------------------------------------------------------------------------
// The fuzzer
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Confidential,
    Public,
}

/// Tokens taken from the stack, and the victims' current passwords.
#[derive(Default)]
struct Fresh {
    tx: HashMap<bool, String>,
    code: HashMap<bool, String>,
    refresh: HashMap<bool, String>,
    /// The latest user access token of each client.
    access: HashMap<bool, String>,
    /// The latest client_credentials token (confidential client only).
    client_token: HashMap<bool, String>,
    passwords: HashMap<usize, String>,
}

/// What [`Fuzzer::material`] hands out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Material {
    LoginTx,
    Code,
    RefreshToken,
    /// A user's access token, from the client's private session.
    AccessToken,
    ClientToken,
}

/// One answer.
struct Outcome {
    status: Option<u16>,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    elapsed: Duration,
    error: Option<String>,
}

/// One failed assertion.
#[derive(Clone, Debug)]
pub struct Violation {
    pub class: String,
    pub request: String,
    pub response: String,
}

/// What a run saw.
#[derive(Default)]
pub struct Report {
    pub requests: usize,
    pub setup_requests: usize,
    pub per_endpoint: BTreeMap<Endpoint, usize>,
    pub statuses: BTreeMap<Endpoint, BTreeMap<String, usize>>,
    /// class -> (count, first examples)
    pub violations: BTreeMap<String, (usize, Vec<Violation>)>,
    /// What the local front did (not Tollgate): class -> (count, examples).
    pub front: BTreeMap<String, (usize, Vec<Violation>)>,
    pub server_errors: usize,
    /// Generated requests the HTTP client could not send.
    pub unsendable: usize,
    pub slowest: Duration,
    pub elapsed: Duration,
    pub seed: u64,
    started: Option<Instant>,
}

const EXAMPLES_PER_CLASS: usize = 3;

impl Report {
    pub fn failures(&self) -> usize {
        self.violations.values().map(|(n, _)| n).sum()
    }

    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn add(&mut self, v: Violation) {
        let map = if v.class.starts_with(FRONT) || v.class.starts_with(NOTED) {
            &mut self.front
        } else {
            &mut self.violations
        };
        let e = map.entry(v.class.clone()).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES_PER_CLASS {
            e.1.push(v);
        }
    }

    /// Requests per endpoint, the status histogram, 5xx and every failure class.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "fuzz: {} requests (+{} setup requests for fresh tokens) in {:.1} s, seed {}, slowest answer {} ms",
            self.requests,
            self.setup_requests,
            self.elapsed.as_secs_f64(),
            self.seed,
            self.slowest.as_millis()
        );
        for ep in Endpoint::ALL {
            let n = self.per_endpoint.get(&ep).copied().unwrap_or(0);
            let hist = self
                .statuses
                .get(&ep)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = writeln!(s, "  {:<16} {:>6}  {hist}", ep.function(), n);
        }
        if self.unsendable > 0 {
            let _ = writeln!(
                s,
                "{} requests could not be sent by the HTTP client (status \"none\")",
                self.unsendable
            );
        }
        let front: usize = self
            .front
            .iter()
            .filter(|(class, _)| class.starts_with(FRONT))
            .map(|(_, (n, _))| n)
            .sum();
        let _ = writeln!(
            s,
            "5xx responses: {} ({front} of them from the local front, not Tollgate)",
            self.server_errors
        );
        if self.violations.is_empty() {
            let _ = writeln!(s, "no failures");
        } else {
            let _ = writeln!(
                s,
                "{} failures in {} classes:",
                self.failures(),
                self.violations.len()
            );
            for (class, (n, _)) in &self.violations {
                let _ = writeln!(s, "  {n:>6} × {class}");
            }
        }
        if !self.front.is_empty() {
            let _ = writeln!(
                s,
                "not counted as failures (the local front answered without invoking the function, or a slow answer did not happen again):"
            );
            for (class, (n, _)) in &self.front {
                let _ = writeln!(s, "  {n:>6} × {class}");
            }
        }
        s
    }

    /// Every failure class with its first examples (request and response).
    pub fn details(&self) -> String {
        let mut s = String::new();
        for (class, (n, ex)) in self.violations.iter().chain(&self.front) {
            let _ = writeln!(s, "=== {class} ({n} times)");
            for v in ex {
                let _ = write!(s, "  request: {}", v.request);
                let _ = writeln!(s, "  response: {}", v.response);
            }
        }
        s
    }
}

pub struct Fuzzer {
    target: Target,
    cfg: Config,
    http: reqwest::Client,
    fresh: Mutex<Fresh>,
    /// Each client's private session (its refresh token, never handed to a
    /// fuzzed request), rotated for every fresh access token: [`MAIN_USER`]'s
    /// password is checked only to start it (a user's password is checked at
    /// most 5 times in 15 minutes, successes included). Locked across the
    /// rotation, so two rotations never race into reuse detection.
    sessions: [tokio::sync::Mutex<Option<String>>; 2],
    report: Mutex<Report>,
}

/// RFC 6749 §4.1.2.1, §4.2.2.1, §5.2, RFC 6750 §3.1, RFC 8693 §2.2.2
/// (`invalid_target`), and OIDC's `login_required` (authorization responses only).
const TOKEN_ERRORS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "invalid_token",
    "insufficient_scope",
];
const AUTHZ_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "login_required",
    "interaction_required",
    "consent_required",
];

fn description_ok(d: &str) -> bool {
    d.bytes()
        .all(|c| matches!(c, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, n: &str) -> &'a str {
    h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn is_json_ct(ct: &str) -> bool {
    ct.split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn is_form_ct(ct: &str) -> bool {
    ct.split(';').next().is_some_and(|m| {
        m.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

fn is_html_ct(ct: &str) -> bool {
    ct.split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
}

/// Classes with this prefix are the local front's (`cargo lambda watch`)
/// doing: reported, not counted as failures.
const FRONT: &str = "[local front, not Tollgate] ";
/// Classes with this prefix could not be reproduced: reported, not counted.
const NOTED: &str = "[not reproduced] ";

/// Requests `cargo lambda watch` answers with its own 500 without invoking
/// the function (it cannot put them in a Lambda event): a header value that
/// is not UTF-8, or a body that is not UTF-8 under a content type it does not
/// base64-encode (none, `text/*`, JSON). A deployed function URL base64-encodes
/// such bodies; Tollgate itself answers them 400 (see `[local front]` below).
fn front_quirk(req: &FuzzRequest) -> Option<&'static str> {
    if req
        .headers
        .iter()
        .any(|(_, v)| std::str::from_utf8(v).is_err())
    {
        return Some("a header value that is not UTF-8");
    }
    if std::str::from_utf8(&req.body).is_err() {
        let ct = req
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| String::from_utf8_lossy(v).to_ascii_lowercase());
        let text = match ct
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or("").trim())
        {
            None | Some("") => true,
            Some(m) => m.starts_with("text/") || m.ends_with("json") || m.ends_with("xml"),
        };
        if text {
            return Some("a non-UTF-8 body with a text content type (or none)");
        }
    }
    None
}

/// The checks on one answer: the failure classes it falls into.
fn check(req: &FuzzRequest, o: &Outcome, timeout: Duration) -> Vec<String> {
    let ep = req.endpoint.function();
    let mut out = Vec::new();
    let Some(status) = o.status else {
        let e = o.error.as_deref().unwrap_or("?");
        if o.elapsed >= timeout || e.starts_with("timeout") {
            out.push(format!("{ep}: no answer within {} s", timeout.as_secs()));
        } else {
            let kind = e.split(':').next().unwrap_or("?");
            out.push(format!("{ep}: transport error ({kind})"));
        }
        return out;
    };
    if (500..=599).contains(&status) {
        match front_quirk(req) {
            Some(why) if !o.headers.contains_key("x-content-type-options") => {
                out.push(format!("{FRONT}{ep}: {status} for {why}"));
            }
            _ => out.push(format!("{ep}: {status}")),
        }
        return out;
    }
    if req.real_post && req.body.len() > MAX_BODY && status != 413 {
        out.push(format!(
            "{ep}: {status} for a body over 64 KiB (expected 413)"
        ));
    }
    if req.any_post && req.body.len() <= MAX_BODY && status == 413 {
        out.push(format!("{ep}: 413 for a body of at most 64 KiB"));
    }
    let ct = header(&o.headers, "content-type");
    let head = req.method == "HEAD";
    // SPEC, Browser clients: never credentials; no CORS at all on the browser
    // endpoints (the local stack behaves as a deployed one).
    if o.headers.contains_key("access-control-allow-credentials") {
        out.push(format!("{ep}: Access-Control-Allow-Credentials sent"));
    }
    if req.endpoint.is_html()
        && o.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-"))
    {
        out.push(format!("{ep}: CORS headers on a browser endpoint"));
    }
    out.extend(check_allow_origin(req, o));
    if !head {
        out.extend(check_answer_shape(req, status, o));
    }
    // Error answers of the JSON endpoints.
    if status >= 400 && !req.endpoint.is_html() && !head {
        if !is_json_ct(ct) {
            out.push(format!(
                "{ep}: {status} error is not application/json (content-type {ct:?})"
            ));
        } else {
            match serde_json::from_slice::<Value>(&o.body) {
                Err(_) => out.push(format!("{ep}: {status} error body is not JSON")),
                Ok(v) => out.extend(check_error_json(req.endpoint, status, &v)),
            }
        }
    }
    // Error pages of the browser endpoints.
    if status >= 400 && req.endpoint.is_html() && !is_html_ct(ct) {
        out.push(format!(
            "{ep}: {status} error is not text/html (content-type {ct:?})"
        ));
    }
    let page_method = matches!(req.method.as_str(), "GET" | "POST");
    if (200..300).contains(&status) && req.endpoint.is_html() && page_method && !is_html_ct(ct) {
        out.push(format!("{ep}: {status} page is not text/html ({ct:?})"));
    }
    // Error redirects of authorize and callback.
    if (300..400).contains(&status) {
        let loc = header(&o.headers, "location");
        if loc.is_empty() {
            out.push(format!("{ep}: {status} without Location"));
        } else if let Ok(u) = url::Url::parse(loc) {
            let raw = u.fragment().or(u.query()).unwrap_or("");
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect();
            if let Some((_, e)) = pairs.iter().find(|(k, _)| k == "error") {
                if !AUTHZ_ERRORS.contains(&e.as_str()) {
                    out.push(format!("{ep}: redirect with error={e}"));
                }
                if let Some((_, d)) = pairs.iter().find(|(k, _)| k == "error_description")
                    && !description_ok(d)
                {
                    out.push(format!(
                        "{ep}: redirect error_description has characters outside RFC 6749 §5.2"
                    ));
                }
            }
        } else {
            out.push(format!("{ep}: {status} Location is not a URL"));
        }
    }
    out
}

/// The request's header `name` (the last one set).
fn request_header<'a>(req: &'a FuzzRequest, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// `Access-Control-Allow-Origin`: `*` only on discovery; anywhere else only
/// the request's own `Origin`, and only an origin registered for a client.
fn check_allow_origin(req: &FuzzRequest, o: &Outcome) -> Vec<String> {
    let ep = req.endpoint.function();
    let mut out = Vec::new();
    let Some(acao) = o.headers.get("access-control-allow-origin") else {
        return out;
    };
    let acao = acao.as_bytes();
    if req.endpoint == Endpoint::Discovery {
        if acao != b"*" {
            out.push(format!(
                "{ep}: Access-Control-Allow-Origin other than * on discovery"
            ));
        }
        return out;
    }
    if acao == b"*" {
        out.push(format!(
            "{ep}: Access-Control-Allow-Origin * on a client endpoint"
        ));
    } else if request_header(req, "origin") != Some(acao) {
        out.push(format!(
            "{ep}: Access-Control-Allow-Origin is not the request's Origin"
        ));
    } else if !REGISTERED_ORIGINS.iter().any(|r| r.as_bytes() == acao) {
        out.push(format!(
            "{ep}: Access-Control-Allow-Origin for an origin no client registered"
        ));
    }
    if req.method == "OPTIONS" && !o.headers.contains_key("access-control-allow-methods") {
        out.push(format!(
            "{ep}: preflight allows an origin without Access-Control-Allow-Methods"
        ));
    }
    out
}

/// RFC 7662 and RFC 7009 answers, RFC 6750 §3 and RFC 6749 §5.2 challenges.
fn check_answer_shape(req: &FuzzRequest, status: u16, o: &Outcome) -> Vec<String> {
    let ep = req.endpoint.function();
    let mut out = Vec::new();
    let post = req.method == "POST";
    let json = || serde_json::from_slice::<Value>(&o.body).ok();
    match req.endpoint {
        Endpoint::Introspect if status == 200 && post => {
            if header(&o.headers, "cache-control") != "no-store" {
                out.push(format!("{ep}: 200 without Cache-Control: no-store"));
            }
            match json().as_ref().map(|v| (v, v.get("active"))) {
                Some((v, Some(Value::Bool(false)))) => {
                    if v != &serde_json::json!({"active": false}) {
                        out.push(format!(
                            "{ep}: inactive answer is more than {{\"active\": false}}"
                        ));
                    }
                }
                Some((v, Some(Value::Bool(true)))) => {
                    for f in [
                        "iss",
                        "sub",
                        "aud",
                        "client_id",
                        "scope",
                        "exp",
                        "iat",
                        "jti",
                    ] {
                        if v.get(f).is_none() {
                            out.push(format!("{ep}: active answer without {f}"));
                        }
                    }
                    let tt = v.get("token_type").and_then(Value::as_str);
                    if !matches!(tt, Some("Bearer" | "refresh_token")) {
                        out.push(format!("{ep}: active answer with token_type {tt:?}"));
                    }
                }
                _ => out.push(format!("{ep}: 200 without a boolean `active`")),
            }
        }
        Endpoint::Revoke if status == 200 && post && !o.body.is_empty() => {
            out.push(format!("{ep}: 200 with a body (RFC 7009: empty)"));
        }
        Endpoint::Userinfo
            if status == 200
                && matches!(req.method.as_str(), "GET" | "POST")
                && !json().is_some_and(|v| v.get("sub").is_some_and(Value::is_string)) =>
        {
            out.push(format!("{ep}: 200 without a JSON `sub`"));
        }
        Endpoint::Userinfo if status == 401 || status == 403 => {
            let c = header(&o.headers, "www-authenticate").to_ascii_lowercase();
            if !c.starts_with("bearer") {
                out.push(format!("{ep}: {status} without a Bearer challenge"));
            } else if status == 403 && !c.contains("insufficient_scope") {
                out.push(format!("{ep}: 403 challenge without insufficient_scope"));
            }
        }
        _ => {}
    }
    // RFC 6749 §5.2: a 401 after Basic authentication carries a challenge.
    let basic = request_header(req, "authorization")
        .is_some_and(|a| a.len() >= 6 && a[..6].eq_ignore_ascii_case(b"basic "));
    if status == 401
        && basic
        && matches!(
            req.endpoint,
            Endpoint::Token | Endpoint::Refresh | Endpoint::Introspect | Endpoint::Revoke
        )
        && !o.headers.contains_key("www-authenticate")
    {
        out.push(format!("{ep}: 401 after Basic without WWW-Authenticate"));
    }
    out
}

fn check_error_json(ep: Endpoint, status: u16, v: &Value) -> Vec<String> {
    let f = ep.function();
    let mut out = Vec::new();
    if ep == Endpoint::ChangePassword && v.get("error").is_none() {
        // Profix shape.
        let ok = v.get("success") == Some(&Value::Bool(false))
            && v.get("message").is_some_and(Value::is_string);
        if !ok {
            out.push(format!(
                "{f}: {status} body is neither {{success:false,message}} nor an OAuth error"
            ));
        }
        return out;
    }
    match v.get("error").and_then(Value::as_str) {
        None => out.push(format!("{f}: {status} error JSON without a string `error`")),
        Some(e) if !TOKEN_ERRORS.contains(&e) => {
            out.push(format!(
                "{f}: {status} error={e} (not an RFC 6749/6750 code)"
            ));
        }
        Some(_) => {}
    }
    match v.get("error_description") {
        None => {}
        Some(Value::String(d)) if description_ok(d) => {}
        Some(Value::String(_)) => out.push(format!(
            "{f}: {status} error_description has characters outside RFC 6749 §5.2"
        )),
        Some(_) => out.push(format!("{f}: {status} error_description is not a string")),
    }
    out
}

fn extract_tx(html: &str) -> Option<String> {
    let marker = "name=\"tx\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

fn location_param(o: &Outcome, k: &str) -> Option<String> {
    let u = url::Url::parse(header(&o.headers, "location")).ok()?;
    u.query_pairs()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.into_owned())
}

impl Fuzzer {
    pub fn new(target: Target, cfg: Config) -> Fuzzer {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client");
        Fuzzer {
            target,
            cfg,
            http,
            fresh: Mutex::new(Fresh::default()),
            sessions: Default::default(),
            report: Mutex::new(Report::default()),
        }
    }

    /// Starts the functions' sandboxes before anything is timed: the local
    /// front starts them on demand (`cargo run`), which can wait minutes on
    /// the shared target directory's lock while other builds run.
    async fn warm_up(&self) {
        let slow = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client");
        let mut rng = StdRng::seed_from_u64(0);
        let mut all = Vec::new();
        for ep in Endpoint::ALL {
            for _ in 0..self.cfg.concurrency.max(1) {
                let url = format!(
                    "{}{}",
                    self.target.base(ep.function()),
                    self.route(ep, &mut rng)
                );
                let req = if ep.is_post() {
                    slow.post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("")
                } else {
                    slow.get(url)
                };
                all.push(req.send());
            }
        }
        for r in futures::future::join_all(all).await {
            if let Err(e) = r {
                eprintln!("fuzz warm-up: {}", e.without_url());
            }
        }
        // The private sessions start before anything can throttle MAIN_USER.
        for kind in [Kind::Confidential, Kind::Public] {
            if self.fresh_access(kind).await.is_none() {
                eprintln!("fuzz warm-up: no session for the {kind:?} client");
            }
        }
    }

    /// Runs every request, `concurrency` at a time; returns what was seen.
    pub async fn run(self) -> Report {
        self.warm_up().await;
        let start = Instant::now();
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .started = Some(start);
        let this = &self;
        futures::stream::iter(0..self.cfg.requests)
            .map(|i| async move {
                let req = this.generate(i).await;
                this.exec(req, false).await;
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
        let mut report = self.report.into_inner().unwrap_or_else(|e| e.into_inner());
        report.elapsed = start.elapsed();
        report.seed = self.cfg.seed;
        report
    }

    fn rng(&self, i: usize) -> StdRng {
        StdRng::seed_from_u64(
            self.cfg
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(i as u64),
        )
    }

    async fn send_once(&self, req: &FuzzRequest) -> Outcome {
        let t0 = Instant::now();
        let mut outcome = Outcome {
            status: None,
            headers: Default::default(),
            body: Vec::new(),
            elapsed: Duration::ZERO,
            error: None,
        };
        match self.build(req) {
            Err(e) => outcome.error = Some(format!("request not sendable: {e}")),
            Ok(r) => match r.send().await {
                Ok(resp) => {
                    outcome.status = Some(resp.status().as_u16());
                    outcome.headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(b) => outcome.body = b.to_vec(),
                        Err(e) => {
                            outcome.status = None;
                            let kind = if e.is_timeout() { "timeout" } else { "body" };
                            outcome.error =
                                Some(format!("{kind}: reading the body: {}", e.without_url()));
                        }
                    }
                }
                Err(e) if e.is_builder() => {
                    outcome.error = Some(format!("request not sendable: {}", e.without_url()));
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else if e.is_body() {
                        "body"
                    } else if e.is_request() {
                        "request"
                    } else {
                        "other"
                    };
                    let e = e.without_url();
                    let mut msg = format!("{kind}: {e}");
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        let _ = write!(msg, ": {s}");
                        src = s.source();
                    }
                    outcome.error = Some(msg);
                }
            },
        }
        outcome.elapsed = t0.elapsed();
        outcome
    }

    /// Sends one request, checks the answer and records it. Returns the answer.
    /// A request that gets no answer in time is sent once more: when the
    /// second answer is in time (the first wait was the shared machine
    /// stalling, often the client itself), it is reported but not counted.
    async fn exec(&self, req: FuzzRequest, setup: bool) -> Outcome {
        let t0 = Instant::now();
        let mut outcome = self.send_once(&req).await;
        let unsendable = outcome
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("request not sendable"));
        let mut classes = if unsendable {
            Vec::new()
        } else {
            check(&req, &outcome, self.cfg.timeout)
        };
        let mut retried = None;
        if outcome.status.is_none() && classes.iter().any(|c| c.contains("no answer within")) {
            let first = outcome.elapsed;
            let retry = self.send_once(&req).await;
            if retry.status.is_some() {
                classes = check(&req, &retry, self.cfg.timeout);
                classes.push(format!(
                    "{NOTED}{}: no answer within {} s once, in time when sent again",
                    req.endpoint.function(),
                    self.cfg.timeout.as_secs(),
                ));
                retried = Some(format!(
                    "first try: no answer after {} ms; sent again: ",
                    first.as_millis()
                ));
                outcome = retry;
            }
        }
        // A successful password change: follow it.
        if outcome.status == Some(200)
            && req.endpoint == Endpoint::ChangePassword
            && let Some(v) = req.victim
        {
            let p: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            if let Some(np) = p.get("newpassword") {
                self.fresh_lock().passwords.insert(v, np.clone());
            }
        }
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        if unsendable {
            r.unsendable += 1;
        }
        if setup {
            r.setup_requests += 1;
        } else {
            r.requests += 1;
        }
        *r.per_endpoint.entry(req.endpoint).or_default() += 1;
        let key = match outcome.status {
            Some(s) => s.to_string(),
            None => "none".to_owned(),
        };
        *r.statuses
            .entry(req.endpoint)
            .or_default()
            .entry(key)
            .or_default() += 1;
        if outcome.status.is_some_and(|s| (500..=599).contains(&s)) {
            r.server_errors += 1;
        }
        r.slowest = r.slowest.max(outcome.elapsed);
        if !classes.is_empty() {
            let at = r
                .started
                .map_or(0.0, |s| t0.saturating_duration_since(s).as_secs_f64());
            let response = match outcome.status {
                Some(s) => format!(
                    "{s} in {} ms (sent at {at:.1} s), content-type {:?}, body: {}",
                    outcome.elapsed.as_millis(),
                    header(&outcome.headers, "content-type"),
                    escape_bytes(&outcome.body, 300)
                ),
                None => format!(
                    "no response after {} ms (sent at {at:.1} s): {}",
                    outcome.elapsed.as_millis(),
                    outcome.error.as_deref().unwrap_or("?")
                ),
            };
            let response = format!("{}{response}", retried.unwrap_or_default());
            let request = if setup {
                format!("(setup) {}", req.describe())
            } else {
                req.describe()
            };
            for class in classes {
                r.add(Violation {
                    class,
                    request: request.clone(),
                    response: response.clone(),
                });
            }
        }
        drop(r);
        outcome
    }

    fn build(&self, req: &FuzzRequest) -> Result<reqwest::RequestBuilder, String> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
        let url = reqwest::Url::parse(&req.url).map_err(|e| e.to_string())?;
        let mut b = self.http.request(method, url);
        for (n, v) in &req.headers {
            let v = reqwest::header::HeaderValue::from_bytes(v).map_err(|e| e.to_string())?;
            b = b.header(n.as_str(), v);
        }
        Ok(b.body(req.body.clone()))
    }

    fn fresh_lock(&self) -> std::sync::MutexGuard<'_, Fresh> {
        self.fresh.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- fresh tokens from the stack (valid, unmutated requests) ----------

    fn authorize_query(&self, kind: Kind, state: &str) -> Vec<Pair> {
        let t = &self.target;
        match kind {
            Kind::Confidential => vec![
                pair("response_type", "code"),
                pair("client_id", &t.confidential_id),
                pair("redirect_uri", REDIRECT),
                pair("scope", "api openid profile email offline_access"),
                pair("state", state),
                pair("nonce", "n-0S6_WzA2Mj"),
            ],
            Kind::Public => vec![
                pair("response_type", "code"),
                pair("client_id", &t.public_id),
                pair("redirect_uri", REDIRECT),
                pair("scope", "api offline_access"),
                pair("state", state),
                pair("code_challenge", PKCE_CHALLENGE),
                pair("code_challenge_method", "S256"),
            ],
        }
    }

    fn route(&self, ep: Endpoint, rng: &mut StdRng) -> String {
        let t = &self.target.tenant;
        match ep {
            Endpoint::Authorize => format!("/oauth2/{t}/authorize"),
            Endpoint::Callback => format!("/oauth2/{t}/callback"),
            Endpoint::Token => format!("/oauth2/{t}/token"),
            Endpoint::Refresh => format!("/oauth2/{t}/refresh"),
            Endpoint::ChangePassword => format!("/oauth2/{t}/token/changepassword"),
            Endpoint::Discovery => match rng.gen_range(0..3) {
                0 => format!("/oauth2/{t}/.well-known/openid-configuration"),
                1 => format!("/.well-known/oauth-authorization-server/oauth2/{t}"),
                _ => format!("/oauth2/{t}/jwks.json"),
            },
            Endpoint::Introspect => format!("/oauth2/{t}/introspect"),
            Endpoint::Revoke => format!("/oauth2/{t}/revoke"),
            Endpoint::Userinfo => format!("/oauth2/{t}/userinfo"),
        }
    }

    async fn fresh_tx(&self, kind: Kind) -> Option<String> {
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Authorize,
            "GET",
            self.route(Endpoint::Authorize, &mut rng),
        );
        d.query = self.authorize_query(kind, &random_token(&mut rng, 12));
        let o = self.exec(d.finish(&self.target), true).await;
        let tx = extract_tx(&String::from_utf8_lossy(&o.body))?;
        self.fresh_lock()
            .tx
            .insert(kind == Kind::Public, tx.clone());
        Some(tx)
    }

    async fn fresh_code(&self, kind: Kind) -> Option<String> {
        let tx = self.fresh_tx(kind).await?;
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Callback,
            "POST",
            self.route(Endpoint::Callback, &mut rng),
        );
        d.body = vec![
            pair("tx", &tx),
            pair("username", &self.target.main_user.0),
            pair("password", &self.target.password),
            pair("decision", "allow"),
        ];
        let o = self.exec(d.finish(&self.target), true).await;
        let code = location_param(&o, "code")?;
        self.fresh_lock()
            .code
            .insert(kind == Kind::Public, code.clone());
        Some(code)
    }

    async fn fresh_refresh(&self, kind: Kind) -> Option<String> {
        let t = &self.target;
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Token,
            "POST",
            self.route(Endpoint::Token, &mut rng),
        );
        d.body = vec![
            pair("grant_type", "password"),
            pair("username", &t.main_user.0),
            pair("password", &t.password),
        ];
        match kind {
            Kind::Confidential => {
                d.body.push(pair("scope", "api openid offline_access"));
                d.set_header(
                    "authorization",
                    basic(&t.confidential_id, &t.confidential_secret),
                );
            }
            Kind::Public => {
                d.body.push(pair("scope", "api offline_access"));
                d.body.push(pair("client_id", &t.public_id));
            }
        }
        let o = self.exec(d.finish(&self.target), true).await;
        let v: Value = serde_json::from_slice(&o.body).ok()?;
        let rt = v.get("refresh_token")?.as_str()?.to_owned();
        let mut f = self.fresh_lock();
        f.refresh.insert(kind == Kind::Public, rt.clone());
        if let Some(at) = v.get("access_token").and_then(Value::as_str) {
            f.access.insert(kind == Kind::Public, at.to_owned());
        }
        Some(rt)
    }

    /// A token request of `kind`'s client, unmutated: `Ok((access, refresh))`,
    /// or `Err(refused)`: `true` when the server answered with a 4xx (the
    /// grant is dead), `false` when it did not answer usefully (try again).
    async fn token_request(
        &self,
        kind: Kind,
        body: Vec<Pair>,
    ) -> Result<(String, Option<String>), bool> {
        let t = &self.target;
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Token,
            "POST",
            self.route(Endpoint::Token, &mut rng),
        );
        d.body = body;
        match kind {
            Kind::Confidential => d.set_header(
                "authorization",
                basic(&t.confidential_id, &t.confidential_secret),
            ),
            Kind::Public => d.body.push(pair("client_id", &t.public_id)),
        }
        let o = self.exec(d.finish(&self.target), true).await;
        let refused = o.status.is_some_and(|s| (400..500).contains(&s));
        let v: Value = serde_json::from_slice(&o.body).map_err(|_| refused)?;
        let at = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or(refused)?
            .to_owned();
        let rt = v
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((at, rt))
    }

    /// A fresh user access token (scope with `openid`) from `kind`'s private
    /// session: one rotation of its refresh token; the session starts (a
    /// password grant) when there is none or it died.
    async fn fresh_access(&self, kind: Kind) -> Option<String> {
        let t = &self.target;
        let mut session = self.sessions[usize::from(kind == Kind::Public)]
            .lock()
            .await;
        let mut minted = None;
        if let Some(rt) = session.take() {
            match self
                .token_request(
                    kind,
                    vec![
                        pair("grant_type", "refresh_token"),
                        pair("refresh_token", &rt),
                    ],
                )
                .await
            {
                Ok(m) => minted = Some(m),
                // The session is over: start another below.
                Err(true) => {}
                // No answer: the same token again next time (an exact retry
                // within 10 s gets the same successor).
                Err(false) => {
                    *session = Some(rt);
                    return None;
                }
            }
        }
        if minted.is_none() {
            let scope = match kind {
                Kind::Confidential => "api openid profile email offline_access",
                Kind::Public => "api openid offline_access",
            };
            minted = self
                .token_request(
                    kind,
                    vec![
                        pair("grant_type", "password"),
                        pair("username", &t.main_user.0),
                        pair("password", &t.password),
                        pair("scope", scope),
                    ],
                )
                .await
                .ok();
        }
        let (at, rt) = minted?;
        *session = rt;
        drop(session);
        self.fresh_lock()
            .access
            .insert(kind == Kind::Public, at.clone());
        Some(at)
    }

    /// A client_credentials token of the confidential client.
    async fn fresh_client_token(&self) -> Option<String> {
        let (at, _) = self
            .token_request(
                Kind::Confidential,
                vec![
                    pair("grant_type", "client_credentials"),
                    pair("scope", "api"),
                ],
            )
            .await
            .ok()?;
        self.fresh_lock().client_token.insert(false, at.clone());
        Some(at)
    }

    /// A fresh value with probability `p` (or when none is cached), else the
    /// cached one (often already used: replays reach deep code too).
    async fn material(&self, rng: &mut StdRng, what: Material, kind: Kind, p: f64) -> String {
        // Only the confidential client has client_credentials tokens.
        let kind = if what == Material::ClientToken {
            Kind::Confidential
        } else {
            kind
        };
        let fresh = rng.gen_bool(p);
        let cached = {
            let f = self.fresh_lock();
            let m = match what {
                Material::LoginTx => &f.tx,
                Material::Code => &f.code,
                Material::RefreshToken => &f.refresh,
                Material::AccessToken => &f.access,
                Material::ClientToken => &f.client_token,
            };
            m.get(&(kind == Kind::Public)).cloned()
        };
        if !fresh && let Some(c) = cached {
            return c;
        }
        let got = match what {
            Material::LoginTx => self.fresh_tx(kind).await,
            Material::Code => self.fresh_code(kind).await,
            Material::RefreshToken => self.fresh_refresh(kind).await,
            Material::AccessToken => self.fresh_access(kind).await,
            Material::ClientToken => self.fresh_client_token().await,
        };
        got.or(cached).unwrap_or_else(|| random_token(rng, 43))
    }

    fn victim(&self, rng: &mut StdRng) -> (usize, String, String, String) {
        let i = rng.gen_range(0..self.target.victims.len());
        let (name, id) = self.target.victims[i].clone();
        let pw = self
            .fresh_lock()
            .passwords
            .get(&i)
            .cloned()
            .unwrap_or_else(|| self.target.password.clone());
        (i, name, id, pw)
    }

    /// Client authentication for a POST: Basic, in the body, or public.
    fn client_auth(&self, rng: &mut StdRng, d: &mut Draft, kind: Kind) {
        let t = &self.target;
        match kind {
            Kind::Public => d.body.push(pair("client_id", &t.public_id)),
            Kind::Confidential if rng.gen_bool(0.5) => {
                d.set_header(
                    "authorization",
                    basic(&t.confidential_id, &t.confidential_secret),
                );
            }
            Kind::Confidential => {
                d.body.push(pair("client_id", &t.confidential_id));
                d.body.push(pair("client_secret", &t.confidential_secret));
            }
        }
    }

    /// A valid request for `ep`.
    async fn baseline(&self, rng: &mut StdRng, ep: Endpoint) -> Draft {
        let t = self.target.clone();
        let path = self.route(ep, rng);
        let kind = if rng.gen_bool(0.3) {
            Kind::Public
        } else {
            Kind::Confidential
        };
        match ep {
            Endpoint::Authorize => {
                let mut d = Draft::new(ep, "GET", path);
                d.query = self.authorize_query(kind, &random_token(rng, 16));
                if kind == Kind::Confidential && rng.gen_bool(0.2) {
                    let port = rng.gen_range(1..=65535);
                    d.query[2].v = format!("http://127.0.0.1:{port}/cb").into_bytes();
                }
                match rng.gen_range(0..4) {
                    0 if kind == Kind::Confidential => {
                        d.query[0].v = b"token".to_vec();
                        d.note("implicit");
                    }
                    1 => d.query.push(pair("login_hint", &t.victims[0].0)),
                    2 => d.query.retain(|p| p.k != b"state"),
                    _ => {}
                }
                d
            }
            Endpoint::Callback => {
                let mut d = Draft::new(ep, "POST", path);
                let tx = self.material(rng, Material::LoginTx, kind, 0.5).await;
                let (_, name, _, pw) = self.victim(rng);
                let decision = if rng.gen_bool(0.8) { "allow" } else { "deny" };
                d.body = vec![
                    pair("tx", &tx),
                    pair("username", &name),
                    pair("password", &pw),
                    pair("decision", decision),
                ];
                d
            }
            Endpoint::Token | Endpoint::Refresh => {
                let mut d = Draft::new(ep, "POST", path);
                let grant = if ep == Endpoint::Refresh && rng.gen_bool(0.85) {
                    3
                } else {
                    rng.gen_range(0..5)
                };
                let kind = if grant == 1 { Kind::Confidential } else { kind };
                match grant {
                    0 => {
                        let code = self.material(rng, Material::Code, kind, 0.35).await;
                        d.body = vec![
                            pair("grant_type", "authorization_code"),
                            pair("code", &code),
                            pair("redirect_uri", REDIRECT),
                        ];
                        if kind == Kind::Public {
                            d.body.push(pair("code_verifier", PKCE_VERIFIER));
                        }
                    }
                    1 => {
                        d.body = vec![
                            pair("grant_type", "client_credentials"),
                            pair("scope", "api"),
                        ];
                    }
                    2 => {
                        let (_, name, _, pw) = self.victim(rng);
                        d.body = vec![
                            pair("grant_type", "password"),
                            pair("username", &name),
                            pair("password", &pw),
                            pair("scope", "api offline_access openid"),
                        ];
                    }
                    4 => {
                        // RFC 8693: a user's token as subject, sometimes an actor.
                        let at = self.material(rng, Material::AccessToken, kind, 0.3).await;
                        d.body = vec![
                            pair(
                                "grant_type",
                                "urn:ietf:params:oauth:grant-type:token-exchange",
                            ),
                            pair("subject_token", &at),
                            pair(
                                "subject_token_type",
                                "urn:ietf:params:oauth:token-type:access_token",
                            ),
                        ];
                        if rng.gen_bool(0.4) {
                            let actor = self.material(rng, Material::ClientToken, kind, 0.5).await;
                            d.body.push(pair("actor_token", &actor));
                            d.body.push(pair(
                                "actor_token_type",
                                "urn:ietf:params:oauth:token-type:access_token",
                            ));
                        }
                        if rng.gen_bool(0.3) {
                            d.body.push(pair("scope", "api"));
                        }
                    }
                    _ => {
                        let rt = self.material(rng, Material::RefreshToken, kind, 0.35).await;
                        d.body = vec![
                            pair("grant_type", "refresh_token"),
                            pair("refresh_token", &rt),
                        ];
                        if rng.gen_bool(0.3) {
                            d.body.push(pair("scope", "api"));
                        }
                    }
                }
                self.client_auth(rng, &mut d, kind);
                maybe_origin(rng, &mut d, kind);
                d.body.shuffle(rng);
                d
            }
            Endpoint::Introspect | Endpoint::Revoke => {
                let mut d = Draft::new(ep, "POST", path);
                // Mostly the confidential client (a resource server); a public
                // client may revoke, never introspect.
                let token = match rng.gen_range(0..10) {
                    0..5 => self.material(rng, Material::AccessToken, kind, 0.3).await,
                    5..8 => self.material(rng, Material::RefreshToken, kind, 0.2).await,
                    8 => self.material(rng, Material::ClientToken, kind, 0.5).await,
                    _ => random_token(rng, 43),
                };
                // Another client's token, now and then.
                let kind = if rng.gen_bool(0.15) {
                    match kind {
                        Kind::Public => Kind::Confidential,
                        Kind::Confidential => Kind::Public,
                    }
                } else {
                    kind
                };
                d.body = vec![pair("token", &token)];
                if rng.gen_bool(0.4) {
                    let hint =
                        ["access_token", "refresh_token", "unknown_hint"][rng.gen_range(0..3)];
                    d.body.push(pair("token_type_hint", hint));
                }
                self.client_auth(rng, &mut d, kind);
                maybe_origin(rng, &mut d, kind);
                d.body.shuffle(rng);
                d
            }
            Endpoint::Userinfo => {
                let token = self.material(rng, Material::AccessToken, kind, 0.3).await;
                let bearer = format!("Bearer {token}").into_bytes();
                let mut d = match rng.gen_range(0..10) {
                    0..7 => {
                        let mut d = Draft::new(ep, "GET", path);
                        d.set_header("authorization", bearer);
                        d
                    }
                    7 => {
                        let mut d = Draft::new(ep, "POST", path);
                        d.set_header("authorization", bearer);
                        d
                    }
                    _ => {
                        let mut d = Draft::new(ep, "POST", path);
                        d.form_body = true;
                        d.content_type = Some(b"application/x-www-form-urlencoded".to_vec());
                        d.body = vec![pair("access_token", &token)];
                        d
                    }
                };
                maybe_origin(rng, &mut d, kind);
                d
            }
            Endpoint::ChangePassword => {
                let mut d = Draft::new(ep, "POST", path);
                let (i, name, id, pw) = self.victim(rng);
                let new = format!("Fz-{}", random_alnum(rng, 14));
                self.client_auth(rng, &mut d, kind);
                d.body.extend([
                    pair("userid", if rng.gen_bool(0.7) { &id } else { &name }),
                    pair("password", &pw),
                    pair("newpassword", &new),
                ]);
                d.victim = Some(i);
                d
            }
            Endpoint::Discovery => {
                let method = if rng.gen_bool(0.1) { "HEAD" } else { "GET" };
                Draft::new(ep, method, path)
            }
        }
    }

    /// A request with nothing valid about it.
    fn random_request(&self, rng: &mut StdRng, ep: Endpoint) -> Draft {
        let path = self.route(ep, rng);
        let method = if ep.is_post() { "POST" } else { "GET" };
        let mut d = Draft::new(ep, method, path);
        match rng.gen_range(0..3) {
            0 => {
                let n = rng.gen_range(0..4000);
                d.body_raw = Some(random_bytes(rng, n));
                d.note(format!("random body of {n} bytes"));
            }
            1 => {
                let n = rng.gen_range(1..40);
                let params: Vec<Pair> = (0..n)
                    .map(|_| Pair {
                        k: {
                            let n = rng.gen_range(0..16);
                            random_ascii(rng, n)
                        },
                        v: {
                            let n = rng.gen_range(0..64);
                            random_ascii(rng, n)
                        },
                        raw: rng.gen_bool(0.3),
                    })
                    .collect();
                if ep.is_post() {
                    d.body = params;
                } else {
                    d.query = params;
                }
                d.note(format!("{n} random parameters"));
            }
            _ => {
                let n = rng.gen_range(0..2000);
                let q = random_ascii(rng, n);
                d.query_raw = Some(q);
                d.note(format!("random query of {n} bytes"));
            }
        }
        if rng.gen_bool(0.3) {
            mutate_method(rng, &mut d);
        }
        if rng.gen_bool(0.3) {
            mutate_path(&self.target, rng, &mut d);
        }
        if rng.gen_bool(0.3) {
            mutate_headers(&self.target, rng, &mut d);
        }
        d
    }

    /// A CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-*`) to any endpoint, authorize and callback
    /// included, from a registered, foreign or malformed origin.
    fn preflight(&self, rng: &mut StdRng) -> Draft {
        let ep = Endpoint::ALL[rng.gen_range(0..Endpoint::ALL.len())];
        let path = self.route(ep, rng);
        let mut d = Draft::new(ep, "OPTIONS", path);
        d.content_type = None;
        d.form_body = false;
        let own = self
            .target
            .base("authorize")
            .split('/')
            .take(3)
            .collect::<Vec<_>>()
            .join("/");
        let origins: Vec<Vec<u8>> = vec![
            CONFIDENTIAL_ORIGIN.as_bytes().to_vec(),
            PUBLIC_ORIGIN.as_bytes().to_vec(),
            CONFIDENTIAL_ORIGIN.as_bytes().to_vec(),
            own.into_bytes(),
            b"https://evil.example".to_vec(),
            format!("{CONFIDENTIAL_ORIGIN}.evil.example").into_bytes(),
            b"null".to_vec(),
            Vec::new(),
            b"\xff\xfe".to_vec(),
            random_ascii(rng, 3000),
        ];
        let origin = origins[rng.gen_range(0..origins.len())].clone();
        let mut note = format!("preflight from {}", escape_bytes(&origin, 40));
        if rng.gen_bool(0.92) {
            d.set_header("origin", origin);
        } else {
            note.push_str(" (no Origin)");
        }
        if rng.gen_bool(0.85) {
            let methods: [&[u8]; 8] = [
                b"POST",
                b"POST",
                b"GET",
                b"PUT",
                b"DELETE",
                b"post",
                b"",
                b"GET, POST",
            ];
            d.set_header(
                "access-control-request-method",
                methods[rng.gen_range(0..methods.len())].to_vec(),
            );
        }
        if rng.gen_bool(0.6) {
            let headers: Vec<Vec<u8>> = vec![
                b"authorization".to_vec(),
                b"authorization,content-type".to_vec(),
                b"Content-Type".to_vec(),
                b"x-requested-with, x-custom".to_vec(),
                b"authorization, cookie".to_vec(),
                random_ascii(rng, 4000),
            ];
            d.set_header(
                "access-control-request-headers",
                headers[rng.gen_range(0..headers.len())].clone(),
            );
        }
        d.note(note);
        if rng.gen_bool(0.2) {
            mutate_path(&self.target, rng, &mut d);
        }
        if rng.gen_bool(0.1) {
            mutate_headers(&self.target, rng, &mut d);
        }
        d
    }

    /// Request `i`: random, a preflight, or a baseline with 0-3 mutations.
    pub async fn generate(&self, i: usize) -> FuzzRequest {
        let mut rng = self.rng(i);
        if rng.gen_bool(0.06) {
            return self.preflight(&mut rng).finish(&self.target);
        }
        let ep = {
            let r = rng.gen_range(0..100);
            match r {
                0..14 => Endpoint::Authorize,
                14..28 => Endpoint::Callback,
                28..50 => Endpoint::Token,
                50..58 => Endpoint::Refresh,
                58..67 => Endpoint::ChangePassword,
                67..75 => Endpoint::Discovery,
                75..84 => Endpoint::Introspect,
                84..92 => Endpoint::Revoke,
                _ => Endpoint::Userinfo,
            }
        };
        if rng.gen_bool(0.08) {
            return self.random_request(&mut rng, ep).finish(&self.target);
        }
        let mut d = self.baseline(&mut rng, ep).await;
        let n = match rng.gen_range(0..10) {
            0 => 0,
            1..6 => 1,
            6..9 => 2,
            _ => 3,
        };
        let mut ops: Vec<u8> = (0..n).map(|_| rng.gen_range(0..100)).collect();
        // Body-level mutations work on the encoded body: after the others.
        let form_body = d.form_body;
        ops.sort_by_key(|op| (55..67).contains(op) && form_body);
        for op in ops {
            match op {
                0..55 => mutate_params(&self.target, &mut rng, &mut d),
                55..67 if d.form_body => mutate_body(&mut rng, &mut d),
                55..67 => mutate_query(&self.target, &mut rng, &mut d),
                67..79 => mutate_headers(&self.target, &mut rng, &mut d),
                79..85 => mutate_method(&mut rng, &mut d),
                85..94 => mutate_path(&self.target, &mut rng, &mut d),
                _ => mutate_query(&self.target, &mut rng, &mut d),
            }
        }
        if n == 0 {
            d.note("unmutated");
        }
        d.finish(&self.target)
    }
}
