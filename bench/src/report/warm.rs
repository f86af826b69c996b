//! Warm latency: one warm sandbox per function, sequential requests.

use super::{Report, f2, ms, pct, sorted, summary};
use serde_json::{Map, Value};
use std::fmt::Write;

impl Report<'_> {
    pub(super) fn warm_section(&self, md: &mut String, js: &mut Map<String, Value>) {
        let _ = writeln!(
            md,
            "### Warm latency (one warm sandbox, sequential requests)\n\n\
             | endpoint | function | n | p50 | p99 | CPU / request | of which kernel | log bytes / request | peak RSS after |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        let mut wjs = Vec::new();
        for s in &self.warm.series {
            let so = sorted(&s.samples_us);
            let n = so.len();
            let cpu = self.cpu_ms_per_req(s);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} ms | {} ms | {} ms | {:.0} % | {} | {:.1} MiB |",
                s.endpoint,
                s.function,
                n,
                f2(ms(pct(&so, 50.0))),
                f2(ms(pct(&so, 99.0))),
                f2(cpu),
                100.0 * s.cpu_sys_ticks as f64 / s.cpu_ticks.max(1) as f64,
                s.log_bytes / n.max(1) as u64,
                s.hwm_after_kib as f64 / 1024.0
            );
            let mut o = summary(&s.samples_us);
            o["endpoint"] = s.endpoint.into();
            o["function"] = s.function.into();
            o["cpu_ticks"] = s.cpu_ticks.into();
            o["cpu_sys_ticks"] = s.cpu_sys_ticks.into();
            o["cpu_ms_per_request"] = cpu.into();
            o["log_bytes"] = s.log_bytes.into();
            o["vm_hwm_after_kib"] = s.hwm_after_kib.into();
            wjs.push(o);
        }
        let _ = writeln!(
            md,
            "\nAgainst DynamoDB Local and moto on this machine (their latency is in every figure \
             that touches storage). CPU / request = the function process's utime+stime over the \
             series ÷ n ({} ms ticks). Argon2id (m = 19 MiB, t = 2) is deliberate: password, \
             login and change-password pay for it.\n",
            f2(self.tick_ms())
        );
        js.insert("warm".into(), Value::Array(wjs));
    }
}
