//! Provisioning with the real `tollgate-admin` (the bench's tenant, its clients
//! and users) and the requests the bench sends them.

use crate::checks::s;
use crate::config::{Cfg, env_num};
use crate::event::{HttpRequest, form_encode};
use crate::{R, lambda_cpu, log};
use serde_json::Value;
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

const REDIRECT: &str = "http://127.0.0.1:8080/callback";
const AUDIENCE: &str = "https://api.bench.example";
/// The bench tenant's `--sliding-max` (Maximizer: a token stays active while
/// used, up to 24 h after issue), so introspection and userinfo take the
/// sliding-expiry path, with its once-a-minute write.
const SLIDING_MAX: &str = "86400";
/// Scope of the user token that introspection and userinfo are measured with.
const USER_SCOPE: &str = "openid profile email api";

pub fn admin(cfg: &Cfg, args: &[&str], stdin: Option<&str>) -> R<Value> {
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
    pub fn provision(cfg: &Cfg) -> R<Lab> {
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

    pub fn base(&self) -> String {
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
