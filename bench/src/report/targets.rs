//! Issue 6's targets (unthrottled, 128 MB), the reproduce line, and the run's
//! machine, facts and configuration in the JSON.

use super::functions::Worst;
use super::{Report, f2, money, ok};
use super::{T_COST, T_CPU_RATIO, T_FIRST_MS, T_READY_MS, T_RSS_MIB, T_ZIP_MB};
use crate::procfs;
use serde_json::{Map, Value, json};
use std::fmt::Write;

impl Report<'_> {
    /// `oc`, `pc`: server CPU per token under load (Tollgate, the peer);
    /// `cc_total`: the cost per million client_credentials tokens.
    pub(super) fn targets_section(
        &self,
        md: &mut String,
        js: &mut Map<String, Value>,
        worst: Worst,
        (oc, pc): (f64, f64),
        cc_total: f64,
    ) {
        let Worst {
            worst_ready,
            worst_first,
            worst_rss,
            worst_zip,
            worst_zip_mib,
            fails_ready,
            fails_first,
            fails_rss,
        } = worst;
        let m = self.machine;
        let cpu_ratio = oc / pc.max(1e-9);
        let list = |v: &Vec<&str>| {
            if v.is_empty() {
                String::new()
            } else {
                format!(" (over: {})", v.join(", "))
            }
        };
        let _ = writeln!(
            md,
            "### Earlier targets (issue 6, unthrottled, 128 MB)\n\n| target | measured | |\n|---|---|---|\n\
             | CPU per client_credentials token ≤ 1/5 of the peer's | {:.3} of the peer's ({} ms vs {} ms) | {} |\n\
             | ready for first invocation ≤ {T_READY_MS:.0} ms, every function | worst median {} ms{} | {} |\n\
             | first response ≤ {T_FIRST_MS:.0} ms, every function | worst median {} ms{} | {} |\n\
             | peak RSS ≤ {T_RSS_MIB:.0} MiB | worst {:.1} MiB{} | {} |\n\
             | each zip ≤ {T_ZIP_MB:.0} MB | largest {:.2} MiB = {:.2} MB | {} |\n\
             | ≤ ${T_COST:.2} per million client_credentials tokens | {} | {} |\n",
            cpu_ratio,
            f2(oc),
            f2(pc),
            ok(cpu_ratio <= T_CPU_RATIO),
            f2(worst_ready),
            list(&fails_ready),
            ok(fails_ready.is_empty()),
            f2(worst_first),
            list(&fails_first),
            ok(fails_first.is_empty()),
            worst_rss,
            list(&fails_rss),
            ok(fails_rss.is_empty()),
            worst_zip_mib,
            worst_zip,
            if worst_zip <= T_ZIP_MB {
                "met"
            } else if worst_zip_mib <= T_ZIP_MB {
                "met in MiB, **not met** in MB (10^6 bytes)"
            } else {
                "**not met**"
            },
            money(cc_total),
            ok(cc_total <= T_COST),
        );
        let _ = writeln!(
            md,
            "Reproduce: `make test` once (or `scripts/local.sh start`), then `make bench` \
             (bench/run.sh). Raw figures: bench/results/latest.json. This run took {:.0} s.",
            self.elapsed.as_secs_f64()
        );
        js.insert(
            "targets".into(),
            json!({
                "cpu_ratio_vs_peer": cpu_ratio, "worst_ready_ms": worst_ready,
                "worst_first_response_ms": worst_first, "worst_peak_rss_mib": worst_rss,
                "largest_zip_mb": worst_zip, "largest_zip_mib": worst_zip_mib, "cost_per_million_cc": cc_total,
                "met": {
                    "cpu": cpu_ratio <= T_CPU_RATIO, "ready": fails_ready.is_empty(),
                    "first_response": fails_first.is_empty(), "rss": fails_rss.is_empty(),
                    "zip_mb": worst_zip <= T_ZIP_MB, "zip_mib": worst_zip_mib <= T_ZIP_MB, "cost": cc_total <= T_COST,
                },
            }),
        );
        js.insert(
            "machine".into(),
            json!({
                "nproc": m.nproc, "cpu_model": m.cpu_model, "mem_total_mib": m.mem_total_mib,
                "kernel": m.kernel, "clk_tck": procfs::clk_tck(),
                "server_cpu": self.cfg.server_cpu, "harness_cpu": self.cfg.harness_cpu,
            }),
        );
        js.insert("facts".into(), Value::Object(self.facts.clone()));
        js.insert(
            "config".into(),
            json!({
                "cold_starts": self.cfg.cold_starts, "concurrency": self.cfg.concurrency,
                "pool": self.cfg.pool, "rounds": self.cfg.rounds, "warmup_s": self.cfg.warmup.as_secs_f64(),
                "duration_s": self.cfg.duration.as_secs_f64(), "scale": self.cfg.scale,
                "tenant": self.tenant, "elapsed_s": self.elapsed.as_secs_f64(),
            }),
        );
    }
}
