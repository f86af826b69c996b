//! What the benchmark reads from /proc: CPU time, peak and current RSS, sockets.

use std::fs;

/// Clock ticks per second of utime/stime in /proc/<pid>/stat.
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// (utime, stime) of the whole process (every thread, live or exited), in ticks.
pub fn cpu_split(pid: &str) -> Option<(u64, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// utime + stime of the whole process, in ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    cpu_split(pid).map(|(u, s)| u + s)
}

/// A `Vm*` line of /proc/<pid>/status, in KiB (VmHWM = peak RSS, VmRSS = now).
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// TCP connections a process holds (its socket fds found in /proc/<pid>/net/tcp{,6}).
/// A tokio process also holds a Unix socket pair of its own (signal driver),
/// which is not counted.
pub fn tcp_sockets(pid: &str) -> Option<usize> {
    let mut tcp = std::collections::HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(t) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in t.lines().skip(1) {
            if let Some(inode) = line.split_whitespace().nth(9) {
                tcp.insert(inode.to_owned());
            }
        }
    }
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        dir.filter_map(Result::ok)
            .filter_map(|e| fs::read_link(e.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                l.strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .map(str::to_owned)
            })
            .filter(|inode| tcp.contains(inode))
            .count(),
    )
}

/// Threads of a process.
pub fn threads(pid: &str) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

/// CPUs online (not the affinity mask, which the bench narrows).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as usize } else { 1 }
}

pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total_mib: u64,
    pub kernel: String,
}

pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem_total_mib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let v = l.strip_prefix("MemTotal:")?;
                v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
            })
        })
        .unwrap_or(0)
        / 1024;
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    Machine {
        nproc: online_cpus(),
        cpu_model,
        mem_total_mib,
        kernel,
    }
}
