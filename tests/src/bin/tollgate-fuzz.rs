//! `tollgate-fuzz` (`make fuzz`): the HTTP fuzzer of `tollgate_tests::fuzzer`
//! against a running `make dev` stack: every public route (authorize,
//! callback, token, refresh, change-password, discovery, introspect, revoke,
//! userinfo, the user's connections) and CORS preflights of each. It provisions its own tenant with
//! `target/debug/tollgate-admin` (a confidential client with every grant, a
//! web origin and `--introspect`, a public client with a web origin, users),
//! sends `FUZZ_REQUESTS` requests (default 10000) generated from `FUZZ_SEED`
//! (default: from the clock, printed), `FUZZ_CONCURRENCY` at a time (default
//! 8), prints a summary and exits non-zero on any 5xx, hang, malformed error,
//! malformed RFC 7662 / RFC 7009 answer, missing challenge or CORS violation.

use rand::Rng;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;
use tollgate_tests::fuzzer::{
    CONFIDENTIAL_CLIENT, Config, Fuzzer, MAIN_USER, PUBLIC_CLIENT, Target, VICTIM_USERS,
};

const PASSWORD: &str = "fuzz password 1";

/// `KEY=VALUE` pairs of `.local/env` (`export K='V'` lines).
fn read_env_file(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('\'').to_owned()))
        .collect()
}

/// The stack's environment: the process's, completed from `.local/env`.
fn environment(root: &Path) -> Vec<(String, String)> {
    read_env_file(&root.join(".local/env"))
        .into_iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect()
}

struct Admin {
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Admin {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Value, String> {
        let mut child = Command::new(&self.bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        if let Some(mut sin) = child.stdin.take()
            && let Some(s) = stdin
        {
            sin.write_all(s.as_bytes()).map_err(|e| e.to_string())?;
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

    fn client(&self, tenant: &str, args: &[&str]) -> Result<(String, Option<String>), String> {
        let mut a = vec!["client", "create", "--tenant", tenant, "--name", "Fuzz App"];
        a.extend_from_slice(args);
        let v = self.run(&a, None)?;
        let id = v["client_id"].as_str().ok_or("no client_id")?.to_owned();
        Ok((id, v["client_secret"].as_str().map(str::to_owned)))
    }

    fn user(&self, tenant: &str, name: &str, extra: &[&str]) -> Result<(String, String), String> {
        let mut a = vec!["user", "create", "--tenant", tenant, "--username", name];
        a.extend_from_slice(extra);
        let v = self.run(&a, Some(PASSWORD))?;
        let id = v["user_id"].as_str().ok_or("no user_id")?.to_owned();
        Ok((name.to_owned(), id))
    }
}

fn provision(admin: &Admin, template: &str) -> Result<Target, String> {
    let mut r = rand::thread_rng();
    let suffix: String = (0..10)
        .map(|_| (b'a' + r.gen_range(0..26)) as char)
        .collect();
    let tenant = format!("fuzz-{suffix}");
    admin.run(&["tenant", "create", &tenant, "--name", "Fuzz"], None)?;
    let (confidential_id, secret) = admin.client(&tenant, CONFIDENTIAL_CLIENT)?;
    let (public_id, _) = admin.client(&tenant, PUBLIC_CLIENT)?;
    let main_user = admin.user(&tenant, MAIN_USER, &[])?;
    let victims = VICTIM_USERS
        .iter()
        .map(|(n, extra)| admin.user(&tenant, n, extra))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Target {
        url_template: template.to_owned(),
        tenant,
        confidential_id,
        confidential_secret: secret.ok_or("no client_secret")?,
        public_id,
        main_user,
        victims,
        password: PASSWORD.to_owned(),
    })
}

fn env_num(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} must be a number, not {v:?}")),
        _ => Ok(None),
    }
}

async fn main_inner() -> Result<bool, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = exe.parent().ok_or("no exe dir")?.to_path_buf();
    // target/debug/tollgate-fuzz → the workspace root (for .local/env).
    let root = bin_dir
        .ancestors()
        .find(|p| p.join(".local/env").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let env = environment(&root);
    let template = std::env::var("TOLLGATE_FUNCTION_URL_TEMPLATE")
        .ok()
        .or_else(|| {
            env.iter()
                .find(|(k, _)| k == "TOLLGATE_FUNCTION_URL_TEMPLATE")
                .map(|(_, v)| v.clone())
        })
        .ok_or("TOLLGATE_FUNCTION_URL_TEMPLATE is not set and .local/env is missing: run `make dev` first")?;
    let admin = Admin {
        bin: bin_dir.join("tollgate-admin"),
        env,
    };
    if !admin.bin.exists() {
        return Err(format!(
            "{} is missing: cargo build -p tollgate-admin",
            admin.bin.display()
        ));
    }
    let requests = env_num("FUZZ_REQUESTS")?.unwrap_or(10_000) as usize;
    let seed = env_num("FUZZ_SEED")?.unwrap_or_else(|| rand::thread_rng().r#gen::<u32>() as u64);
    let concurrency = env_num("FUZZ_CONCURRENCY")?.unwrap_or(8) as usize;

    // Is the stack there?
    let probe = template.replace("{function}", "discovery") + "/oauth2/demo/jwks.json";
    reqwest::Client::new()
        .get(&probe)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .map_err(|e| {
            format!(
                "the functions do not answer at {probe} ({}): is `make dev` running (and does the workspace build)?",
                e.without_url()
            )
        })?;

    let target = provision(&admin, &template)?;
    println!(
        "fuzzing tenant {} at {} with {requests} requests, seed {seed} (FUZZ_SEED={seed} to repeat), concurrency {concurrency}",
        target.tenant, template
    );
    let report = Fuzzer::new(
        target,
        Config {
            requests,
            seed,
            concurrency,
            timeout: Duration::from_secs(10),
        },
    )
    .run()
    .await;
    if !report.ok() {
        println!("{}", report.details());
    }
    print!("{}", report.summary());
    Ok(report.ok())
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tollgate-fuzz: {e}");
            ExitCode::from(2)
        }
    }
}
