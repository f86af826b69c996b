//! A local stand-in for the Lambda Runtime API (2018-06-01), and the "sandbox":
//! a function's release binary started against it, as Lambda would.
//!
//! One `RuntimeApi` is one listening port with one invocation queue; every process
//! started against it pulls from that queue with `GET …/invocation/next` and
//! answers with `POST …/invocation/{id}/response` (or `/error`), one invocation at
//! a time, exactly as in a Lambda sandbox. Several processes against one
//! `RuntimeApi` behave like a pool of warm sandboxes behind one function URL.
//! Dropping it closes the port and every connection.

use crate::http1;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

const PREFIX: &str = "/2018-06-01/runtime";
/// What a function gets as its deadline (Lambda: the configured timeout).
const DEADLINE: Duration = Duration::from_secs(30);

/// One finished invocation, timed by the stand-in.
pub struct Outcome {
    pub body: Vec<u8>,
    /// The function answered on `/error` instead of `/response`.
    pub error: bool,
    /// When the event was handed to the function (the `/next` response).
    pub delivered: Instant,
    /// When its response had been read in full.
    pub done: Instant,
}

impl Outcome {
    /// What Lambda bills as the invocation's duration.
    pub fn duration(&self) -> Duration {
        self.done.saturating_duration_since(self.delivered)
    }
}

struct Job {
    seq: u64,
    id: String,
    event: Bytes,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>,
    inflight: Mutex<HashMap<String, (oneshot::Sender<Outcome>, Instant)>>,
    first_poll: OnceLock<Instant>,
    polled: Notify,
    polls: AtomicU64,
    init_errors: Mutex<Vec<String>>,
    arn: String,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    jobs: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
    seq: AtomicU64,
    accept: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RuntimeApi {
    /// Listens on 127.0.0.1, on a free port.
    pub async fn start(function: &str) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(HashMap::new()),
            first_poll: OnceLock::new(),
            polled: Notify::new(),
            polls: AtomicU64::new(0),
            init_errors: Mutex::new(Vec::new()),
            arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            // Owned here: aborting the accept loop drops (aborts) every connection.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => { conns.spawn(connection(s.clone(), stream)); }
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(RuntimeApi {
            addr,
            jobs,
            shared,
            seq: AtomicU64::new(0),
            accept,
        })
    }

    /// When the first `GET …/next` arrived ("ready for the first invocation"),
    /// waiting for it up to `timeout`.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let wait = async {
            loop {
                let notified = self.shared.polled.notified();
                if let Some(t) = self.shared.first_poll.get() {
                    return *t;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    pub fn init_errors(&self) -> Vec<String> {
        self.shared.init_errors.lock().unwrap().clone()
    }

    /// Queues one event and waits for the function's answer.
    pub async fn invoke(&self, event: Bytes, timeout: Duration) -> Result<Outcome, String> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("8f5b7c4e-0000-4000-8000-{n:012x}");
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                seq: n,
                id,
                event,
                reply,
            })
            .map_err(|_| "runtime API stopped".to_owned())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(_)) => Err("the invocation was lost (function connection closed)".into()),
            Err(_) => Err(format!("no response within {timeout:?}")),
        }
    }
}

/// Resolves when the peer closes the connection (it sends nothing while it waits
/// for `/next`).
async fn closed(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) {
    match r.fill_buf().await {
        Ok([]) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    loop {
        let req = match http1::read_request(&mut r).await {
            Ok(Some(req)) => req,
            _ => return,
        };
        let path = req.target.split('?').next().unwrap_or("");
        let Some(route) = path.strip_prefix(PREFIX) else {
            let _ = http1::write_response(&mut w, 404, &[], b"").await;
            continue;
        };
        let ok = match (req.method.as_str(), route) {
            ("GET", "/invocation/next") => {
                let now = Instant::now();
                shared.polls.fetch_add(1, Ordering::Relaxed);
                if shared.first_poll.set(now).is_ok() {
                    shared.polled.notify_waiters();
                }
                let job = tokio::select! {
                    j = async { shared.queue.lock().await.recv().await } => j,
                    _ = closed(&mut r) => return,
                };
                let Some(job) = job else { return };
                let deadline = (SystemTime::now() + DEADLINE)
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
                    .to_string();
                let trace = format!(
                    "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs(),
                    job.seq,
                    job.seq
                );
                let delivered = Instant::now();
                shared
                    .inflight
                    .lock()
                    .unwrap()
                    .insert(job.id.clone(), (job.reply, delivered));
                http1::write_response(
                    &mut w,
                    200,
                    &[
                        ("content-type", "application/json"),
                        ("lambda-runtime-aws-request-id", &job.id),
                        ("lambda-runtime-deadline-ms", &deadline),
                        ("lambda-runtime-invoked-function-arn", &shared.arn),
                        ("lambda-runtime-trace-id", &trace),
                    ],
                    &job.event,
                )
                .await
            }
            ("POST", "/init/error") => {
                let msg = String::from_utf8_lossy(&req.body).into_owned();
                shared.init_errors.lock().unwrap().push(msg);
                http1::write_response(&mut w, 202, &[], br#"{"status":"OK"}"#).await
            }
            ("POST", r) if r.starts_with("/invocation/") => {
                let done = Instant::now();
                let rest = &r["/invocation/".len()..];
                match rest.rsplit_once('/') {
                    Some((id, kind @ ("response" | "error"))) => {
                        let entry = shared.inflight.lock().unwrap().remove(id);
                        if let Some((reply, delivered)) = entry {
                            let _ = reply.send(Outcome {
                                body: req.body,
                                error: kind == "error",
                                delivered,
                                done,
                            });
                            http1::write_response(&mut w, 202, &[], br#"{"status":"OK"}"#).await
                        } else {
                            http1::write_response(
                                &mut w,
                                400,
                                &[],
                                br#"{"errorMessage":"unknown request id"}"#,
                            )
                            .await
                        }
                    }
                    _ => http1::write_response(&mut w, 404, &[], b"").await,
                }
            }
            _ => http1::write_response(&mut w, 404, &[], b"").await,
        };
        if ok.is_err() || req.close {
            return;
        }
    }
}

/// A function process started against a `RuntimeApi`.
pub struct Sandbox {
    pub child: Child,
    pub pid: u32,
    pub spawned: Instant,
}

/// Environment variables passed from the bench's own environment to functions:
/// the local stack's (`.local/env`) and nothing else.
fn passed_through(k: &str) -> bool {
    (k.starts_with("AWS_") && !k.starts_with("AWS_LAMBDA_"))
        || k.starts_with("TOLLGATE_")
        || k == "PATH"
        || k == "LANG"
}

impl Sandbox {
    /// Starts `binary` the way Lambda starts a `provided.al2023` bootstrap:
    /// a clean environment with the Lambda variables (128 MB, JSON logs) plus
    /// the local stack's, stdout and stderr appended to `log`. The child is
    /// pinned to `cpu` (if any) and dies with the bench.
    pub fn spawn(
        binary: &Path,
        function: &str,
        api: &RuntimeApi,
        log: &Path,
        cpu: Option<usize>,
        extra_env: &[(&str, &str)],
    ) -> std::io::Result<Sandbox> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let err = out.try_clone()?;
        let name = format!("tollgate-{function}");
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .envs(std::env::vars().filter(|(k, _)| passed_through(k)))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2025/01/01/[$LATEST]bench")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .envs(extra_env.iter().copied())
            .current_dir(binary.parent().unwrap_or(Path::new(".")))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        pin_and_tie(&mut cmd, cpu);
        let spawned = Instant::now();
        let child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        Ok(Sandbox {
            child,
            pid,
            spawned,
        })
    }

    /// SIGKILL, as Lambda ends a sandbox, and reap it.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// In the child, before exec: die with the bench (PR_SET_PDEATHSIG) and run on
/// `cpu` only.
pub fn pin_and_tie(cmd: &mut Command, cpu: Option<usize>) {
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if let Some(c) = cpu {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(c, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
            Ok(())
        });
    }
}

/// Pins the calling thread (and every thread it starts afterwards) to `cpu`.
pub fn pin_self(cpu: usize) {
    // SAFETY: plain syscall on a zeroed, then filled, cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
