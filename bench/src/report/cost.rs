//! The cost model: per million client_credentials, refresh and introspect
//! requests, from the measured durations, the DynamoDB items and list prices.

use super::{
    CWL_GB, DDB_RRU, DDB_WRU, FULL_VCPU_MB, INTROSPECTIONS_PER_TOKEN_S, LAMBDA_ARM_GBS, LAMBDA_REQ,
    MEMORY_MB, PRICE_DATE, RATE_PER_SANDBOX, RECORD_TTL_S, Report, SECRET_TTL_S, SLIDING_WRITE_S,
    SM_CALL, f2, money, ms, pct, sorted,
};
use crate::sandbox::Series;
use crate::warm::INTROSPECT_SERIES;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt::Write;

impl Report<'_> {
    /// Returns DynamoDB and Secrets Manager per request by series (for the
    /// headline) and the total per million client_credentials tokens.
    pub(super) fn cost_section(
        &self,
        md: &mut String,
        js: &mut Map<String, Value>,
    ) -> (HashMap<&'static str, f64>, f64) {
        let cc = self.series("client_credentials");
        let rf = self.series("refresh_token");
        let it = self.series(INTROSPECT_SERIES);
        let gb = MEMORY_MB / 1024.0;
        let cost_for = |s: Option<&Series>| -> (f64, f64, f64, f64, u64) {
            let Some(s) = s else {
                return (f64::NAN, f64::NAN, f64::NAN, f64::NAN, 0);
            };
            let so = sorted(&s.samples_us);
            let p50 = ms(pct(&so, 50.0));
            let billed = p50.ceil().max(1.0);
            let cpu = self.cpu_ms_per_req(s);
            let scaled = (p50 + cpu * (FULL_VCPU_MB / MEMORY_MB - 1.0))
                .ceil()
                .max(1.0);
            (
                p50,
                billed,
                cpu,
                scaled,
                s.log_bytes / so.len().max(1) as u64,
            )
        };
        let (cc_p50, cc_billed, cc_cpu, cc_scaled, cc_log) = cost_for(cc);
        let (rf_p50, rf_billed, rf_cpu, rf_scaled, rf_log) = cost_for(rf);
        let (it_p50, it_billed, it_cpu, it_scaled, it_log) = cost_for(it);
        let lambda = |billed: f64| 1e6 * (LAMBDA_REQ + billed / 1000.0 * gb * LAMBDA_ARM_GBS);
        let amort_rec = 1.0 / (RATE_PER_SANDBOX * RECORD_TTL_S);
        let amort_sec = 1.0 / (RATE_PER_SANDBOX * SECRET_TTL_S);
        let rru_cached = self.item("TENANT", "rru_eventual") + self.item("CLIENT", "rru_eventual");
        let cc_ddb = 1e6 * rru_cached * amort_rec * DDB_RRU;
        let cc_sm = 1e6 * 2.0 * amort_sec * SM_CALL;
        // refresh (oauth/grants/refresh_token.rs, store/dynamo/refresh.rs): the
        // family (with its chain) and the user, strongly consistent; one
        // conditional UpdateItem of the family; the user again after it.
        let rf_rru = self.item("FAM", "rru_strong") + 2.0 * self.item("USER", "rru_strong");
        let rf_wru = self.wru("FAM");
        let rf_ddb = 1e6 * (rf_rru * DDB_RRU + rf_wru * DDB_WRU + rru_cached * amort_rec * DDB_RRU);
        let rf_sm = cc_sm;
        // introspect (oauth/token_state.rs, store/dynamo/access_tokens.rs): one strongly
        // consistent BatchGetItem of the token's record, its session and its user
        // (1 RRU per key under 4 KB; a key with no item costs the same), at most one
        // conditional UpdateItem of the record per token per minute (1 WRU per KB),
        // and the cached tenant, caller's client and token's client; one secret (the
        // caller's hash). The URL document is read once per sandbox (not locally).
        let or1 = |v: f64| if v.is_nan() { 1.0 } else { v };
        let (it_at, it_fam, it_user) = (
            or1(self.item("AT", "rru_strong")),
            or1(self.item("FAM", "rru_strong")),
            or1(self.item("USER", "rru_strong")),
        );
        let it_rru = it_at + it_fam + it_user;
        let it_wru_write = or1((self.item("AT", "max_bytes") / 1024.0).ceil()).max(1.0);
        let it_writes = 1.0 / (INTROSPECTIONS_PER_TOKEN_S * SLIDING_WRITE_S);
        let it_rru_cached =
            self.item("TENANT", "rru_eventual") + 2.0 * self.item("CLIENT", "rru_eventual");
        let it_ddb = 1e6
            * (it_rru * DDB_RRU
                + it_writes * it_wru_write * DDB_WRU
                + it_rru_cached * amort_rec * DDB_RRU);
        let it_sm = 1e6 * amort_sec * SM_CALL;
        let logs = |b: u64| 1e6 * b as f64 / 1e9 * CWL_GB;
        let cc_total = lambda(cc_billed) + cc_ddb + cc_sm;
        let rf_total = lambda(rf_billed) + rf_ddb + rf_sm;
        let it_total = lambda(it_billed) + it_ddb + it_sm;
        let it_every_write = it_total + 1e6 * (1.0 - it_writes) * it_wru_write * DDB_WRU;
        // No amortisation: every request pays the cached reads and secret calls.
        let cc_cold = lambda(cc_billed) + 1e6 * rru_cached * DDB_RRU + 1e6 * 2.0 * SM_CALL;
        let rf_cold = lambda(rf_billed)
            + 1e6 * (rf_rru * DDB_RRU + rf_wru * DDB_WRU + rru_cached * DDB_RRU)
            + 1e6 * 2.0 * SM_CALL;
        let it_cold = lambda(it_billed)
            + 1e6
                * (it_rru * DDB_RRU + it_writes * it_wru_write * DDB_WRU + it_rru_cached * DDB_RRU)
            + 1e6 * SM_CALL;
        let _ = writeln!(
            md,
            "### Cost per million ({PRICE_DATE}; Lambda arm64 at {MEMORY_MB:.0} MB)\n\n\
             | per 1M | client_credentials | refresh | introspect |\n|---|---:|---:|---:|\n\
             | Lambda requests ($0.20 / 1M) | $0.200 | $0.200 | $0.200 |\n\
             | Lambda duration: ⌈warm p50⌉ = {cc_billed:.0} ms / {rf_billed:.0} ms / {it_billed:.0} ms × 0.125 GB × $0.0000133334 / GB-s | {} | {} | {} |\n\
             | DynamoDB reads ($0.125 / 1M RRU) and writes ($0.625 / 1M WRU) | {} | {} | {} |\n\
             | Secrets Manager ($0.05 / 10k calls), 2 / 2 / 1 secrets cached 300 s | {} | {} | {} |\n\
             | **total** | **{}** | **{}** | **{}** |\n\
             | *sensitivity: duration if CPU-bound at 128 MB ({:.0} ms / {:.0} ms / {:.0} ms)* | *{}* | *{}* | *{}* |\n\
             | *sensitivity: every request on a cold cache (no amortisation)* | *{}* | *{}* | *{}* |\n\
             | *sensitivity: every introspection also moves the sliding deadline (each token checked at most once a minute)* | | | *{}* |\n\
             | *not included: CloudWatch Logs ingestion ($0.50 / GB) of the function's own log lines ({cc_log} B / {rf_log} B / {it_log} B per request)* | *{}* | *{}* | *{}* |\n",
            money(lambda(cc_billed) - 0.2),
            money(lambda(rf_billed) - 0.2),
            money(lambda(it_billed) - 0.2),
            money(cc_ddb),
            money(rf_ddb),
            money(it_ddb),
            money(cc_sm),
            money(rf_sm),
            money(it_sm),
            money(cc_total),
            money(rf_total),
            money(it_total),
            cc_scaled,
            rf_scaled,
            it_scaled,
            money(lambda(cc_scaled) + cc_ddb + cc_sm),
            money(lambda(rf_scaled) + rf_ddb + rf_sm),
            money(lambda(it_scaled) + it_ddb + it_sm),
            money(cc_cold),
            money(rf_cold),
            money(it_cold),
            money(it_every_write),
            money(logs(cc_log)),
            money(logs(rf_log)),
            money(logs(it_log)),
        );
        let _ = writeln!(
            md,
            "Formula, per 1M requests: Lambda = 1M × ($0.20/1M + ⌈p50 ms⌉/1000 s × 0.125 GB × \
             $0.0000133334); DynamoDB = 1M × (RRU × $0.125/1M + WRU × $0.625/1M); Secrets \
             Manager = 1M × calls × $0.05/10k. Counted from the code (shared/src/oauth/grants, \
             shared/src/web/handlers/introspect.rs, shared/src/oauth/token_state.rs, \
             shared/src/store/dynamo/, shared/src/state.rs):\n\
             - client_credentials: GetItem tenant + GetItem client (eventually consistent, \
             {} + {} RRU measured by DynamoDB Local, cached 30 s per sandbox), GetSecretValue \
             client-secret hash + signing key (cached 300 s); nothing written. Amortised at \
             {RATE_PER_SANDBOX:.0} request/s per warm sandbox: × 1/{:.0} and × 1/{:.0}.\n\
             - refresh: GetItem family (which holds the refresh-token chain) + user, strongly \
             consistent ({} + {} RRU), one conditional UpdateItem of the family (rotation: \
             {rf_wru:.0} WRU, 1 per KB), then GetItem user again, strongly consistent ({} RRU: \
             a password change racing the rotation) (largest items: family {} B, user {} B); \
             plus the same cached tenant/client reads and secrets as client_credentials.\n\
             - introspect (a user's access token, tenant with `--sliding-max`): one BatchGetItem, \
             strongly consistent, of the token's record + its session (family) + its user, 1 RRU \
             per key = {it_at} + {it_fam} + {it_user} = {it_rru:.0} RRU (largest items: token \
             record {} B, family {} B, user {} B; a key with no item yet costs the same); at most \
             one conditional UpdateItem of the token's record per token per minute \
             ({it_wru_write:.0} WRU), counted for a token introspected {INTROSPECTIONS_PER_TOKEN_S:.0} \
             time/s = 1/{:.0} of introspections (the sensitivity row: every one); GetItem tenant + \
             the caller's client + the token's client (eventually consistent, cached 30 s) and \
             GetSecretValue of the caller's secret hash (cached 300 s), amortised as above; the \
             URL document is read once per sandbox in AWS (not counted).\n\
             - Duration at 128 MB: Lambda gives 128/1769 of a vCPU, this machine gave a whole \
             core, so the sensitivity row stretches the measured CPU ({} ms / {} ms / {} ms per \
             request) by 1769/128. Measured on x86_64, priced as arm64.\n",
            self.item("TENANT", "rru_eventual"),
            self.item("CLIENT", "rru_eventual"),
            RATE_PER_SANDBOX * RECORD_TTL_S,
            RATE_PER_SANDBOX * SECRET_TTL_S,
            self.item("FAM", "rru_strong"),
            self.item("USER", "rru_strong"),
            self.item("USER", "rru_strong"),
            self.item("FAM", "max_bytes"),
            self.item("USER", "max_bytes"),
            self.item("AT", "max_bytes"),
            self.item("FAM", "max_bytes"),
            self.item("USER", "max_bytes"),
            INTROSPECTIONS_PER_TOKEN_S * SLIDING_WRITE_S,
            f2(cc_cpu),
            f2(rf_cpu),
            f2(it_cpu),
        );
        js.insert(
            "cost_per_million_usd".into(),
            json!({
                "assumptions": {
                    "prices": PRICE_DATE, "memory_mb": MEMORY_MB, "lambda_arm64_gb_s": LAMBDA_ARM_GBS,
                    "lambda_request": LAMBDA_REQ, "ddb_rru": DDB_RRU, "ddb_wru": DDB_WRU,
                    "secrets_manager_call": SM_CALL, "record_cache_s": RECORD_TTL_S,
                    "secret_cache_s": SECRET_TTL_S, "requests_per_s_per_sandbox": RATE_PER_SANDBOX,
                    "sliding_write_interval_s": SLIDING_WRITE_S,
                    "introspections_per_token_per_s": INTROSPECTIONS_PER_TOKEN_S,
                },
                "client_credentials": {
                    "warm_p50_ms": cc_p50, "billed_ms": cc_billed, "cpu_ms": cc_cpu,
                    "lambda": lambda(cc_billed), "dynamodb": cc_ddb, "secrets_manager": cc_sm,
                    "total": cc_total, "total_cpu_bound_128mb": lambda(cc_scaled) + cc_ddb + cc_sm,
                    "billed_ms_cpu_bound_128mb": cc_scaled,
                    "total_cold_cache": cc_cold,
                    "cloudwatch_logs": logs(cc_log),
                },
                "refresh": {
                    "warm_p50_ms": rf_p50, "billed_ms": rf_billed, "cpu_ms": rf_cpu,
                    "rru": rf_rru, "wru": rf_wru,
                    "lambda": lambda(rf_billed), "dynamodb": rf_ddb, "secrets_manager": rf_sm,
                    "total": rf_total, "total_cpu_bound_128mb": lambda(rf_scaled) + rf_ddb + rf_sm,
                    "billed_ms_cpu_bound_128mb": rf_scaled,
                    "total_cold_cache": rf_cold,
                    "cloudwatch_logs": logs(rf_log),
                },
                "introspect": {
                    "warm_p50_ms": it_p50, "billed_ms": it_billed, "cpu_ms": it_cpu,
                    "rru": it_rru, "wru_per_write": it_wru_write, "writes_per_request": it_writes,
                    "lambda": lambda(it_billed), "dynamodb": it_ddb, "secrets_manager": it_sm,
                    "total": it_total, "total_cpu_bound_128mb": lambda(it_scaled) + it_ddb + it_sm,
                    "billed_ms_cpu_bound_128mb": it_scaled,
                    "total_cold_cache": it_cold,
                    "total_every_request_writes": it_every_write,
                    "cloudwatch_logs": logs(it_log),
                },
                "dynamodb_items": self.items,
            }),
        );
        let non_lambda = HashMap::from([
            ("client_credentials", cc_ddb + cc_sm),
            ("refresh_token", rf_ddb + rf_sm),
            (INTROSPECT_SERIES, it_ddb + it_sm),
        ]);
        (non_lambda, cc_total)
    }
}
