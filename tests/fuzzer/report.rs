//! What a run saw: requests per endpoint, the status histogram and every
//! failure class with its first examples.

use super::Endpoint;
use super::check::{FRONT, NOTED};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// One failed assertion.
#[derive(Clone, Debug)]
pub struct Violation {
    pub class: String,
    pub request: String,
    pub response: String,
}

/// What a run saw.
#[derive(Default)]
pub struct Report {
    pub requests: usize,
    pub setup_requests: usize,
    pub per_endpoint: BTreeMap<Endpoint, usize>,
    pub statuses: BTreeMap<Endpoint, BTreeMap<String, usize>>,
    /// class -> (count, first examples)
    pub violations: BTreeMap<String, (usize, Vec<Violation>)>,
    /// What the local front did (not Tollgate): class -> (count, examples).
    pub front: BTreeMap<String, (usize, Vec<Violation>)>,
    pub server_errors: usize,
    /// Generated requests the HTTP client could not send.
    pub unsendable: usize,
    pub slowest: Duration,
    pub elapsed: Duration,
    pub seed: u64,
    pub(super) started: Option<Instant>,
}

const EXAMPLES_PER_CLASS: usize = 3;

impl Report {
    pub fn failures(&self) -> usize {
        self.violations.values().map(|(n, _)| n).sum()
    }

    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    pub(super) fn add(&mut self, v: Violation) {
        let map = if v.class.starts_with(FRONT) || v.class.starts_with(NOTED) {
            &mut self.front
        } else {
            &mut self.violations
        };
        let e = map.entry(v.class.clone()).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES_PER_CLASS {
            e.1.push(v);
        }
    }

    /// Requests per endpoint, the status histogram, 5xx and every failure class.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "fuzz: {} requests (+{} setup requests for fresh tokens) in {:.1} s, seed {}, slowest answer {} ms",
            self.requests,
            self.setup_requests,
            self.elapsed.as_secs_f64(),
            self.seed,
            self.slowest.as_millis()
        );
        for ep in Endpoint::ALL {
            let n = self.per_endpoint.get(&ep).copied().unwrap_or(0);
            let hist = self
                .statuses
                .get(&ep)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let _ = writeln!(s, "  {:<16} {:>6}  {hist}", ep.label(), n);
        }
        if self.unsendable > 0 {
            let _ = writeln!(
                s,
                "{} requests could not be sent by the HTTP client (status \"none\")",
                self.unsendable
            );
        }
        let front: usize = self
            .front
            .iter()
            .filter(|(class, _)| class.starts_with(FRONT))
            .map(|(_, (n, _))| n)
            .sum();
        let _ = writeln!(
            s,
            "5xx responses: {} ({front} of them from the local front, not Tollgate)",
            self.server_errors
        );
        if self.violations.is_empty() {
            let _ = writeln!(s, "no failures");
        } else {
            let _ = writeln!(
                s,
                "{} failures in {} classes:",
                self.failures(),
                self.violations.len()
            );
            for (class, (n, _)) in &self.violations {
                let _ = writeln!(s, "  {n:>6} × {class}");
            }
        }
        if !self.front.is_empty() {
            let _ = writeln!(
                s,
                "not counted as failures (the local front answered without invoking the function, or a slow answer did not happen again):"
            );
            for (class, (n, _)) in &self.front {
                let _ = writeln!(s, "  {n:>6} × {class}");
            }
        }
        s
    }

    /// Every failure class with its first examples (request and response).
    pub fn details(&self) -> String {
        let mut s = String::new();
        for (class, (n, ex)) in self.violations.iter().chain(&self.front) {
            let _ = writeln!(s, "=== {class} ({n} times)");
            for v in ex {
                let _ = write!(s, "  request: {}", v.request);
                let _ = writeln!(s, "  response: {}", v.response);
            }
        }
        s
    }
}
