//! `tollgate-bench`: the driver of `make bench` (see bench/README.md).
//!
//! Runs every function's release binary the way Lambda does — against a local
//! Runtime API stand-in, with function URL events — and measures cold starts,
//! warm latency, CPU per request, peak RSS, then loads the token function and the
//! peer (node-oidc-provider) with the same load generator at the same concurrency
//! on the same CPU budget. Writes bench/results/latest.{md,json}.
//!
//! Expects the local stack's environment (`.local/env`) and the paths of config.rs
//! (bench/run.sh sets everything up).
// The bench harness measures wall time and plays Lambda's clock: it may read
// the system clock (clippy.toml keeps the library on the Clock port).
#![allow(clippy::disallowed_methods)]
// libc calls the harness needs (sysconf, process groups, the cgroup it moves
// sandboxes into): each `unsafe` block says why it is sound.
#![allow(unsafe_code)]

mod checks;
mod cold;
mod config;
mod event;
mod front;
mod http1;
mod lab;
mod lambda_cpu;
mod load;
mod load_vs_peer;
mod procfs;
mod proxy;
mod report;
mod rss;
mod run;
mod runtime;
mod sandbox;
mod sweep;
mod vault;
mod warm;

use config::{Cfg, env_or};

pub type R<T> = Result<T, String>;

pub const FUNCTIONS: [&str; 9] = [
    "authorize",
    "callback",
    "token",
    "refresh",
    "change-password",
    "discovery",
    "introspect",
    "revoke",
    "userinfo",
];
/// The floor function (bench/floor): a constant body, nothing else.
pub const FLOOR: &str = "floor";

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

fn main() {
    // Read the machine before narrowing our own affinity.
    let machine = procfs::machine();
    // Two CPUs or more: the measured servers (functions, the peer) get CPU 0, the
    // harness (stand-in, front, load generator) CPU 1, so that each side has one
    // whole CPU and they never compete.
    let (server_cpu, harness_cpu) = if machine.nproc >= 2 && env_or("BENCH_PIN", "1") == "1" {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    if let Some(c) = harness_cpu {
        runtime::pin_self(c);
    }
    let cfg = Cfg::from_env(server_cpu, harness_cpu);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run::run(machine, cfg)) {
        log(format!("error: {e}"));
        std::process::exit(1);
    }
}
