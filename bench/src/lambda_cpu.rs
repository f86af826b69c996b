//! Lambda's CPU share, emulated with a cgroup v1 `cpu` quota.
//!
//! Lambda runs a sandbox's init phase with a CPU burst and every invocation at
//! the share of one vCPU that the function's memory buys: 1,769 MB = one vCPU,
//! so 128 MB ≈ 7 %. The bench does the same: a sandbox starts unthrottled and,
//! once it polls for its first invocation (init is over), moves into a cgroup of
//! its own whose CFS quota is `period × memory / 1769` (see `Warm::start_with`).
//! Needs the cgroup v1 `cpu` controller at /sys/fs/cgroup/cpu and the right to
//! create groups there (root); without them the bench says so and runs
//! unthrottled.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// One full vCPU (Lambda's documented threshold).
pub const FULL_VCPU_MB: u32 = 1769;
/// The memory sizes of the sweep.
pub const SWEEP_MB: [u32; 5] = [128, 256, 512, 1024, 1769];
const ROOT: &str = "/sys/fs/cgroup/cpu";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// CFS period (µs) of every group; BENCH_CFS_PERIOD_US, default 20 ms. Lambda
/// does not publish its period. A request that needs less CPU than one
/// period's quota runs at full speed, so the period matters for short bursts:
/// with the kernel's default 100 ms, a 22 ms Argon2id hash at 512 MB (quota
/// 29 ms) is never throttled; with 20 ms it gets its 29 % share, as the
/// documented "CPU in proportion to memory" says. 20 ms is the conservative
/// choice; the report prints the period used.
pub fn period_us() -> u64 {
    std::env::var("BENCH_CFS_PERIOD_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|p| (1_000..=1_000_000).contains(p))
        .unwrap_or(20_000)
}

/// The quota for `memory_mb`: its share of one CPU per period (at least the
/// kernel's 1 ms minimum).
pub fn quota_us(memory_mb: u32) -> u64 {
    (period_us() * u64::from(memory_mb) / u64::from(FULL_VCPU_MB)).max(1_000)
}

/// Whether groups can be made here; `Err` says why not (for the report).
pub fn available() -> Result<(), String> {
    if std::env::var("BENCH_THROTTLE").is_ok_and(|v| v == "0") {
        return Err("BENCH_THROTTLE=0".into());
    }
    let root = PathBuf::from(ROOT);
    if !root.join("cpu.cfs_quota_us").is_file() {
        return Err(format!(
            "no cgroup v1 cpu controller at {ROOT} (cpu.cfs_quota_us missing)"
        ));
    }
    let probe = CpuGroup::create(FULL_VCPU_MB).map_err(|e| format!("{ROOT}: {e}"))?;
    drop(probe);
    Ok(())
}

/// A cgroup with a CPU quota, removed when dropped (after its processes died).
pub struct CpuGroup {
    dir: PathBuf,
}

impl CpuGroup {
    pub fn create(memory_mb: u32) -> Result<CpuGroup, String> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(ROOT).join(format!("tollgate-bench-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let g = CpuGroup { dir };
        g.write("cpu.cfs_period_us", &period_us().to_string())?;
        g.write("cpu.cfs_quota_us", &quota_us(memory_mb).to_string())?;
        Ok(g)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let p = self.dir.join(file);
        std::fs::write(&p, value).map_err(|e| format!("write {value} to {}: {e}", p.display()))
    }

    /// Moves the process (every thread of it) into the group.
    pub fn add(&self, pid: u32) -> Result<(), String> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// A group for `memory_mb` holding `pid`, or none (unthrottled) without a
    /// memory size.
    pub fn holding(memory_mb: Option<u32>, pid: u32) -> Result<Option<CpuGroup>, String> {
        let Some(m) = memory_mb else {
            return Ok(None);
        };
        let g = CpuGroup::create(m)?;
        g.add(pid)?;
        Ok(Some(g))
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A killed process leaves the group once reaped; give it a moment.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("[bench] could not remove {}", self.dir.display());
    }
}
