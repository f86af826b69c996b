//! The whole run, pass by pass (unthrottled, emulated, memory sweep, load),
//! then the report: bench/results/latest.{md,json}.

use crate::cold::cold_phase;
use crate::config::{Cfg, env_num, env_or};
use crate::lab::Lab;
use crate::load_vs_peer::{load_peer, load_tollgate, merge};
use crate::rss::rss_diagnostic;
use crate::sweep::sweep_phase;
use crate::warm::warm_phase;
use crate::{FLOOR, FUNCTIONS, R, log, procfs, report, vault};
use serde_json::Value;
use std::time::{Duration, Instant};

pub async fn run(machine: procfs::Machine, cfg: Cfg) -> R<()> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&cfg.log_dir).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cfg.out_dir).map_err(|e| e.to_string())?;
    if env_or("BENCH_VAULT_ONLY", "0") == "1" {
        // Development aid: only the token vault's measurements (emulated
        // CPU); needs only the token function's binary.
        log("provisioning a tenant with tollgate-admin");
        let lab = Lab::provision(&cfg)?;
        let v = vault_pass(&cfg, &lab).await?;
        let path = cfg.out_dir.join("vault.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        )
        .map_err(|e| e.to_string())?;
        log(format!("{v}"));
        log(format!("wrote {}", path.display()));
        return Ok(());
    }
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

    log("token vault");
    let vault = vault_pass(&cfg, &lab).await?;

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
        vault,
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

/// The token vault (vault.rs): its provider and service connection, the two
/// warm series on a token sandbox at its configured memory's CPU share (when
/// the share can be emulated), and 20 concurrent exchanges of an expired
/// connection.
async fn vault_pass(cfg: &Cfg, lab: &Lab) -> R<Value> {
    let v = vault::VaultLab::provision(cfg, lab, "benchup", 1).await?;
    let emulate = cfg.no_throttle.is_none();
    let tok = crate::sandbox::Warm::start_with(
        cfg,
        "token",
        &[],
        "token.vault.log",
        cfg.throttle_for("token", emulate),
    )
    .await?;
    let series = vault::vault_series(cfg, &v, &tok).await;
    let cold = match &series {
        Ok(_) => vault::cold_exchange(cfg, &v, &tok, cfg.cold_starts.min(11)).await,
        Err(e) => Err(e.clone()),
    };
    tok.stop().await;
    let (series, facts) = series?;
    let cold = cold?;
    let v2 = vault::VaultLab::provision(cfg, lab, "benchup2", 1).await?;
    let concurrent = vault::concurrent_expired(cfg, &v2, Duration::from_millis(300)).await?;
    let tick_ms = 1000.0 / procfs::clk_tck() as f64;
    let rows: Vec<Value> = series
        .iter()
        .map(|s| {
            let mut l = s.samples_us.clone();
            l.sort_unstable();
            let p = |q: f64| {
                l.get(((l.len() as f64 - 1.0) * q) as usize)
                    .copied()
                    .unwrap_or(0)
            };
            serde_json::json!({
                "series": s.endpoint,
                "n": l.len(),
                "p50_us": p(0.5),
                "p99_us": p(0.99),
                "cpu_ms_per_req": s.cpu_ticks as f64 * tick_ms / l.len().max(1) as f64,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "memory_mb": cfg.memory_of("token"),
        "cpu_emulated": emulate,
        "series": rows,
        "refreshing": facts,
        "cold_exchange": cold,
        "concurrent_expired": concurrent,
    }))
}

/// Sizes of the tenant's DynamoDB items and the read units DynamoDB Local
/// reports for them (bench/ddb_items.py), for the cost model.
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
