//! client_credentials under load: Tollgate's token function (a pool of
//! sandboxes behind the function-URL front) vs node-oidc-provider, with the
//! same load generator (load.rs).

use crate::checks::jwt_summary;
use crate::config::{Cfg, env_or};
use crate::lab::Lab;
use crate::runtime::{RuntimeApi, Sandbox};
use crate::{R, front, load, log, procfs, runtime};
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

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
pub fn merge(acc: Option<LoadRow>, r: LoadRow) -> LoadRow {
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

pub async fn load_tollgate(cfg: &Cfg, lab: &Lab) -> R<LoadRow> {
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

pub async fn load_peer(cfg: &Cfg, lab: &Lab) -> R<LoadRow> {
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
