//! Regression test: the resident size of a process that checks passwords must stay
//! bounded whatever the request mix.
//!
//! `argon2` 0.5 allocates a fresh 19 MiB block buffer per hash; with glibc the freed
//! buffers linger in per-thread arenas (and the dynamic mmap threshold keeps later
//! ones off `mmap`), so a warm Lambda sandbox grew from ~31 MiB to 335-544 MiB after
//! a few dozen logins. `crypto` now reuses one process-wide buffer. Against the old
//! code this test saw VmRSS grow by 40-165 MiB over its 300 checks; with the shared
//! buffer, by under 0.1 MiB.
//!
//! This is its own test binary so nothing else allocates in the process. Requests
//! are run from fresh threads, a few at a time, the way the runtime's worker and
//! blocking threads would run them.

use std::thread;

use tollgate::crypto::{hash_password, verify_password};

/// Resident set size of this process, in KiB, from `/proc/self/status`.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line in /proc/self/status");
    line.trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// One request: `i` selects hash, right password, wrong password or unknown user.
fn one_check(i: usize, stored: &str) {
    match i % 4 {
        0 => {
            let h = hash_password("correct horse battery").unwrap();
            assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        }
        1 => assert!(verify_password("correct horse battery", Some(stored))),
        2 => assert!(!verify_password("wrong horse battery", Some(stored))),
        _ => assert!(!verify_password("correct horse battery", None)),
    }
}

const ROUNDS: usize = 25;
const THREADS: usize = 3;
const PER_THREAD: usize = 4;
const MAX_GROWTH_KIB: u64 = 8 * 1024;

#[test]
fn password_checks_do_not_grow_resident_memory() {
    let stored = hash_password("correct horse battery").unwrap();
    // Warm-up: first-use allocations (the shared buffer, the dummy hash, thread
    // machinery) are paid once, so they belong before the baseline.
    thread::scope(|s| {
        for t in 0..2 {
            let stored = &stored;
            s.spawn(move || {
                for i in 0..5 {
                    one_check(t + i, stored);
                }
            });
        }
    });
    let before = vm_rss_kib();

    let started = std::time::Instant::now();
    for round in 0..ROUNDS {
        thread::scope(|s| {
            for t in 0..THREADS {
                let stored = &stored;
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        one_check(round + t + i, stored);
                    }
                });
            }
        });
    }
    let after = vm_rss_kib();
    let checks = ROUNDS * THREADS * PER_THREAD;
    println!(
        "VmRSS before: {before} KiB, after {checks} checks: {after} KiB (growth {} KiB) in {:.1?}",
        after.saturating_sub(before),
        started.elapsed()
    );
    assert!(
        after.saturating_sub(before) < MAX_GROWTH_KIB,
        "resident memory grew from {before} KiB to {after} KiB over {checks} password checks"
    );
}
