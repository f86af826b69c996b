//! client_credentials under load: Tollgate vs node-oidc-provider, same run.

use super::{Report, f2, ms, pct, sorted, summary};
use crate::load_vs_peer::LoadRow;
use serde_json::{Map, Value, json};
use std::fmt::Write;

impl Report<'_> {
    /// Returns the server CPU per token under load: (Tollgate, the peer).
    pub(super) fn load_section(&self, md: &mut String, js: &mut Map<String, Value>) -> (f64, f64) {
        let (o, p) = (&self.ours, &self.peer);
        let rps = |r: &LoadRow| r.completed as f64 / r.window_s.max(1e-9);
        let cpu_req =
            |ticks: u64, r: &LoadRow| ticks as f64 * self.tick_ms() / r.completed.max(1) as f64;
        let lat = |r: &LoadRow, q: f64| ms(pct(&sorted(&r.latencies_us), q));
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}×", a / b)
            } else {
                "-".into()
            }
        };
        let tok = |r: &LoadRow| {
            format!(
                "{} {} JWT, {} s, {} bytes",
                r.token["alg"].as_str().unwrap_or("?"),
                r.token["typ"].as_str().unwrap_or("?"),
                r.token["lifetime_s"],
                r.token["bytes"]
            )
        };
        let _ = writeln!(
            md,
            "### client_credentials under load: Tollgate vs node-oidc-provider (same run)\n\n\
             Same load generator (bench/src/load.rs: {} keep-alive HTTP/1.1 connections, closed \
             loop), {} interleaved rounds per side (Tollgate, peer, Tollgate, …; each a fresh \
             start, {:.0} s warm-up, then {:.0} s measured; figures over all measured windows), \
             same request (`POST` form \
             `grant_type=client_credentials&scope=api`, `client_secret_basic`, the same client id \
             and 64-char secret), same CPU budget: the server side gets CPU 0 only.\n\n\
             | | Tollgate | node-oidc-provider | Tollgate ÷ peer |\n|---|---:|---:|---:|",
            self.cfg.concurrency,
            self.cfg.rounds,
            self.cfg.warmup.as_secs_f64(),
            self.cfg.duration.as_secs_f64()
        );
        let (oc, pc) = (cpu_req(o.server_ticks, o), cpu_req(p.server_ticks, p));
        let rows = [
            (
                "requests/s",
                format!("{:.0}", rps(o)),
                format!("{:.0}", rps(p)),
                ratio(rps(o), rps(p)),
            ),
            (
                "p50 latency",
                format!("{} ms", f2(lat(o, 50.0))),
                format!("{} ms", f2(lat(p, 50.0))),
                ratio(lat(o, 50.0), lat(p, 50.0)),
            ),
            (
                "p99 latency",
                format!("{} ms", f2(lat(o, 99.0))),
                format!("{} ms", f2(lat(p, 99.0))),
                ratio(lat(o, 99.0), lat(p, 99.0)),
            ),
            (
                "server CPU per token",
                format!("{} ms", f2(oc)),
                format!("{} ms", f2(pc)),
                ratio(oc, pc),
            ),
            (
                "of which in the kernel",
                format!(
                    "{:.0} %",
                    100.0 * o.server_sys_ticks as f64 / o.server_ticks.max(1) as f64
                ),
                format!(
                    "{:.0} %",
                    100.0 * p.server_sys_ticks as f64 / p.server_ticks.max(1) as f64
                ),
                String::new(),
            ),
            (
                "peak RSS per process",
                format!("{:.1} MiB", o.peak_rss_kib as f64 / 1024.0),
                format!("{:.1} MiB", p.peak_rss_kib as f64 / 1024.0),
                ratio(o.peak_rss_kib as f64, p.peak_rss_kib as f64),
            ),
            (
                "RSS, all server processes",
                format!(
                    "{:.1} MiB ({} processes)",
                    o.rss_total_kib as f64 / 1024.0,
                    o.processes
                ),
                format!(
                    "{:.1} MiB ({} process)",
                    p.rss_total_kib as f64 / 1024.0,
                    p.processes
                ),
                ratio(o.rss_total_kib as f64, p.rss_total_kib as f64),
            ),
            (
                "errors",
                o.errors.to_string(),
                p.errors.to_string(),
                String::new(),
            ),
            ("token", tok(o), tok(p), String::new()),
        ];
        for (k, a, b, r) in rows {
            let _ = writeln!(md, "| {k} | {a} | {b} | {r} |");
        }
        let _ = writeln!(
            md,
            "\nTollgate: {}. Each sandbox serves one invocation at a time, so a request passes \
             the front and the Runtime API stand-in (the harness used {} ms of CPU 1 per request \
             for that and the load generator; for the peer it used {} ms). Peer: {}; ES256 JWT \
             access tokens via resource indicators (`accessTokenFormat: 'jwt'`), one client, \
             `client_secret_basic`. Server CPU per token = utime+stime of the server processes \
             over the measured window ÷ tokens issued in it.\n",
            o.setup,
            f2(cpu_req(o.harness_ticks, o)),
            f2(cpu_req(p.harness_ticks, p)),
            p.setup
        );
        let load_js = |r: &LoadRow| {
            json!({
                "setup": r.setup, "processes": r.processes, "concurrency": self.cfg.concurrency,
                "rounds": r.rounds, "window_s": r.window_s, "completed": r.completed, "errors": r.errors,
                "requests_per_s": rps(r), "latency": summary(&r.latencies_us),
                "server_cpu_ticks": r.server_ticks, "server_cpu_sys_ticks": r.server_sys_ticks, "server_cpu_ms_per_request": cpu_req(r.server_ticks, r),
                "harness_cpu_ticks": r.harness_ticks, "harness_cpu_ms_per_request": cpu_req(r.harness_ticks, r),
                "peak_rss_kib_max_process": r.peak_rss_kib, "rss_kib_total": r.rss_total_kib,
                "token": r.token, "first_error": r.first_error,
            })
        };
        js.insert(
            "client_credentials_load".into(),
            json!({ "tollgate": load_js(o), "peer": load_js(p),
                    "ratios": { "rps": rps(o) / rps(p).max(1e-9), "cpu_per_token": oc / pc.max(1e-9) } }),
        );
        (oc, pc)
    }
}
