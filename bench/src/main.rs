//! `tollgate-bench`: the driver of `make bench` (see bench/README.md).
//!
//! Runs every function's release binary the way Lambda does — against a local
//! Runtime API stand-in, with function URL events — and measures cold starts,
//! warm latency, CPU per request, peak RSS, then loads the token function and the
//! peer (node-oidc-provider) with the same load generator at the same concurrency
//! on the same CPU budget. Writes bench/results/latest.{md,json}.
//!
//! Expects the local stack's environment (`.local/env`) and the paths below
//! (bench/run.sh sets everything up).
// The bench harness measures wall time and plays Lambda's clock: it may read
// the system clock (clippy.toml keeps the library on the Clock port).
#![allow(clippy::disallowed_methods)]

mod event;
mod front;
mod http1;
mod lambda_cpu;
mod load;
mod procfs;
mod proxy;
mod report;
mod runtime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use event::{HttpRequest, HttpResponse, form_encode, parse_query, parse_response, url_event};
use runtime::{RuntimeApi, Sandbox};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};

pub type R<T> = Result<T, String>;

pub const FUNCTIONS: [&str; 9] = [
    "authorize",
    "callback",
    "token",
    "refresh",
    "change-password",
    "discovery",
    "introspect",
    "revoke",
    "userinfo",
];
const REDIRECT: &str = "http://127.0.0.1:8080/callback";
const AUDIENCE: &str = "https://api.bench.example";
/// The bench tenant's `--sliding-max` (Maximizer: a token stays active while
/// used, up to 24 h after issue), so introspection and userinfo take the
/// sliding-expiry path, with its once-a-minute write.
const SLIDING_MAX: &str = "86400";
/// Scope of the user token that introspection and userinfo are measured with.
const USER_SCOPE: &str = "openid profile email api";
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| d.to_owned())
}

fn env_num<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

pub struct Cfg {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub zip_dir: PathBuf,
    pub admin: PathBuf,
    pub peer_dir: PathBuf,
    pub out_dir: PathBuf,
    pub log_dir: PathBuf,
    pub python: PathBuf,
    pub cold_starts: usize,
    pub concurrency: usize,
    pub pool: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub scale: f64,
    pub rounds: usize,
    pub server_cpu: Option<usize>,
    pub harness_cpu: Option<usize>,
    /// Each function's configured memory (MB), from infra/template.yaml via
    /// BENCH_MEMORY (`token=512 refresh=256 …`; 128 when not listed).
    pub memory: HashMap<String, u32>,
    /// Why Lambda's CPU share cannot be emulated here (`None`: it is).
    pub no_throttle: Option<String>,
    /// Sweep: cold starts per function and memory size, warm requests after them.
    pub sweep_starts: usize,
    pub sweep_warm: usize,
}

impl Cfg {
    fn from_env(server_cpu: Option<usize>, harness_cpu: Option<usize>) -> Cfg {
        let root = PathBuf::from(env_or("BENCH_ROOT", "."));
        let p = |k: &str, d: &str| {
            let v = PathBuf::from(env_or(k, d));
            if v.is_absolute() { v } else { root.join(v) }
        };
        let concurrency = env_num("BENCH_CONCURRENCY", 8usize).max(1);
        Cfg {
            bin_dir: p("BENCH_BIN_DIR", "target/bench/bin"),
            zip_dir: p("BENCH_ZIP_DIR", "target/lambda"),
            admin: p("BENCH_ADMIN", "target/debug/tollgate-admin"),
            peer_dir: p("BENCH_PEER_DIR", "bench/peer"),
            out_dir: p("BENCH_OUT", "bench/results"),
            log_dir: p("BENCH_LOG_DIR", "target/bench/logs"),
            python: p("BENCH_PYTHON", ".venv/bin/python"),
            cold_starts: env_num("BENCH_COLD_STARTS", 21usize).max(1),
            concurrency,
            pool: env_num("BENCH_POOL", concurrency).max(1),
            warmup: Duration::from_secs_f64(env_num("BENCH_WARMUP_SECS", 3.0)),
            duration: Duration::from_secs_f64(env_num("BENCH_DURATION_SECS", 8.0)),
            scale: env_num("BENCH_SCALE", 1.0f64),
            rounds: env_num("BENCH_ROUNDS", 2usize).max(1),
            server_cpu,
            harness_cpu,
            memory: env_or("BENCH_MEMORY", "")
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
            no_throttle: lambda_cpu::available().err(),
            sweep_starts: env_num("BENCH_SWEEP_STARTS", 3usize),
            sweep_warm: env_num("BENCH_SWEEP_WARM", 40usize).max(1),
            root,
        }
    }

    /// The function's configured memory (MB).
    pub fn memory_of(&self, function: &str) -> u32 {
        self.memory.get(function).copied().unwrap_or(128)
    }

    /// The memory to throttle a sandbox to, if this pass emulates Lambda's CPU
    /// share and the machine can.
    fn throttle_for(&self, function: &str, emulate: bool) -> Option<u32> {
        (emulate && self.no_throttle.is_none()).then(|| self.memory_of(function))
    }

    fn bin(&self, function: &str) -> PathBuf {
        self.bin_dir.join(function).join("bootstrap")
    }

    /// A sequential sample count, scaled by BENCH_SCALE.
    fn n(&self, base: usize) -> usize {
        ((base as f64 * self.scale).round() as usize).max(5)
    }
}

// ---- provisioning (the real tollgate-admin) -------------------------------------

fn admin(cfg: &Cfg, args: &[&str], stdin: Option<&str>) -> R<Value> {
    use std::io::Write;
    let mut child = std::process::Command::new(&cfg.admin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cfg.admin.display()))?;
    if let Some(mut si) = child.stdin.take()
        && let Some(s) = stdin
    {
        si.write_all(s.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "tollgate-admin {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("tollgate-admin output: {e}"))
}

/// Many `tollgate-admin` commands, a few at a time (each hashes a password).
fn admin_batch(cfg: &Cfg, jobs: &[(Vec<String>, Option<String>)]) -> R<Vec<Value>> {
    use std::io::Write;
    let mut out = Vec::new();
    for chunk in jobs.chunks(4) {
        let mut children = Vec::new();
        for (args, stdin) in chunk {
            let mut child = std::process::Command::new(&cfg.admin)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", cfg.admin.display()))?;
            if let Some(mut si) = child.stdin.take()
                && let Some(s) = stdin
            {
                si.write_all(s.as_bytes()).map_err(|e| e.to_string())?;
            }
            children.push((args, child));
        }
        for (args, child) in children {
            let o = child.wait_with_output().map_err(|e| e.to_string())?;
            if !o.status.success() {
                return Err(format!(
                    "tollgate-admin {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            out.push(
                serde_json::from_slice(&o.stdout)
                    .map_err(|e| format!("tollgate-admin output: {e}"))?,
            );
        }
    }
    Ok(out)
}

fn s(v: &Value, k: &str) -> R<String> {
    v[k].as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {k} in {v}"))
}

pub struct Lab {
    pub tenant: String,
    pub cc_id: String,
    pub cc_secret: String,
    pub web_id: String,
    pub web_secret: String,
    /// A resource server (`--introspect`): may introspect every token of the tenant.
    pub rs_id: String,
    pub rs_secret: String,
    /// Users who sign in (login page, password grant), taken in turn: the
    /// throttle checks at most 5 passwords per user per 15 minutes, successes
    /// included, so the bench spreads its logins over enough users.
    pub users: Vec<String>,
    pub user_pw: String,
    next_user: std::cell::Cell<usize>,
    /// Users who change their password, in turn: (user id, index of the
    /// current password in `carol_pw`).
    pub carols: Vec<(String, usize)>,
    next_carol: usize,
    pub carol_pw: [String; 2],
}

/// Password checks per bench user, under the throttle's 5 per 15 minutes.
const CHECKS_PER_USER: usize = 4;

impl Lab {
    fn provision(cfg: &Cfg) -> R<Lab> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let tenant = format!("bench-{secs}-{}", std::process::id());
        admin(cfg, &["init"], None)?;
        admin(
            cfg,
            &[
                "tenant",
                "create",
                &tenant,
                "--name",
                "Tollgate bench",
                "--audience",
                AUDIENCE,
                "--sliding-max",
                SLIDING_MAX,
            ],
            None,
        )?;
        let cc = admin(
            cfg,
            &[
                "client",
                "create",
                "--tenant",
                &tenant,
                "--name",
                "Bench M2M",
                "--grant",
                "client_credentials",
                "--scope",
                "api",
            ],
            None,
        )?;
        let web = admin(
            cfg,
            &[
                "client",
                "create",
                "--tenant",
                &tenant,
                "--name",
                "Bench Web",
                "--grant",
                "authorization_code",
                "password",
                "--redirect-uri",
                REDIRECT,
                "--scope",
                "api",
            ],
            None,
        )?;
        let rs = admin(
            cfg,
            &[
                "client",
                "create",
                "--tenant",
                &tenant,
                "--name",
                "Bench API (resource server)",
                "--grant",
                "client_credentials",
                "--scope",
                "api",
                "--introspect",
            ],
            None,
        )?;
        // Every password check the run makes (warm-up, series, cold starts, the
        // peak-RSS replay), so that no user is checked more than CHECKS_PER_USER
        // times within the throttle's window.
        let diag = env_num("BENCH_DIAG_STARTS", 7usize);
        // The emulated pass repeats the warm series and cold starts; the
        // memory sweep adds its starts and warm requests at each size.
        let sweep = lambda_cpu::SWEEP_MB.len() * (cfg.sweep_starts + cfg.sweep_warm.min(5));
        let logins = 2 * (5 + cfg.n(40) + cfg.n(60) + cfg.cold_starts)
            + diag
            + 2 * (4 + cfg.n(40) + cfg.n(60))
            + sweep;
        let changes = 2 * (2 + cfg.n(30) + cfg.cold_starts) + diag + sweep;
        let user_pw = "bench alice password 1".to_owned();
        let carol_pw = [
            "bench carol password one".to_owned(),
            "bench carol password two".to_owned(),
        ];
        let create = |name: String, pw: &str| {
            (
                [
                    "user",
                    "create",
                    "--tenant",
                    &tenant,
                    "--username",
                    &name,
                    "--email",
                    &format!("{name}@bench.example"),
                    "--name",
                    "Bench User",
                ]
                .map(str::to_owned)
                .to_vec(),
                Some(pw.to_owned()),
            )
        };
        let n_users = logins.div_ceil(CHECKS_PER_USER) + 1;
        let n_carols = changes.div_ceil(CHECKS_PER_USER) + 1;
        log(format!(
            "creating {n_users} users who sign in and {n_carols} who change passwords \
             (the throttle allows 5 password checks per user per 15 minutes)"
        ));
        let users: Vec<String> = (0..n_users).map(|i| format!("alice-{i}")).collect();
        admin_batch(
            cfg,
            &users
                .iter()
                .map(|u| create(u.clone(), &user_pw))
                .collect::<Vec<_>>(),
        )?;
        let carols = admin_batch(
            cfg,
            &(0..n_carols)
                .map(|i| create(format!("carol-{i}"), &carol_pw[0]))
                .collect::<Vec<_>>(),
        )?
        .iter()
        .map(|v| s(v, "user_id").map(|id| (id, 0)))
        .collect::<R<Vec<_>>>()?;
        Ok(Lab {
            cc_id: s(&cc, "client_id")?,
            cc_secret: s(&cc, "client_secret")?,
            web_id: s(&web, "client_id")?,
            web_secret: s(&web, "client_secret")?,
            rs_id: s(&rs, "client_id")?,
            rs_secret: s(&rs, "client_secret")?,
            users,
            user_pw,
            next_user: std::cell::Cell::new(0),
            carols,
            next_carol: 0,
            carol_pw,
            tenant,
        })
    }

    /// The next user to sign in as.
    fn user(&self) -> &str {
        let i = self.next_user.get();
        self.next_user.set(i + 1);
        &self.users[i % self.users.len()]
    }

    fn base(&self) -> String {
        format!("/oauth2/{}", self.tenant)
    }

    pub fn discovery(&self) -> HttpRequest {
        HttpRequest::get(&format!("{}/.well-known/openid-configuration", self.base()))
    }

    pub fn authorize(&self, state: &str) -> HttpRequest {
        HttpRequest::get(&format!(
            "{}/authorize?{}",
            self.base(),
            form_encode(&[
                ("response_type", "code"),
                ("client_id", &self.web_id),
                ("redirect_uri", REDIRECT),
                ("scope", "api"),
                ("state", state),
            ])
        ))
    }

    pub fn callback(&self, tx: &str) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/callback", self.base()),
            &[
                ("tx", tx),
                ("username", self.user()),
                ("password", &self.user_pw),
                ("decision", "allow"),
            ],
        )
    }

    pub fn client_credentials(&self) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/token", self.base()),
            &[("grant_type", "client_credentials"), ("scope", "api")],
        )
        .basic(&self.cc_id, &self.cc_secret)
    }

    pub fn password(&self) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/token", self.base()),
            &[
                ("grant_type", "password"),
                ("username", self.user()),
                ("password", &self.user_pw),
                ("scope", "api"),
            ],
        )
        .basic(&self.web_id, &self.web_secret)
    }

    /// The password grant for a user token introspection and userinfo accept
    /// (`openid`, a session `sid`, a refresh token).
    pub fn password_openid(&self) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/token", self.base()),
            &[
                ("grant_type", "password"),
                ("username", self.user()),
                ("password", &self.user_pw),
                ("scope", USER_SCOPE),
            ],
        )
        .basic(&self.web_id, &self.web_secret)
    }

    /// The resource server introspects a token (RFC 7662).
    pub fn introspect(&self, token: &str) -> HttpRequest {
        HttpRequest::form(&format!("{}/introspect", self.base()), &[("token", token)])
            .basic(&self.rs_id, &self.rs_secret)
    }

    /// The M2M client revokes one of its access tokens (RFC 7009).
    pub fn revoke(&self, token: &str) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/revoke", self.base()),
            &[("token", token), ("token_type_hint", "access_token")],
        )
        .basic(&self.cc_id, &self.cc_secret)
    }

    /// UserInfo with the token as `Authorization: Bearer`.
    pub fn userinfo(&self, token: &str) -> HttpRequest {
        let mut r = HttpRequest::get(&format!("{}/userinfo", self.base()));
        r.headers
            .push(("authorization".into(), format!("Bearer {token}")));
        r
    }

    pub fn code(&self, code: &str) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/token", self.base()),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .basic(&self.web_id, &self.web_secret)
    }

    pub fn refresh(&self, rt: &str) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/refresh", self.base()),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .basic(&self.web_id, &self.web_secret)
    }

    /// Changes the next carol's password to the other one (and remembers it).
    pub fn change_password(&mut self) -> HttpRequest {
        let k = self.next_carol % self.carols.len();
        self.next_carol += 1;
        let (from, to) = (self.carols[k].1, 1 - self.carols[k].1);
        self.carols[k].1 = to;
        let carol_id = self.carols[k].0.clone();
        HttpRequest::form(
            &format!("{}/token/changepassword", self.base()),
            &[
                ("client_id", &self.web_id),
                ("client_secret", &self.web_secret),
                ("userid", &carol_id),
                ("password", &self.carol_pw[from]),
                ("newpassword", &self.carol_pw[to]),
            ],
        )
    }
}

fn expect(r: &HttpResponse, status: u16, what: &str) -> R<()> {
    if r.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected HTTP {status}, got {}: {}",
            r.status,
            r.text().chars().take(400).collect::<String>()
        ))
    }
}

fn expect_token(r: &HttpResponse, what: &str, want_refresh: bool) -> R<Value> {
    expect(r, 200, what)?;
    let v = r.json();
    if v["access_token"].as_str().is_none() {
        return Err(format!("{what}: no access_token in {}", r.text()));
    }
    if want_refresh && v["refresh_token"].as_str().is_none() {
        return Err(format!("{what}: no refresh_token in {}", r.text()));
    }
    Ok(v)
}

/// An introspection answer for an active token; its `exp` (the sliding deadline).
fn expect_active(r: &HttpResponse, what: &str) -> R<u64> {
    expect(r, 200, what)?;
    let v = r.json();
    if v["active"] != Value::Bool(true) {
        return Err(format!("{what}: token not active: {}", r.text()));
    }
    v["exp"]
        .as_u64()
        .ok_or_else(|| format!("{what}: no exp in {}", r.text()))
}

fn expect_userinfo(r: &HttpResponse) -> R<()> {
    expect(r, 200, "userinfo")?;
    if r.json()["sub"].as_str().is_none() {
        return Err(format!("userinfo: no sub in {}", r.text()));
    }
    Ok(())
}

/// A claim of a JWT (unverified: the bench only reads its own tokens).
fn jwt_claim(token: &str, claim: &str) -> Option<u64> {
    let c = token.split('.').nth(1)?;
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    v[claim].as_u64()
}

fn form_tx(r: &HttpResponse) -> R<String> {
    let html = r.text();
    let marker = "name=\"tx\" value=\"";
    let start = html.find(marker).ok_or("no tx field in the login page")? + marker.len();
    let end = html[start..].find('"').ok_or("unterminated tx")? + start;
    Ok(html[start..end].to_owned())
}

fn code_from(r: &HttpResponse) -> R<String> {
    expect(r, 303, "callback")?;
    let loc = r.header("location").ok_or("callback: no Location")?;
    let q = loc.split_once('?').map(|x| x.1).unwrap_or("");
    parse_query(q)
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .ok_or_else(|| format!("callback: no code in {loc}"))
}

fn expect_changed(r: &HttpResponse) -> R<()> {
    expect(r, 200, "change-password")?;
    if r.json()["success"] != Value::Bool(true) {
        return Err(format!("change-password failed: {}", r.text()));
    }
    Ok(())
}

/// Header and the interesting claims of a JWT, for the sanity check.
pub fn jwt_summary(token: &str) -> Value {
    let mut parts = token.split('.');
    let dec = |p: Option<&str>| -> Value {
        p.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let h = dec(parts.next());
    let c = dec(parts.next());
    let lifetime = match (c["exp"].as_u64(), c["iat"].as_u64()) {
        (Some(e), Some(i)) => Value::from(e.saturating_sub(i)),
        _ => Value::Null,
    };
    json!({
        "alg": h["alg"], "typ": h["typ"], "aud": c["aud"], "scope": c["scope"],
        "lifetime_s": lifetime, "bytes": token.len(),
    })
}

// ---- sandboxes -------------------------------------------------------------------

pub struct Warm {
    pub function: &'static str,
    api: RuntimeApi,
    sb: Sandbox,
    log: PathBuf,
    /// The CPU quota it runs under after init (Lambda's share of its memory).
    group: Option<lambda_cpu::CpuGroup>,
    /// Spawn → first `GET …/next` (init).
    pub init: Duration,
}

impl Warm {
    async fn start(cfg: &Cfg, function: &'static str, memory: Option<u32>) -> R<Warm> {
        Self::start_with(cfg, function, &[], &format!("{function}.log"), memory).await
    }

    /// Starts a sandbox and waits for the end of its init (its first `GET
    /// …/next`). With `memory`, the init runs unthrottled and the sandbox is
    /// then moved into a cgroup with that memory's CPU share, before any
    /// invocation is queued: as Lambda runs init and invocations.
    async fn start_with(
        cfg: &Cfg,
        function: &'static str,
        env: &[(&str, &str)],
        log_name: &str,
        memory: Option<u32>,
    ) -> R<Warm> {
        let api = RuntimeApi::start(&format!("tollgate-{function}"))
            .await
            .map_err(|e| e.to_string())?;
        let log = cfg.log_dir.join(log_name);
        let mem = memory
            .unwrap_or_else(|| cfg.memory_of(function))
            .to_string();
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &mem));
        let sb = Sandbox::spawn(
            &cfg.bin(function),
            function,
            &api,
            &log,
            cfg.server_cpu,
            &env,
        )
        .map_err(|e| format!("cannot start {function}: {e}"))?;
        let Some(ready) = api.first_poll(Duration::from_secs(15)).await else {
            sb.kill().await;
            return Err(format!(
                "{function} never asked for an invocation (see {}); init errors: {:?}",
                log.display(),
                api.init_errors()
            ));
        };
        let init = ready.saturating_duration_since(sb.spawned);
        let group = lambda_cpu::CpuGroup::holding(memory, sb.pid)?;
        Ok(Warm {
            function,
            api,
            sb,
            log,
            group,
            init,
        })
    }

    async fn call(&self, req: &HttpRequest) -> R<(HttpResponse, Duration)> {
        let o = self.api.invoke(url_event(req), CALL_TIMEOUT).await?;
        if o.error {
            return Err(format!(
                "{}: invocation error: {}",
                self.function,
                String::from_utf8_lossy(&o.body)
            ));
        }
        Ok((parse_response(&o.body)?, o.duration()))
    }

    fn pid(&self) -> String {
        self.sb.pid.to_string()
    }

    async fn stop(self) {
        self.sb.kill().await;
        drop(self.group);
    }

    /// Spawn → the end of this invocation, for a sandbox's first request.
    async fn call_first(&self, req: &HttpRequest) -> R<(HttpResponse, Duration, Duration)> {
        let o = self.api.invoke(url_event(req), CALL_TIMEOUT).await?;
        if o.error {
            return Err(format!(
                "{}: invocation error: {}",
                self.function,
                String::from_utf8_lossy(&o.body)
            ));
        }
        Ok((
            parse_response(&o.body)?,
            o.done.saturating_duration_since(self.sb.spawned),
            o.duration(),
        ))
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Samples of one endpoint on one warm sandbox, with its CPU and log volume.
pub struct Series {
    pub endpoint: &'static str,
    pub function: &'static str,
    pub samples_us: Vec<u64>,
    pub cpu_ticks: u64,
    pub cpu_sys_ticks: u64,
    pub log_bytes: u64,
    /// VmHWM of the serving process right after the series.
    pub hwm_after_kib: u64,
}

struct Meter {
    pid: String,
    log: PathBuf,
    ticks0: (u64, u64),
    log0: u64,
    function: &'static str,
    samples: Vec<u64>,
}

impl Meter {
    fn start(w: &Warm) -> Meter {
        Meter {
            pid: w.pid(),
            log: w.log.clone(),
            ticks0: procfs::cpu_split(&w.pid()).unwrap_or((0, 0)),
            log0: file_len(&w.log),
            function: w.function,
            samples: Vec::new(),
        }
    }
    fn add(&mut self, d: Duration) {
        self.samples.push(d.as_micros() as u64);
    }
    fn finish(self, endpoint: &'static str) -> Series {
        let (u1, s1) = procfs::cpu_split(&self.pid).unwrap_or(self.ticks0);
        Series {
            endpoint,
            function: self.function,
            samples_us: self.samples,
            cpu_ticks: (u1 + s1).saturating_sub(self.ticks0.0 + self.ticks0.1),
            cpu_sys_ticks: s1.saturating_sub(self.ticks0.1),
            log_bytes: file_len(&self.log).saturating_sub(self.log0),
            hwm_after_kib: procfs::status_kib(&self.pid, "VmHWM").unwrap_or(0),
        }
    }
}

pub struct WarmResult {
    pub series: Vec<Series>,
    /// Peak RSS (VmHWM, KiB) of each function's warm sandbox at the end.
    pub peak_rss_kib: HashMap<&'static str, u64>,
}

/// What the cold phase needs from the warm one: a live refresh token and a
/// user access token (`openid`, with a session) for introspection and userinfo.
pub struct Tokens {
    pub refresh: String,
    pub access: String,
}

/// The warm series of every function and of the floor; with `emulate`, each
/// sandbox runs at its configured memory's CPU share after init.
async fn warm_phase(
    cfg: &Cfg,
    lab: &mut Lab,
    emulate: bool,
) -> R<(WarmResult, HashMap<&'static str, Warm>, Tokens)> {
    let mut w: HashMap<&'static str, Warm> = HashMap::new();
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        w.insert(f, Warm::start(cfg, f, cfg.throttle_for(f, emulate)).await?);
    }
    let (auth, cb, tok, rf, cp, disc) = (
        &w["authorize"],
        &w["callback"],
        &w["token"],
        &w["refresh"],
        &w["change-password"],
        &w["discovery"],
    );
    let (intro, rev, ui) = (&w["introspect"], &w["revoke"], &w["userinfo"]);

    // Warm-up: every code path once or a few times (fills the caches, as a
    // sandbox that has served a few requests has them).
    log("warm-up");
    let mut rt = String::new();
    for i in 0..5 {
        expect(&disc.call(&lab.discovery()).await?.0, 200, "discovery")?;
        let page = auth.call(&lab.authorize(&format!("w{i}"))).await?.0;
        expect(&page, 200, "authorize")?;
        expect_token(
            &tok.call(&lab.client_credentials()).await?.0,
            "client_credentials",
            false,
        )?;
        if i < 2 {
            let code = code_from(&cb.call(&lab.callback(&form_tx(&page)?)).await?.0)?;
            expect_token(
                &tok.call(&lab.code(&code)).await?.0,
                "authorization_code",
                true,
            )?;
            let v = expect_token(&tok.call(&lab.password()).await?.0, "password", true)?;
            rt = s(&v, "refresh_token")?;
            expect_changed(&cp.call(&lab.change_password()).await?.0)?;
        }
        let v = expect_token(&rf.call(&lab.refresh(&rt)).await?.0, "refresh", true)?;
        rt = s(&v, "refresh_token")?;
    }
    // The user token a resource server checks: a password grant with `openid`,
    // so userinfo answers too; it names its session (`sid`).
    let v = expect_token(
        &tok.call(&lab.password_openid()).await?.0,
        "password (openid)",
        true,
    )?;
    let at = s(&v, "access_token")?;
    let mut user_rt = s(&v, "refresh_token")?;
    for _ in 0..5 {
        expect_active(&intro.call(&lab.introspect(&at)).await?.0, "introspect")?;
        expect_userinfo(&ui.call(&lab.userinfo(&at)).await?.0)?;
        let cc = expect_token(
            &tok.call(&lab.client_credentials()).await?.0,
            "client_credentials",
            false,
        )?;
        let r = rev.call(&lab.revoke(&s(&cc, "access_token")?)).await?.0;
        expect(&r, 200, "revoke")?;
    }

    let mut series = Vec::new();
    let floor = &w[FLOOR];
    log("warm latency: floor");
    for _ in 0..5 {
        expect(&floor.call(&lab.discovery()).await?.0, 200, "floor")?;
    }
    let mut m = Meter::start(floor);
    for _ in 0..cfg.n(2000) {
        let (r, d) = floor.call(&lab.discovery()).await?;
        expect(&r, 200, "floor")?;
        m.add(d);
    }
    series.push(m.finish(FLOOR_SERIES));

    log("warm latency: discovery");
    let mut m = Meter::start(disc);
    for _ in 0..cfg.n(500) {
        let (r, d) = disc.call(&lab.discovery()).await?;
        expect(&r, 200, "discovery")?;
        m.add(d);
    }
    series.push(m.finish("discovery metadata"));

    log("warm latency: authorize page");
    let mut m = Meter::start(auth);
    for i in 0..cfg.n(300) {
        let (r, d) = auth.call(&lab.authorize(&format!("s{i}"))).await?;
        expect(&r, 200, "authorize")?;
        form_tx(&r)?;
        m.add(d);
    }
    series.push(m.finish("authorize page"));

    log("warm latency: client_credentials");
    let mut m = Meter::start(tok);
    for _ in 0..cfg.n(2000) {
        let (r, d) = tok.call(&lab.client_credentials()).await?;
        expect_token(&r, "client_credentials", false)?;
        m.add(d);
    }
    series.push(m.finish("client_credentials"));

    log("warm latency: refresh_token");
    let mut m = Meter::start(rf);
    for _ in 0..cfg.n(300) {
        let (r, d) = rf.call(&lab.refresh(&rt)).await?;
        rt = s(&expect_token(&r, "refresh", true)?, "refresh_token")?;
        m.add(d);
    }
    series.push(m.finish("refresh_token (refresh)"));

    log("warm latency: password");
    let mut m = Meter::start(tok);
    for _ in 0..cfg.n(40) {
        let (r, d) = tok.call(&lab.password()).await?;
        expect_token(&r, "password", true)?;
        m.add(d);
    }
    series.push(m.finish("password (Argon2id)"));

    log("warm latency: login + authorization_code");
    let mut mc = Meter::start(cb);
    let mut mt = Meter::start(tok);
    for i in 0..cfg.n(60) {
        let page = auth.call(&lab.authorize(&format!("c{i}"))).await?.0;
        let (r, d) = cb.call(&lab.callback(&form_tx(&page)?)).await?;
        let code = code_from(&r)?;
        mc.add(d);
        let (r, d) = tok.call(&lab.code(&code)).await?;
        expect_token(&r, "authorization_code", true)?;
        mt.add(d);
    }
    series.push(mt.finish("authorization_code exchange"));
    series.push(mc.finish("login callback (Argon2id)"));

    log("warm latency: change-password");
    let mut m = Meter::start(cp);
    for _ in 0..cfg.n(30) {
        let (r, d) = cp.call(&lab.change_password()).await?;
        expect_changed(&r)?;
        m.add(d);
    }
    series.push(m.finish("change-password (2x Argon2id)"));

    // A resource server checking one user's access token on every API call: the
    // BatchGetItem (token record, session, user) each time; under sliding expiry
    // the deadline is written at most once a minute, so this series writes once
    // or not at all.
    log("warm latency: introspect (active token)");
    let mut m = Meter::start(intro);
    for _ in 0..cfg.n(1000) {
        let (r, d) = intro.call(&lab.introspect(&at)).await?;
        expect_active(&r, "introspect")?;
        m.add(d);
    }
    series.push(m.finish(INTROSPECT_SERIES));

    // The write path: tokens at least a second old, each introspected once, so
    // each introspection also moves the deadline (one conditional UpdateItem).
    log("warm latency: introspect with the sliding write");
    let mut fresh = Vec::new();
    for _ in 0..cfg.n(60) {
        let v = expect_token(&rf.call(&lab.refresh(&user_rt)).await?.0, "refresh", true)?;
        user_rt = s(&v, "refresh_token")?;
        fresh.push(s(&v, "access_token")?);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut m = Meter::start(intro);
    let mut moved = 0;
    for t in &fresh {
        let (r, d) = intro.call(&lab.introspect(t)).await?;
        let exp = expect_active(&r, "introspect")?;
        if jwt_claim(t, "exp").is_some_and(|jwt_exp| exp > jwt_exp) {
            moved += 1;
        }
        m.add(d);
    }
    if moved < fresh.len() {
        log(format!(
            "warning: only {moved} of {} introspections moved the sliding deadline",
            fresh.len()
        ));
    }
    series.push(m.finish(INTROSPECT_WRITE_SERIES));

    log("warm latency: userinfo");
    let mut m = Meter::start(ui);
    for _ in 0..cfg.n(500) {
        let (r, d) = ui.call(&lab.userinfo(&at)).await?;
        expect_userinfo(&r)?;
        m.add(d);
    }
    series.push(m.finish("userinfo (GET, Bearer)"));

    log("warm latency: revoke");
    let mut doomed = Vec::new();
    for _ in 0..cfg.n(300) {
        let v = expect_token(
            &tok.call(&lab.client_credentials()).await?.0,
            "client_credentials",
            false,
        )?;
        doomed.push(s(&v, "access_token")?);
    }
    let mut m = Meter::start(rev);
    for t in &doomed {
        let (r, d) = rev.call(&lab.revoke(t)).await?;
        expect(&r, 200, "revoke")?;
        m.add(d);
    }
    series.push(m.finish("revoke (access token)"));

    let mut peak = HashMap::new();
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        peak.insert(f, procfs::status_kib(&w[f].pid(), "VmHWM").unwrap_or(0));
    }
    Ok((
        WarmResult {
            series,
            peak_rss_kib: peak,
        },
        w,
        Tokens {
            refresh: rt,
            access: at,
        },
    ))
}

/// The floor function (bench/floor): a constant body, nothing else.
pub const FLOOR: &str = "floor";
pub const FLOOR_SERIES: &str = "floor (constant body)";
pub const INTROSPECT_SERIES: &str = "introspect (active user token)";
pub const INTROSPECT_WRITE_SERIES: &str = "introspect, first use in a minute (sliding write)";

/// VmHWM (KiB) of the replayed token workload after each of its phases.
pub struct RssDiag {
    pub variant: &'static str,
    pub hwm_after_cc_kib: u64,
    pub hwm_after_password_kib: u64,
    pub hwm_kib: u64,
    pub rss_end_kib: u64,
}

// ---- peak RSS diagnostic -----------------------------------------------------------------

/// The token function's mixed workload (client_credentials, password, code
/// exchange) replayed on a fresh sandbox, as deployed and with glibc's mmap
/// threshold fixed, to show how much of its peak RSS is heap fragmentation
/// around Argon2's 19 MiB block.
async fn rss_diagnostic(
    cfg: &Cfg,
    lab: &Lab,
    helpers: &HashMap<&'static str, Warm>,
) -> R<Vec<RssDiag>> {
    let variants: [(&'static str, &[(&str, &str)]); 2] = [
        ("as deployed (glibc malloc defaults)", &[]),
        (
            "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576",
            &[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1048576")],
        ),
    ];
    let (auth, cb) = (&helpers["authorize"], &helpers["callback"]);
    let mut out = Vec::new();
    for (name, env) in variants {
        log(format!("peak RSS diagnostic: token, {name}"));
        let tok = Warm::start_with(cfg, "token", env, "token.rss.log", None).await?;
        let code = async |i: usize| -> R<String> {
            let page = auth.call(&lab.authorize(&format!("r{i}"))).await?.0;
            code_from(&cb.call(&lab.callback(&form_tx(&page)?)).await?.0)
        };
        // The warm phase's order: a short warm-up, a long run of
        // client_credentials, then password grants, then code exchanges.
        let cc = async || -> R<()> {
            expect_token(
                &tok.call(&lab.client_credentials()).await?.0,
                "client_credentials",
                false,
            )
            .map(drop)
        };
        let pw = async || -> R<()> {
            expect_token(&tok.call(&lab.password()).await?.0, "password", true).map(drop)
        };
        let ex = async |i: usize| -> R<()> {
            let c = code(i).await?;
            expect_token(
                &tok.call(&lab.code(&c)).await?.0,
                "authorization_code",
                true,
            )
            .map(drop)
        };
        let hwm = || procfs::status_kib(&tok.pid(), "VmHWM").unwrap_or(0);
        for i in 0..2 {
            cc().await?;
            ex(i).await?;
            pw().await?;
        }
        for _ in 0..3 + cfg.n(2000) {
            cc().await?;
        }
        let after_cc = hwm();
        for _ in 0..cfg.n(40) {
            pw().await?;
        }
        let after_pw = hwm();
        for i in 0..cfg.n(60) {
            ex(100 + i).await?;
        }
        out.push(RssDiag {
            variant: name,
            hwm_after_cc_kib: after_cc,
            hwm_after_password_kib: after_pw,
            hwm_kib: hwm(),
            rss_end_kib: procfs::status_kib(&tok.pid(), "VmRSS").unwrap_or(0),
        });
        tok.stop().await;
    }
    Ok(out)
}

// ---- cold starts -------------------------------------------------------------------

/// What a cold first request waited for (diagnostic pass).
pub struct NetSample {
    /// Time with at least one call to DynamoDB Local or moto in flight.
    pub wait_us: u64,
    pub dynamodb_calls: usize,
    pub secrets_calls: usize,
    pub connects: usize,
}

pub struct Cold {
    pub function: &'static str,
    /// A diagnostic variant (changed environment), not the function as deployed.
    pub variant: Option<&'static str>,
    pub request: &'static str,
    pub ready_us: Vec<u64>,
    pub first_response_us: Vec<u64>,
    pub first_duration_us: Vec<u64>,
    pub sockets_at_ready: Vec<usize>,
    pub threads_at_ready: Vec<usize>,
    pub net: Vec<NetSample>,
}

/// A one-certificate trust store (Amazon Root CA 1, or the first certificate of
/// the system bundle) and an empty directory, for the trust-store diagnostic.
fn small_trust_store(cfg: &Cfg) -> Option<(String, String)> {
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").ok()?;
    let certs: Vec<&str> = bundle
        .split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .collect();
    let amazon = std::fs::read_to_string("/etc/ssl/certs/Amazon_Root_CA_1.pem").ok();
    let pem = amazon.or_else(|| certs.first().map(|c| c.to_string()))?;
    let dir = cfg.log_dir.parent()?.to_path_buf();
    let file = dir.join("one-cert.pem");
    let empty = dir.join("empty-cert-dir");
    std::fs::write(&file, pem).ok()?;
    std::fs::create_dir_all(&empty).ok()?;
    Some((
        file.to_string_lossy().into_owned(),
        empty.to_string_lossy().into_owned(),
    ))
}

/// One series of cold starts: a function as deployed, or a diagnostic variant of it.
struct ColdPlan {
    function: &'static str,
    variant: Option<&'static str>,
    env: Vec<(String, String)>,
    /// Timing proxies in front of DynamoDB Local and moto (the diagnostic pass).
    proxies: Option<(proxy::Proxy, proxy::Proxy)>,
    starts: usize,
}

fn endpoint_addr(var: &str) -> R<std::net::SocketAddr> {
    let url = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    hostport.parse().map_err(|e| format!("{var}={url}: {e}"))
}

async fn cold_plans(cfg: &Cfg, diagnostics: bool) -> R<Vec<ColdPlan>> {
    let mut plans: Vec<ColdPlan> = FUNCTIONS
        .iter()
        .chain([&FLOOR])
        .map(|f| ColdPlan {
            function: f,
            variant: None,
            env: vec![],
            proxies: None,
            starts: cfg.cold_starts,
        })
        .collect();
    let diag = env_num("BENCH_DIAG_STARTS", 7usize);
    if diag == 0 || !diagnostics {
        return Ok(plans);
    }
    for f in FUNCTIONS {
        let ddb = proxy::Proxy::start(endpoint_addr("AWS_ENDPOINT_URL_DYNAMODB")?)
            .await
            .map_err(|e| e.to_string())?;
        let sm = proxy::Proxy::start(endpoint_addr("AWS_ENDPOINT_URL_SECRETS_MANAGER")?)
            .await
            .map_err(|e| e.to_string())?;
        plans.push(ColdPlan {
            function: f,
            variant: Some(DIAG_PROXY),
            env: vec![
                (
                    "AWS_ENDPOINT_URL_DYNAMODB".into(),
                    format!("http://{}", ddb.addr),
                ),
                (
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                    format!("http://{}", sm.addr),
                ),
            ],
            proxies: Some((ddb, sm)),
            starts: diag,
        });
    }
    if let Some((file, dir)) = small_trust_store(cfg) {
        plans.push(ColdPlan {
            function: "token",
            variant: Some(DIAG_TRUST),
            env: vec![("SSL_CERT_FILE".into(), file), ("SSL_CERT_DIR".into(), dir)],
            proxies: None,
            starts: cfg.cold_starts,
        });
    }
    Ok(plans)
}

pub const DIAG_PROXY: &str = "through timing proxies in front of DynamoDB Local and moto";
pub const DIAG_TRUST: &str =
    "trust store cut to one certificate (SSL_CERT_FILE, empty SSL_CERT_DIR)";

/// Cold starts of every function and the floor (and, unless `emulate`, the
/// diagnostic variants). With `emulate`, init runs unthrottled and the first
/// invocation at the function's memory's CPU share.
async fn cold_phase(
    cfg: &Cfg,
    lab: &mut Lab,
    helpers: &HashMap<&'static str, Warm>,
    tokens: Tokens,
    emulate: bool,
) -> R<(Vec<Cold>, Tokens)> {
    let auth = &helpers["authorize"];
    let tok = &helpers["token"];
    let Tokens {
        refresh: mut rt,
        access: at,
    } = tokens;
    let mut out = Vec::new();
    for plan in cold_plans(cfg, !emulate).await? {
        let f = plan.function;
        log(format!(
            "cold starts: {f} x{}{}",
            plan.starts,
            plan.variant
                .map(|v| format!(" (diagnostic: {v})"))
                .unwrap_or_default()
        ));
        let request = match f {
            "authorize" => "GET authorize page",
            "callback" => "POST login (Argon2id) -> 303 with code",
            "token" => "POST client_credentials",
            "refresh" => "POST refresh_token",
            "change-password" => "POST change password (2x Argon2id)",
            "introspect" => "POST introspect (active user token)",
            "revoke" => "POST revoke (access token)",
            "userinfo" => "GET userinfo (Bearer)",
            FLOOR => "GET (constant body)",
            _ => "GET openid-configuration",
        };
        let throttle = cfg.throttle_for(f, emulate);
        let mem = cfg.memory_of(f).to_string();
        let mut extra_env: Vec<(&str, &str)> = plan
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        extra_env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &mem));
        let mut c = Cold {
            function: f,
            variant: plan.variant,
            request,
            ready_us: vec![],
            first_response_us: vec![],
            first_duration_us: vec![],
            sockets_at_ready: vec![],
            threads_at_ready: vec![],
            net: vec![],
        };
        for i in 0..plan.starts {
            let req = match f {
                "authorize" => lab.authorize(&format!("cold{i}")),
                "callback" => {
                    let page = auth.call(&lab.authorize(&format!("cold{i}"))).await?.0;
                    lab.callback(&form_tx(&page)?)
                }
                "token" => lab.client_credentials(),
                "refresh" => lab.refresh(&rt),
                "change-password" => lab.change_password(),
                "introspect" => lab.introspect(&at),
                "revoke" => {
                    let v = expect_token(
                        &tok.call(&lab.client_credentials()).await?.0,
                        "client_credentials",
                        false,
                    )?;
                    lab.revoke(&s(&v, "access_token")?)
                }
                "userinfo" => lab.userinfo(&at),
                _ => lab.discovery(),
            };
            if let Some((d, s)) = &plan.proxies {
                d.take();
                s.take();
            }
            let api = RuntimeApi::start(&format!("tollgate-{f}"))
                .await
                .map_err(|e| e.to_string())?;
            let logf = cfg.log_dir.join(format!("{f}.cold.log"));
            let sb = Sandbox::spawn(&cfg.bin(f), f, &api, &logf, cfg.server_cpu, &extra_env)
                .map_err(|e| format!("cannot start {f}: {e}"))?;
            let spawned = sb.spawned;
            let pid = sb.pid.to_string();
            let Some(ready) = api.first_poll(Duration::from_secs(15)).await else {
                sb.kill().await;
                return Err(format!(
                    "{f}: no GET /next within 15 s (see {}); init errors: {:?}",
                    logf.display(),
                    api.init_errors()
                ));
            };
            // Reading /proc/<pid>/net/tcp costs several ms on a busy machine;
            // the sandbox waits on `GET /next` meanwhile, so that time is taken
            // out of its first response below.
            let sampling = Instant::now();
            c.sockets_at_ready
                .push(procfs::tcp_sockets(&pid).unwrap_or(0));
            c.threads_at_ready.push(procfs::threads(&pid).unwrap_or(0));
            let sampling = sampling.elapsed();
            let group = lambda_cpu::CpuGroup::holding(throttle, sb.pid)?;
            let o = api.invoke(url_event(&req), CALL_TIMEOUT).await;
            sb.kill().await;
            drop(group);
            drop(api);
            let o = o?;
            if o.error {
                return Err(format!(
                    "{f}: invocation error: {}",
                    String::from_utf8_lossy(&o.body)
                ));
            }
            let r = parse_response(&o.body)?;
            match f {
                "authorize" => {
                    expect(&r, 200, f)?;
                    form_tx(&r)?;
                }
                "callback" => {
                    code_from(&r)?;
                }
                "token" => {
                    expect_token(&r, f, false)?;
                }
                "refresh" => rt = s(&expect_token(&r, f, true)?, "refresh_token")?,
                "change-password" => expect_changed(&r)?,
                "introspect" => {
                    expect_active(&r, f)?;
                }
                "userinfo" => expect_userinfo(&r)?,
                _ => expect(&r, 200, f)?,
            }
            c.ready_us
                .push(ready.saturating_duration_since(spawned).as_micros() as u64);
            c.first_response_us.push(
                o.done
                    .saturating_duration_since(spawned)
                    .saturating_sub(sampling)
                    .as_micros() as u64,
            );
            c.first_duration_us.push(o.duration().as_micros() as u64);
            if let Some((d, s)) = &plan.proxies {
                let (d, s) = (d.take(), s.take());
                let all: Vec<_> = d
                    .exchanges
                    .iter()
                    .chain(s.exchanges.iter())
                    .copied()
                    .collect();
                c.net.push(NetSample {
                    wait_us: proxy::union_us(all),
                    dynamodb_calls: d.exchanges.len(),
                    secrets_calls: s.exchanges.len(),
                    connects: (d.connects + s.connects) as usize,
                });
            }
        }
        out.push(c);
    }
    Ok((
        out,
        Tokens {
            refresh: rt,
            access: at,
        },
    ))
}

// ---- memory sweep ----------------------------------------------------------------

/// One function at one memory size, Lambda's CPU share emulated.
pub struct SweepRow {
    pub function: &'static str,
    pub memory_mb: u32,
    pub init_us: Vec<u64>,
    pub cold_us: Vec<u64>,
    pub warm_us: Vec<u64>,
    pub cpu_ticks: u64,
}

/// The request the sweep sends `f` (fresh state where a request consumes it).
async fn sweep_request(
    f: &str,
    i: usize,
    lab: &mut Lab,
    helpers: &HashMap<&'static str, Warm>,
    rt: &str,
    at: &str,
) -> R<HttpRequest> {
    Ok(match f {
        "authorize" => lab.authorize(&format!("sw{i}")),
        "callback" => {
            let page = helpers["authorize"]
                .call(&lab.authorize(&format!("sw{i}")))
                .await?
                .0;
            lab.callback(&form_tx(&page)?)
        }
        "token" => lab.client_credentials(),
        "refresh" => lab.refresh(rt),
        "change-password" => lab.change_password(),
        "introspect" => lab.introspect(at),
        "revoke" => {
            let v = expect_token(
                &helpers["token"].call(&lab.client_credentials()).await?.0,
                "client_credentials",
                false,
            )?;
            lab.revoke(&s(&v, "access_token")?)
        }
        "userinfo" => lab.userinfo(at),
        _ => lab.discovery(),
    })
}

fn sweep_check(f: &str, r: &HttpResponse, rt: &mut String) -> R<()> {
    match f {
        "authorize" => {
            expect(r, 200, f)?;
            form_tx(r).map(|_| ())
        }
        "callback" => code_from(r).map(|_| ()),
        "token" => expect_token(r, f, false).map(|_| ()),
        "refresh" => {
            *rt = s(&expect_token(r, f, true)?, "refresh_token")?;
            Ok(())
        }
        "change-password" => expect_changed(r),
        "introspect" => expect_active(r, f).map(|_| ()),
        "userinfo" => expect_userinfo(r),
        _ => expect(r, 200, f),
    }
}

/// Functions whose every request checks a password (2 for change-password).
fn checks_passwords(f: &str) -> bool {
    matches!(f, "callback" | "change-password")
}

/// Warm requests the sweep sends one function at one size.
fn sweep_warm_n(cfg: &Cfg, f: &str) -> usize {
    if checks_passwords(f) {
        cfg.sweep_warm.min(5)
    } else {
        cfg.sweep_warm
    }
}

/// Every function and the floor at every size of `SWEEP_MB`: `sweep_starts`
/// cold starts (init unthrottled, then the first request at the size's CPU
/// share), then `sweep_warm` warm requests on the last sandbox.
async fn sweep_phase(
    cfg: &Cfg,
    lab: &mut Lab,
    helpers: &HashMap<&'static str, Warm>,
    tokens: &mut Tokens,
) -> R<Vec<SweepRow>> {
    let mut rows = Vec::new();
    if cfg.sweep_starts == 0 || cfg.no_throttle.is_some() {
        return Ok(rows);
    }
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        log(format!(
            "memory sweep: {f} at {:?} MB, {} starts, {} warm",
            lambda_cpu::SWEEP_MB,
            cfg.sweep_starts,
            sweep_warm_n(cfg, f)
        ));
        for mem in lambda_cpu::SWEEP_MB {
            let mut row = SweepRow {
                function: f,
                memory_mb: mem,
                init_us: vec![],
                cold_us: vec![],
                warm_us: vec![],
                cpu_ticks: 0,
            };
            for start in 0..cfg.sweep_starts {
                let w = Warm::start_with(cfg, f, &[], &format!("{f}.sweep.log"), Some(mem)).await?;
                let req =
                    sweep_request(f, start, lab, helpers, &tokens.refresh, &tokens.access).await?;
                let (r, first, _) = w.call_first(&req).await?;
                sweep_check(f, &r, &mut tokens.refresh)?;
                row.init_us.push(w.init.as_micros() as u64);
                row.cold_us.push(first.as_micros() as u64);
                if start + 1 == cfg.sweep_starts {
                    let mut m = Meter::start(&w);
                    for i in 0..sweep_warm_n(cfg, f) {
                        let req = sweep_request(
                            f,
                            1000 + i,
                            lab,
                            helpers,
                            &tokens.refresh,
                            &tokens.access,
                        )
                        .await?;
                        let (r, d) = w.call(&req).await?;
                        sweep_check(f, &r, &mut tokens.refresh)?;
                        m.add(d);
                    }
                    let series = m.finish("sweep");
                    row.warm_us = series.samples_us;
                    row.cpu_ticks = series.cpu_ticks;
                }
                w.stop().await;
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

// ---- load: Tollgate's token function vs node-oidc-provider ---------------------------

pub struct LoadRow {
    pub who: &'static str,
    pub setup: String,
    pub processes: usize,
    pub completed: u64,
    pub errors: u64,
    pub window_s: f64,
    pub latencies_us: Vec<u64>,
    /// CPU ticks of the server processes over the window.
    pub server_ticks: u64,
    /// Of which in the kernel (stime).
    pub server_sys_ticks: u64,
    /// CPU ticks of the bench process (load generator, and for Tollgate the
    /// Runtime API stand-in and function-URL front) over the window.
    pub harness_ticks: u64,
    /// Largest VmHWM among the server processes, and their VmRSS sum, KiB.
    pub peak_rss_kib: u64,
    pub rss_total_kib: u64,
    pub token: Value,
    pub first_error: Option<String>,
    pub rounds: usize,
}

fn cc_spec(
    cfg: &Cfg,
    addr: std::net::SocketAddr,
    path: String,
    id: &str,
    secret: &str,
) -> load::LoadSpec {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    );
    load::LoadSpec {
        addr,
        method: "POST",
        path,
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("authorization".into(), basic),
        ],
        body: Bytes::from_static(b"grant_type=client_credentials&scope=api"),
        concurrency: cfg.concurrency,
        warmup: cfg.warmup,
        duration: cfg.duration,
    }
}

/// (utime + stime, stime) summed over processes, in ticks.
fn ticks_of(pids: &[String]) -> (u64, u64) {
    pids.iter()
        .filter_map(|p| procfs::cpu_split(p))
        .fold((0, 0), |(t, k), (u, s)| (t + u + s, k + s))
}

/// What a load window is measured with: server (total, kernel) and the bench's own ticks.
fn load_snapshot(pids: &[String]) -> (u64, u64, u64) {
    let (t, k) = ticks_of(pids);
    (t, k, procfs::cpu_ticks("self").unwrap_or(0))
}

fn row_from(
    who: &'static str,
    setup: String,
    pids: &[String],
    res: load::LoadResult,
    start: (u64, u64, u64),
    end: (u64, u64, u64),
) -> LoadRow {
    let token = res
        .sample
        .as_ref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v["access_token"].as_str().map(jwt_summary))
        .unwrap_or(Value::Null);
    LoadRow {
        who,
        setup,
        processes: pids.len(),
        completed: res.completed,
        errors: res.errors,
        window_s: res.window.as_secs_f64(),
        latencies_us: res.latencies_us,
        server_ticks: end.0.saturating_sub(start.0),
        server_sys_ticks: end.1.saturating_sub(start.1),
        harness_ticks: end.2.saturating_sub(start.2),
        peak_rss_kib: pids
            .iter()
            .filter_map(|p| procfs::status_kib(p, "VmHWM"))
            .max()
            .unwrap_or(0),
        rss_total_kib: pids
            .iter()
            .filter_map(|p| procfs::status_kib(p, "VmRSS"))
            .sum(),
        token,
        first_error: res.first_error,
        rounds: 1,
    }
}

/// Adds a round to the rows so far.
fn merge(acc: Option<LoadRow>, r: LoadRow) -> LoadRow {
    let Some(mut a) = acc else { return r };
    a.completed += r.completed;
    a.errors += r.errors;
    a.window_s += r.window_s;
    a.latencies_us.extend(r.latencies_us);
    a.server_ticks += r.server_ticks;
    a.server_sys_ticks += r.server_sys_ticks;
    a.harness_ticks += r.harness_ticks;
    a.peak_rss_kib = a.peak_rss_kib.max(r.peak_rss_kib);
    a.rss_total_kib = a.rss_total_kib.max(r.rss_total_kib);
    a.first_error = a.first_error.or(r.first_error);
    a.rounds += 1;
    a
}

async fn load_tollgate(cfg: &Cfg, lab: &Lab) -> R<LoadRow> {
    log(format!(
        "load: Tollgate token function, {} sandboxes, concurrency {}, {:?} + {:?} warm-up",
        cfg.pool, cfg.concurrency, cfg.duration, cfg.warmup
    ));
    let api = Arc::new(
        RuntimeApi::start("tollgate-token")
            .await
            .map_err(|e| e.to_string())?,
    );
    let logf = cfg.log_dir.join("token.load.log");
    let mut boxes = Vec::new();
    for _ in 0..cfg.pool {
        boxes.push(
            Sandbox::spawn(&cfg.bin("token"), "token", &api, &logf, cfg.server_cpu, &[])
                .map_err(|e| format!("cannot start token: {e}"))?,
        );
    }
    let pids: Vec<String> = boxes.iter().map(|b| b.pid.to_string()).collect();
    let front = front::Front::start(HashMap::from([("token".to_owned(), api.clone())]))
        .await
        .map_err(|e| e.to_string())?;
    let spec = cc_spec(
        cfg,
        front.addr,
        format!("/lambda-url/token/oauth2/{}/token", lab.tenant),
        &lab.cc_id,
        &lab.cc_secret,
    );
    let (res, start, end) = load::run(&spec, || load_snapshot(&pids)).await;
    let setup = format!(
        "{} token sandboxes (release, one invocation at a time each) behind the function-URL front, all on 1 CPU",
        cfg.pool
    );
    let row = row_from("Tollgate", setup, &pids, res, start, end);
    drop(front);
    for b in boxes {
        b.kill().await;
    }
    Ok(row)
}

async fn load_peer(cfg: &Cfg, lab: &Lab) -> R<LoadRow> {
    log(format!(
        "load: node-oidc-provider, 1 process, concurrency {}, {:?} + {:?} warm-up",
        cfg.concurrency, cfg.duration, cfg.warmup
    ));
    let logf = std::fs::File::create(cfg.log_dir.join("peer.log")).map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::new(env_or("BENCH_NODE", "node"));
    cmd.arg("server.mjs")
        .current_dir(&cfg.peer_dir)
        .env("NODE_ENV", "production")
        .env("PEER_PORT", "0")
        .env("PEER_CLIENT_ID", &lab.cc_id)
        .env("PEER_CLIENT_SECRET", &lab.cc_secret)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(logf)
        .kill_on_drop(true);
    runtime::pin_and_tie(&mut cmd, cfg.server_cpu);
    let mut child = cmd.spawn().map_err(|e| format!("cannot start node: {e}"))?;
    let pid = child.id().unwrap_or(0).to_string();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(p) = l.strip_prefix("ready ") {
                return p.trim().parse::<u16>().ok();
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(port) = port else {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err("the peer did not start (see target/bench/logs/peer.log)".into());
    };
    let pids = vec![pid];
    let spec = cc_spec(
        cfg,
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        "/token".into(),
        &lab.cc_id,
        &lab.cc_secret,
    );
    let (res, start, end) = load::run(&spec, || load_snapshot(&pids)).await;
    let row = row_from(
        "node-oidc-provider",
        "1 node process (NODE_ENV=production, in-memory adapter), on 1 CPU".into(),
        &pids,
        res,
        start,
        end,
    );
    // SIGTERM (it closes its server and exits), then make sure.
    if let Some(id) = child.id() {
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(id as i32, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    Ok(row)
}

// ---- DynamoDB item sizes -------------------------------------------------------------

fn item_sizes(cfg: &Cfg, tenant: &str) -> R<Value> {
    let out = std::process::Command::new(&cfg.python)
        .arg(cfg.root.join("bench/ddb_items.py"))
        .arg(tenant)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cfg.python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "ddb_items.py: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("ddb_items.py output: {e}"))
}

// ---- main --------------------------------------------------------------------------------

async fn run(machine: procfs::Machine, cfg: Cfg) -> R<()> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&cfg.log_dir).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| e.to_string())?;
    for f in FUNCTIONS.into_iter().chain([FLOOR]) {
        if !cfg.bin(f).is_file() {
            return Err(format!("missing {}", cfg.bin(f).display()));
        }
        for suffix in ["log", "cold.log", "sweep.log"] {
            let _ = std::fs::remove_file(cfg.log_dir.join(format!("{f}.{suffix}")));
        }
    }
    let _ = std::fs::remove_file(cfg.log_dir.join("token.load.log"));
    let mut zips = Vec::new();
    for f in FUNCTIONS {
        let zip = cfg.zip_dir.join(f).join("bootstrap.zip");
        zips.push((
            f,
            std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0),
            std::fs::metadata(cfg.bin(f)).map(|m| m.len()).unwrap_or(0),
        ));
    }

    log("provisioning a tenant with tollgate-admin");
    let mut lab = Lab::provision(&cfg)?;
    log(format!("tenant {}", lab.tenant));

    if env_or("BENCH_LOAD_ONLY", "0") == "1" {
        // Development aid: only the load comparison, summarised on stderr.
        for row in [
            load_tollgate(&cfg, &lab).await?,
            load_peer(&cfg, &lab).await?,
        ] {
            let mut l = row.latencies_us.clone();
            l.sort_unstable();
            let tick = 1000.0 / procfs::clk_tck() as f64;
            log(format!(
                "{}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, CPU/token {:.3} ms, errors {}",
                row.who,
                row.completed as f64 / row.window_s,
                l.get(l.len() / 2).copied().unwrap_or(0) as f64 / 1000.0,
                l.get(l.len() * 99 / 100).copied().unwrap_or(0) as f64 / 1000.0,
                row.server_ticks as f64 * tick / row.completed.max(1) as f64,
                row.errors
            ));
        }
        return Ok(());
    }
    let (warm, helpers, tokens) = warm_phase(&cfg, &mut lab, false).await?;
    let pause = env_num("BENCH_PAUSE_AFTER_WARM", 0u64);
    if pause > 0 {
        // Development aid: time to inspect the warm sandboxes (/proc/<pid>/…).
        for (f, w) in &helpers {
            log(format!("paused: {f} pid {}", w.pid()));
        }
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
    let cold = cold_phase(&cfg, &mut lab, &helpers, tokens, false).await;
    let rss_diag = match cold {
        Ok(_) => rss_diagnostic(&cfg, &lab, &helpers).await,
        Err(_) => Ok(vec![]),
    };
    for (_, w) in helpers {
        w.stop().await;
    }
    let (cold, _) = cold?;
    let rss_diag = rss_diag?;

    // The same again with Lambda's CPU share emulated (each function at its
    // configured memory), then every function at every size of the sweep.
    let (emulated, sweep) = match &cfg.no_throttle {
        Some(why) => {
            log(format!("Lambda's CPU share NOT emulated: {why}"));
            (None, vec![])
        }
        None => {
            log("again with Lambda's CPU share emulated (cgroup cpu quota after init)");
            let (warm, helpers, tokens) = warm_phase(&cfg, &mut lab, true).await?;
            let res = async {
                let (cold, mut tokens) = cold_phase(&cfg, &mut lab, &helpers, tokens, true).await?;
                let sweep = sweep_phase(&cfg, &mut lab, &helpers, &mut tokens).await?;
                Ok::<_, String>((cold, sweep))
            }
            .await;
            for (_, w) in helpers {
                w.stop().await;
            }
            let (cold, sweep) = res?;
            (Some(report::Emulated { warm, cold }), sweep)
        }
    };

    // Interleaved rounds (Tollgate, peer, Tollgate, peer, …), so that a change in
    // the machine's background load hits both sides alike; the rows are merged.
    let (mut ours, mut peer) = (None, None);
    for round in 1..=cfg.rounds {
        log(format!("load round {round} of {}", cfg.rounds));
        ours = Some(merge(ours, load_tollgate(&cfg, &lab).await?));
        peer = Some(merge(peer, load_peer(&cfg, &lab).await?));
    }
    let (ours, peer) = (ours.ok_or("no load rounds")?, peer.ok_or("no load rounds")?);

    log("DynamoDB item sizes");
    let items = item_sizes(&cfg, &lab.tenant)?;

    let facts: serde_json::Map<String, Value> = std::env::vars()
        .filter_map(|(k, v)| {
            k.strip_prefix("BENCH_FACT_")
                .map(|k| (k.to_ascii_lowercase(), Value::String(v)))
        })
        .collect();
    let rep = report::Report {
        cfg: &cfg,
        machine: &machine,
        facts,
        zips,
        cold,
        warm,
        ours,
        peer,
        items,
        rss_diag,
        emulated,
        sweep,
        tenant: lab.tenant.clone(),
        elapsed: t0.elapsed(),
    };
    let (md, js) = rep.render();
    let md_path = cfg.out_dir.join("latest.md");
    let js_path = cfg.out_dir.join("latest.json");
    std::fs::write(&md_path, &md).map_err(|e| e.to_string())?;
    std::fs::write(
        &js_path,
        serde_json::to_string_pretty(&js).unwrap_or_default() + "\n",
    )
    .map_err(|e| e.to_string())?;
    println!("{md}");
    log(format!(
        "wrote {} and {} in {:.0} s",
        md_path.display(),
        js_path.display(),
        t0.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn main() {
    // Read the machine before narrowing our own affinity.
    let machine = procfs::machine();
    // Two CPUs or more: the measured servers (functions, the peer) get CPU 0, the
    // harness (stand-in, front, load generator) CPU 1, so that each side has one
    // whole CPU and they never compete.
    let (server_cpu, harness_cpu) = if machine.nproc >= 2 && env_or("BENCH_PIN", "1") == "1" {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    if let Some(c) = harness_cpu {
        runtime::pin_self(c);
    }
    let cfg = Cfg::from_env(server_cpu, harness_cpu);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(machine, cfg)) {
        log(format!("error: {e}"));
        std::process::exit(1);
    }
}
