//! Running the fuzzer: the HTTP client, the warm-up, the request loop, and
//! sending one request and recording what its answer broke.

use super::check::{NOTED, check, header};
use super::report::{Report, Violation};
use super::request::{FuzzRequest, escape_bytes};
use super::{Config, Endpoint, Fresh, Fuzzer, Kind, Outcome, Target};
use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

impl Fuzzer {
    pub fn new(target: Target, cfg: Config) -> Fuzzer {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client");
        Fuzzer {
            target,
            cfg,
            http,
            fresh: Mutex::new(Fresh::default()),
            sessions: Default::default(),
            report: Mutex::new(Report::default()),
        }
    }

    /// Starts the functions' sandboxes before anything is timed: the local
    /// front starts them on demand (`cargo run`), which can wait minutes on
    /// the shared target directory's lock while other builds run.
    async fn warm_up(&self) {
        let slow = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client");
        let mut rng = StdRng::seed_from_u64(0);
        let mut all = Vec::new();
        for ep in Endpoint::ALL {
            for _ in 0..self.cfg.concurrency.max(1) {
                let url = format!(
                    "{}{}",
                    self.target.base(ep.function()),
                    self.route(ep, &mut rng)
                );
                let req = if ep.is_post() {
                    slow.post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("")
                } else {
                    slow.get(url)
                };
                all.push(req.send());
            }
        }
        for r in futures::future::join_all(all).await {
            if let Err(e) = r {
                eprintln!("fuzz warm-up: {}", e.without_url());
            }
        }
        // The private sessions start before anything can throttle MAIN_USER.
        for kind in [Kind::Confidential, Kind::Public] {
            if self.fresh_access(kind).await.is_none() {
                eprintln!("fuzz warm-up: no session for the {kind:?} client");
            }
        }
    }

    /// Runs every request, `concurrency` at a time; returns what was seen.
    pub async fn run(self) -> Report {
        self.warm_up().await;
        let start = Instant::now();
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .started = Some(start);
        let this = &self;
        futures::stream::iter(0..self.cfg.requests)
            .map(|i| async move {
                let req = this.generate(i).await;
                this.exec(req, false).await;
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
        let mut report = self.report.into_inner().unwrap_or_else(|e| e.into_inner());
        report.elapsed = start.elapsed();
        report.seed = self.cfg.seed;
        report
    }

    pub(super) fn rng(&self, i: usize) -> StdRng {
        StdRng::seed_from_u64(
            self.cfg
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(i as u64),
        )
    }

    async fn send_once(&self, req: &FuzzRequest) -> Outcome {
        let t0 = Instant::now();
        let mut outcome = Outcome {
            status: None,
            headers: Default::default(),
            body: Vec::new(),
            elapsed: Duration::ZERO,
            error: None,
        };
        match self.build(req) {
            Err(e) => outcome.error = Some(format!("request not sendable: {e}")),
            Ok(r) => match r.send().await {
                Ok(resp) => {
                    outcome.status = Some(resp.status().as_u16());
                    outcome.headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(b) => outcome.body = b.to_vec(),
                        Err(e) => {
                            outcome.status = None;
                            let kind = if e.is_timeout() { "timeout" } else { "body" };
                            outcome.error =
                                Some(format!("{kind}: reading the body: {}", e.without_url()));
                        }
                    }
                }
                Err(e) if e.is_builder() => {
                    outcome.error = Some(format!("request not sendable: {}", e.without_url()));
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else if e.is_body() {
                        "body"
                    } else if e.is_request() {
                        "request"
                    } else {
                        "other"
                    };
                    let e = e.without_url();
                    let mut msg = format!("{kind}: {e}");
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        let _ = write!(msg, ": {s}");
                        src = s.source();
                    }
                    outcome.error = Some(msg);
                }
            },
        }
        outcome.elapsed = t0.elapsed();
        outcome
    }

    /// Sends one request, checks the answer and records it. Returns the answer.
    /// A request that gets no answer in time is sent once more: when the
    /// second answer is in time (the first wait was the shared machine
    /// stalling, often the client itself), it is reported but not counted.
    pub(super) async fn exec(&self, req: FuzzRequest, setup: bool) -> Outcome {
        let t0 = Instant::now();
        let mut outcome = self.send_once(&req).await;
        let unsendable = outcome
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("request not sendable"));
        let mut classes = if unsendable {
            Vec::new()
        } else {
            check(&req, &outcome, self.cfg.timeout)
        };
        let mut retried = None;
        if outcome.status.is_none() && classes.iter().any(|c| c.contains("no answer within")) {
            let first = outcome.elapsed;
            let retry = self.send_once(&req).await;
            if retry.status.is_some() {
                classes = check(&req, &retry, self.cfg.timeout);
                classes.push(format!(
                    "{NOTED}{}: no answer within {} s once, in time when sent again",
                    req.endpoint.label(),
                    self.cfg.timeout.as_secs(),
                ));
                retried = Some(format!(
                    "first try: no answer after {} ms; sent again: ",
                    first.as_millis()
                ));
                outcome = retry;
            }
        }
        // A successful password change: follow it.
        if outcome.status == Some(200)
            && req.endpoint == Endpoint::ChangePassword
            && let Some(v) = req.victim
        {
            let p: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            if let Some(np) = p.get("newpassword") {
                self.fresh_lock().passwords.insert(v, np.clone());
            }
        }
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        if unsendable {
            r.unsendable += 1;
        }
        if setup {
            r.setup_requests += 1;
        } else {
            r.requests += 1;
        }
        *r.per_endpoint.entry(req.endpoint).or_default() += 1;
        let key = match outcome.status {
            Some(s) => s.to_string(),
            None => "none".to_owned(),
        };
        *r.statuses
            .entry(req.endpoint)
            .or_default()
            .entry(key)
            .or_default() += 1;
        if outcome.status.is_some_and(|s| (500..=599).contains(&s)) {
            r.server_errors += 1;
        }
        r.slowest = r.slowest.max(outcome.elapsed);
        if !classes.is_empty() {
            let at = r
                .started
                .map_or(0.0, |s| t0.saturating_duration_since(s).as_secs_f64());
            let response = match outcome.status {
                Some(s) => format!(
                    "{s} in {} ms (sent at {at:.1} s), content-type {:?}, body: {}",
                    outcome.elapsed.as_millis(),
                    header(&outcome.headers, "content-type"),
                    escape_bytes(&outcome.body, 300)
                ),
                None => format!(
                    "no response after {} ms (sent at {at:.1} s): {}",
                    outcome.elapsed.as_millis(),
                    outcome.error.as_deref().unwrap_or("?")
                ),
            };
            let response = format!("{}{response}", retried.unwrap_or_default());
            let request = if setup {
                format!("(setup) {}", req.describe())
            } else {
                req.describe()
            };
            for class in classes {
                r.add(Violation {
                    class,
                    request: request.clone(),
                    response: response.clone(),
                });
            }
        }
        drop(r);
        outcome
    }

    fn build(&self, req: &FuzzRequest) -> Result<reqwest::RequestBuilder, String> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
        let url = reqwest::Url::parse(&req.url).map_err(|e| e.to_string())?;
        let mut b = self.http.request(method, url);
        for (n, v) in &req.headers {
            let v = reqwest::header::HeaderValue::from_bytes(v).map_err(|e| e.to_string())?;
            b = b.header(n.as_str(), v);
        }
        Ok(b.body(req.body.clone()))
    }

    pub(super) fn fresh_lock(&self) -> std::sync::MutexGuard<'_, Fresh> {
        self.fresh.lock().unwrap_or_else(|e| e.into_inner())
    }
}
