//! The headline: every function at its configured memory with Lambda's CPU
//! share emulated, the memory sweep and issue 14's targets.

use super::{
    LAMBDA_ARM_GBS, LAMBDA_REQ, Report, T_ZIP_MB, f2, money, ms, ok, pct, sorted, summary,
};
use crate::cold::Cold;
use crate::sandbox::Series;
use crate::warm::{FLOOR_SERIES, INTROSPECT_SERIES, INTROSPECT_WRITE_SERIES, WarmResult};
use crate::{FLOOR, FUNCTIONS, lambda_cpu};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt::Write;

// Targets of issue 14 (Lambda's CPU share emulated, at the configured memory).
const T14_COLD_MS: f64 = 100.0;
const T14_COLD_PASSWORD_MS: f64 = 300.0;
const T14_CC_P50_MS: f64 = 3.0;
const T14_CODE_REFRESH_P50_MS: f64 = 15.0;
const T14_LOGIN_P50_MS: f64 = 120.0;
const T14_CPU_OVER_FLOOR_MS: f64 = 0.060;
const T14_CPU_RATIO: f64 = 0.35;
const T14_COST_CC: f64 = 0.25;
const T14_COST_REFRESH: f64 = 1.50;
const T14_COST_INTROSPECT: f64 = 0.40;
const T14_COST_LOGIN: f64 = 5.0;
const T14_RSS_MIB: f64 = 64.0;

/// The rows of the headline table: (series prefix, function, has a cold start).
const HEADLINE: [(&str, &str, bool); 13] = [
    (FLOOR_SERIES, FLOOR, true),
    ("discovery", "discovery", true),
    ("authorize page", "authorize", true),
    ("login callback", "callback", true),
    ("client_credentials", "token", true),
    ("password (Argon2id)", "token", false),
    ("authorization_code exchange", "token", false),
    ("refresh_token", "refresh", true),
    ("change-password", "change-password", true),
    (INTROSPECT_SERIES, "introspect", true),
    (INTROSPECT_WRITE_SERIES, "introspect", false),
    ("userinfo", "userinfo", true),
    ("revoke", "revoke", true),
];

/// Lambda's part of the cost per million requests at `memory_mb`, billed on
/// ⌈`p50_ms`⌉ (arm64 list price).
fn lambda_per_million(p50_ms: f64, memory_mb: f64) -> f64 {
    1e6 * (LAMBDA_REQ + p50_ms.ceil().max(1.0) / 1000.0 * memory_mb / 1024.0 * LAMBDA_ARM_GBS)
}

fn series_in<'s>(w: &'s WarmResult, prefix: &str) -> Option<&'s Series> {
    w.series.iter().find(|s| s.endpoint.starts_with(prefix))
}

fn cold_of<'c>(cold: &'c [Cold], f: &str) -> Option<&'c Cold> {
    cold.iter().find(|c| c.function == f && c.variant.is_none())
}

impl Report<'_> {
    /// The headline: every function at its configured memory with Lambda's CPU
    /// share emulated (and the unthrottled figures beside them), the floor, the
    /// memory sweep and issue 14's targets. `non_lambda`: DynamoDB and Secrets
    /// Manager per request, by series, from the cost model; `oc`, `pc`: server
    /// CPU per token under load, Tollgate and the peer.
    pub(super) fn emulated_section(
        &self,
        non_lambda: &HashMap<&str, f64>,
        oc: f64,
        pc: f64,
    ) -> (String, Value) {
        let mut md = String::new();
        let mut js = Map::new();
        let cfg = self.cfg;
        let mem_of = |f: &str| cfg.memory_of(f) as f64;
        let Some(e) = &self.emulated else {
            let why = cfg.no_throttle.clone().unwrap_or_default();
            let _ = writeln!(
                md,
                "### Lambda's CPU share: NOT emulated on this machine\n\n{why}. Every figure \
                 below ran on a whole, unthrottled core: at 128 MB Lambda gives 7 % of one.\n"
            );
            js.insert("not_emulated".into(), why.into());
            return (md, Value::Object(js));
        };
        let period = lambda_cpu::period_us();
        let _ = writeln!(
            md,
            "### At each function's configured memory, Lambda's CPU share emulated\n\n\
             Each sandbox runs its init unthrottled (Lambda's init burst); when it first polls \
             `GET …/invocation/next` the bench moves it into a cgroup v1 `cpu` group of its own \
             with `cpu.cfs_period_us` = {period} and `cpu.cfs_quota_us` = period × memory / 1769 \
             (1,769 MB = one vCPU), before the first event is queued. *Unthrottled*: the same \
             binary on a whole core (the first pass). Cold: median of {} starts (init = spawn → \
             first `GET /next`; first response = spawn → first response received). $ / 1M = \
             1M × ($0.20/1M + ⌈warm p50 ms⌉ / 1000 × memory / 1024 GB × $0.0000133334 / GB-s) \
             (arm64) plus, where the cost model below counts them, DynamoDB and Secrets Manager \
             (client_credentials, refresh, introspect; marked +).\n\n\
             | endpoint | function | memory | init | cold first response (emulated / unthrottled) | warm p50 (emulated / unthrottled) | warm p99 (emulated / unthrottled) | CPU / request | $ / 1M at that memory |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|",
            cfg.cold_starts
        );
        let med = |v: &[u64]| ms(pct(&sorted(v), 50.0));
        let mut rows = Vec::new();
        let mut cost_of: HashMap<&str, f64> = HashMap::new();
        let mut p50_of: HashMap<&str, f64> = HashMap::new();
        let mut cold_of_f: HashMap<&str, f64> = HashMap::new();
        let mut cpu_of: HashMap<&str, f64> = HashMap::new();
        for (prefix, f, has_cold) in HEADLINE {
            let (Some(se), su) = (series_in(&e.warm, prefix), series_in(&self.warm, prefix)) else {
                continue;
            };
            let (ce, cu) = (cold_of(&e.cold, f), cold_of(&self.cold, f));
            let eo = sorted(&se.samples_us);
            let uo = su.map(|s| sorted(&s.samples_us)).unwrap_or_default();
            let mem = if f == FLOOR { 128.0 } else { mem_of(f) };
            let p50 = ms(pct(&eo, 50.0));
            let extra = non_lambda.get(prefix).copied();
            let cost = lambda_per_million(p50, mem) + extra.unwrap_or(0.0);
            let cpu = self.cpu_ms_per_req(se);
            let (init, cold_e, cold_u) = match (has_cold, ce) {
                (true, Some(c)) => (
                    med(&c.ready_us),
                    med(&c.first_response_us),
                    cu.map(|c| med(&c.first_response_us)).unwrap_or(f64::NAN),
                ),
                _ => (f64::NAN, f64::NAN, f64::NAN),
            };
            cost_of.insert(prefix, cost);
            p50_of.insert(prefix, p50);
            cpu_of.insert(prefix, cpu);
            if has_cold {
                cold_of_f.insert(f, cold_e);
            }
            let dash = |x: f64| {
                if x.is_nan() {
                    "–".to_owned()
                } else {
                    format!("{} ms", f2(x))
                }
            };
            let _ = writeln!(
                md,
                "| {} | {f} | {mem:.0} MB | {} | {} / {} | {} ms / {} ms | {} ms / {} ms | {} ms | {}{} |",
                se.endpoint,
                dash(init),
                dash(cold_e),
                dash(cold_u),
                f2(p50),
                f2(ms(pct(&uo, 50.0))),
                f2(ms(pct(&eo, 99.0))),
                f2(ms(pct(&uo, 99.0))),
                f2(cpu),
                money(cost),
                if extra.is_some() { " +" } else { "" },
            );
            rows.push(json!({
                "endpoint": se.endpoint, "function": f, "memory_mb": mem,
                "init_ms_median": init, "cold_first_response_ms_median": cold_e,
                "cold_first_response_unthrottled_ms_median": cold_u,
                "warm": summary(&se.samples_us),
                "warm_unthrottled": su.map(|s| summary(&s.samples_us)),
                "cpu_ms_per_request": cpu, "cost_per_million": cost,
                "cost_includes_dynamodb_and_secrets": extra.is_some(),
            }));
        }
        js.insert("rows".into(), Value::Array(rows));

        // ---- the sweep ----
        if !self.sweep.is_empty() {
            let sizes = lambda_cpu::SWEEP_MB;
            let _ = writeln!(
                md,
                "\n#### Memory sweep (cold first response / warm p50 / $ per 1M, Lambda only)\n\n\
                 Each function at each size: {} cold starts (median), then {} warm requests \
                 ({} for the functions that check a password on every request) on the last \
                 sandbox. $ per 1M here is Lambda's part only (requests + ⌈p50⌉ × memory); \
                 DynamoDB and Secrets Manager do not change with memory.\n\n\
                 | function | {} |\n|---|{}",
                cfg.sweep_starts,
                cfg.sweep_warm,
                cfg.sweep_warm.min(5),
                sizes.map(|m| format!("{m} MB")).join(" | "),
                sizes.map(|_| "---:|").join("")
            );
            let mut sjs = Vec::new();
            for f in FUNCTIONS.into_iter().chain([FLOOR]) {
                let mut cells = Vec::new();
                for m in sizes {
                    let Some(r) = self
                        .sweep
                        .iter()
                        .find(|r| r.function == f && r.memory_mb == m)
                    else {
                        cells.push("–".to_owned());
                        continue;
                    };
                    let (cold, p50) = (med(&r.cold_us), med(&r.warm_us));
                    let cost = lambda_per_million(p50, m as f64);
                    let bold = if cfg.memory_of(f) == m && f != FLOOR {
                        "**"
                    } else {
                        ""
                    };
                    cells.push(format!(
                        "{bold}{:.0} / {} ms / {}{bold}",
                        cold,
                        f2(p50),
                        money(cost)
                    ));
                    sjs.push(json!({
                        "function": f, "memory_mb": m,
                        "init_ms_median": med(&r.init_us),
                        "cold_first_response_ms_median": cold,
                        "cold_first_response_us": r.cold_us,
                        "warm": summary(&r.warm_us),
                        "cpu_ms_per_request": r.cpu_ticks as f64 * self.tick_ms() / r.warm_us.len().max(1) as f64,
                        "lambda_cost_per_million": cost,
                    }));
                }
                let _ = writeln!(md, "| {f} | {} |", cells.join(" | "));
            }
            let _ = writeln!(
                md,
                "\nBold: the function's configured memory (infra/template.yaml, MemorySize).\n"
            );
            js.insert("sweep".into(), Value::Array(sjs));
        }

        // ---- targets ----
        let cold = |f: &str| cold_of_f.get(f).copied().unwrap_or(f64::NAN);
        let no_pw = [
            "discovery",
            "authorize",
            "token",
            "refresh",
            "introspect",
            "revoke",
            "userinfo",
        ];
        let worst_no_pw = no_pw
            .iter()
            .map(|f| (cold(f), *f))
            .fold((0.0f64, ""), |a, b| if b.0 > a.0 { b } else { a });
        let worst_pw = ["callback", "change-password"]
            .iter()
            .map(|f| (cold(f), *f))
            .fold((0.0f64, ""), |a, b| if b.0 > a.0 { b } else { a });
        let p50 = |k: &str| p50_of.get(k).copied().unwrap_or(f64::NAN);
        let cost = |k: &str| cost_of.get(k).copied().unwrap_or(f64::NAN);
        let floor_cpu = cpu_of.get(FLOOR_SERIES).copied().unwrap_or(f64::NAN);
        let cc_cpu = cpu_of
            .get("client_credentials")
            .copied()
            .unwrap_or(f64::NAN);
        let worst_rss = e
            .warm
            .peak_rss_kib
            .iter()
            .chain(self.warm.peak_rss_kib.iter())
            .map(|(_, k)| *k as f64 / 1024.0)
            .fold(0.0, f64::max);
        let worst_zip = self
            .zips
            .iter()
            .map(|z| z.1 as f64 / 1e6)
            .fold(0.0, f64::max);
        let t = |label: String, measured: String, met: bool| {
            format!("| {label} | {measured} | {} |\n", ok(met))
        };
        let mut tmd = String::from(
            "\n#### Targets (issue 14; at the configured memory, CPU share emulated)\n\n\
             | target | measured | |\n|---|---|---|\n",
        );
        tmd += &t(
            format!("cold first response ≤ {T14_COLD_MS:.0} ms, functions that check no password"),
            format!("worst median {} ms ({})", f2(worst_no_pw.0), worst_no_pw.1),
            worst_no_pw.0 <= T14_COLD_MS,
        );
        tmd += &t(
            format!(
                "cold first response ≤ {T14_COLD_PASSWORD_MS:.0} ms, login and change-password"
            ),
            format!("worst median {} ms ({})", f2(worst_pw.0), worst_pw.1),
            worst_pw.0 <= T14_COLD_PASSWORD_MS,
        );
        tmd += &t(
            format!("warm p50 client_credentials ≤ {T14_CC_P50_MS:.0} ms"),
            format!("{} ms", f2(p50("client_credentials"))),
            p50("client_credentials") <= T14_CC_P50_MS,
        );
        for k in ["authorization_code exchange", "refresh_token"] {
            tmd += &t(
                format!("warm p50 {k} ≤ {T14_CODE_REFRESH_P50_MS:.0} ms"),
                format!("{} ms", f2(p50(k))),
                p50(k) <= T14_CODE_REFRESH_P50_MS,
            );
        }
        tmd += &t(
            format!("warm p50 login ≤ {T14_LOGIN_P50_MS:.0} ms"),
            format!("{} ms", f2(p50("login callback"))),
            p50("login callback") <= T14_LOGIN_P50_MS,
        );
        tmd += &t(
            "CPU per client_credentials token ≤ floor + 60 µs (sequential warm series)".into(),
            format!(
                "{} ms vs floor {} ms: floor + {:.0} µs",
                f2(cc_cpu),
                f2(floor_cpu),
                (cc_cpu - floor_cpu) * 1000.0
            ),
            cc_cpu - floor_cpu <= T14_CPU_OVER_FLOOR_MS,
        );
        tmd += &t(
            format!(
                "CPU per client_credentials token ≤ {T14_CPU_RATIO} × node-oidc-provider's (under load)"
            ),
            format!(
                "{:.3} × ({} ms vs {} ms)",
                oc / pc.max(1e-9),
                f2(oc),
                f2(pc)
            ),
            oc / pc.max(1e-9) <= T14_CPU_RATIO,
        );
        for (k, label, limit) in [
            ("client_credentials", "client_credentials", T14_COST_CC),
            ("refresh_token", "refresh", T14_COST_REFRESH),
            (INTROSPECT_SERIES, "introspection", T14_COST_INTROSPECT),
        ] {
            tmd += &t(
                format!("$ per 1M {label} ≤ ${limit:.2} (Lambda + DynamoDB + Secrets Manager)"),
                money(cost(k)),
                cost(k) <= limit,
            );
        }
        tmd += &t(
            format!(
                "$ per 1M logins ≤ ${T14_COST_LOGIN:.2} (Lambda part measured here; storage in docs/performance.md)"
            ),
            money(cost("login callback")),
            cost("login callback") <= T14_COST_LOGIN,
        );
        tmd += &t(
            format!("peak RSS ≤ {T14_RSS_MIB:.0} MiB"),
            format!("worst {worst_rss:.1} MiB"),
            worst_rss <= T14_RSS_MIB,
        );
        tmd += &t(
            format!("each zip ≤ {T_ZIP_MB:.0} MB"),
            format!("largest {worst_zip:.2} MB"),
            worst_zip <= T_ZIP_MB,
        );
        md += &tmd;
        md.push('\n');
        js.insert("cfs_period_us".into(), period.into());
        (md, Value::Object(js))
    }
}
