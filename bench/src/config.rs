//! The run's configuration: paths and knobs from the environment (bench/run.sh
//! sets them; see the Knobs table in bench/README.md).

use crate::lambda_cpu;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub fn env_or(k: &str, d: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| d.to_owned())
}

pub fn env_num<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

pub struct Cfg {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    pub zip_dir: PathBuf,
    pub admin: PathBuf,
    pub peer_dir: PathBuf,
    pub out_dir: PathBuf,
    pub log_dir: PathBuf,
    pub python: PathBuf,
    pub cold_starts: usize,
    pub concurrency: usize,
    pub pool: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub scale: f64,
    pub rounds: usize,
    pub server_cpu: Option<usize>,
    pub harness_cpu: Option<usize>,
    /// Each function's configured memory (MB), from infra/template.yaml via
    /// BENCH_MEMORY (`token=512 refresh=256 …`; 128 when not listed).
    pub memory: HashMap<String, u32>,
    /// Why Lambda's CPU share cannot be emulated here (`None`: it is).
    pub no_throttle: Option<String>,
    /// Sweep: cold starts per function and memory size, warm requests after them.
    pub sweep_starts: usize,
    pub sweep_warm: usize,
}

impl Cfg {
    pub fn from_env(server_cpu: Option<usize>, harness_cpu: Option<usize>) -> Cfg {
        let root = PathBuf::from(env_or("BENCH_ROOT", "."));
        let p = |k: &str, d: &str| {
            let v = PathBuf::from(env_or(k, d));
            if v.is_absolute() { v } else { root.join(v) }
        };
        let concurrency = env_num("BENCH_CONCURRENCY", 8usize).max(1);
        Cfg {
            bin_dir: p("BENCH_BIN_DIR", "target/bench/bin"),
            zip_dir: p("BENCH_ZIP_DIR", "target/lambda"),
            admin: p("BENCH_ADMIN", "target/debug/tollgate-admin"),
            peer_dir: p("BENCH_PEER_DIR", "bench/peer"),
            out_dir: p("BENCH_OUT", "bench/results"),
            log_dir: p("BENCH_LOG_DIR", "target/bench/logs"),
            python: p("BENCH_PYTHON", ".venv/bin/python"),
            cold_starts: env_num("BENCH_COLD_STARTS", 21usize).max(1),
            concurrency,
            pool: env_num("BENCH_POOL", concurrency).max(1),
            warmup: Duration::from_secs_f64(env_num("BENCH_WARMUP_SECS", 3.0)),
            duration: Duration::from_secs_f64(env_num("BENCH_DURATION_SECS", 8.0)),
            scale: env_num("BENCH_SCALE", 1.0f64),
            rounds: env_num("BENCH_ROUNDS", 2usize).max(1),
            server_cpu,
            harness_cpu,
            memory: env_or("BENCH_MEMORY", "")
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
            no_throttle: lambda_cpu::available().err(),
            sweep_starts: env_num("BENCH_SWEEP_STARTS", 3usize),
            sweep_warm: env_num("BENCH_SWEEP_WARM", 40usize).max(1),
            root,
        }
    }

    /// The function's configured memory (MB).
    pub fn memory_of(&self, function: &str) -> u32 {
        self.memory.get(function).copied().unwrap_or(128)
    }

    /// The memory to throttle a sandbox to, if this pass emulates Lambda's CPU
    /// share and the machine can.
    pub fn throttle_for(&self, function: &str, emulate: bool) -> Option<u32> {
        (emulate && self.no_throttle.is_none()).then(|| self.memory_of(function))
    }

    pub fn bin(&self, function: &str) -> PathBuf {
        self.bin_dir.join(function).join("bootstrap")
    }

    /// A sequential sample count, scaled by BENCH_SCALE.
    pub fn n(&self, base: usize) -> usize {
        ((base as f64 * self.scale).round() as usize).max(5)
    }
}
