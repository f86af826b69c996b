//! An HTTP fuzzer for every public route of Tollgate (authorize, callback,
//! token, refresh, change-password, discovery, introspect, revoke, userinfo,
//! the user's upstream connections,
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
//!
//! Modules, in the order a request is made: `request` (a draft and its
//! encoding), `values` (what goes into a parameter), `mutate_params` and
//! `mutate_http` (the mutations), `fresh` (valid material taken from the
//! stack), `generate` (request `i` from its seed), `run` (sending, the run
//! loop), `check` (the checks on an answer) and `report` (what a run saw).

mod check;
mod fresh;
mod generate;
mod mutate_http;
mod mutate_params;
mod report;
mod request;
mod run;
mod values;

pub use report::{Report, Violation};
pub use request::FuzzRequest;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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
    /// The user's upstream connections on the userinfo function: GET
    /// `…/connections`, DELETE `…/connections/{provider}`.
    Connections,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::Authorize,
        Endpoint::Callback,
        Endpoint::Token,
        Endpoint::Refresh,
        Endpoint::ChangePassword,
        Endpoint::Discovery,
        Endpoint::Introspect,
        Endpoint::Revoke,
        Endpoint::Userinfo,
        Endpoint::Connections,
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
            Endpoint::Userinfo | Endpoint::Connections => "userinfo",
        }
    }

    /// How reports and failure classes name it.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Connections => "connections",
            e => e.function(),
        }
    }

    /// Endpoints whose requests are form POSTs (userinfo is a GET, or a POST
    /// only when the token travels in the body).
    fn is_post(self) -> bool {
        !matches!(
            self,
            Endpoint::Authorize | Endpoint::Discovery | Endpoint::Userinfo | Endpoint::Connections
        )
    }

    fn is_html(self) -> bool {
        matches!(self, Endpoint::Authorize | Endpoint::Callback)
    }
}

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
