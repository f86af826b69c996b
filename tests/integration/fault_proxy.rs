//! A fault-injection proxy between Tollgate's SDK clients and the local
//! DynamoDB / Secrets Manager emulators, for the outage tests (`faults.rs`).
//!
//! One listener on 127.0.0.1 (ephemeral port) fronts both services: an SDK
//! config can only point every service at the same custom endpoint, so the
//! proxy reads each HTTP/1.1 request (the SDK neither pipelines nor streams
//! these bodies) and routes it by `X-Amz-Target` (`DynamoDB_20120810.*` or
//! `secretsmanager.*`) to `AWS_ENDPOINT_URL_DYNAMODB` or
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Each service has a plan, switchable at
//! run time; it applies per request, so connections the SDK keeps pooled are
//! hit as well as new ones:
//!
//! - [`Fault::PassThrough`]: forward the request and the response.
//! - [`Fault::Refuse`]: reset the connection at once (TCP RST); nothing is
//!   forwarded, the client never sees a byte of response.
//! - [`Fault::ResetMidResponse`]: forward the request (so a write lands), read
//!   the whole answer, send the client its head and half its body, then reset.
//! - [`Fault::Delay`]: forward the request, hold the answer for the given time
//!   (longer than the SDK's timeouts), then send it if the client still waits.
//! - [`Fault::Hold`]: hold the request, unforwarded, until
//!   [`FaultProxy::release`]; the test waits for it with
//!   [`FaultProxy::until_held`] and meanwhile does what must land first (a
//!   deterministic interleaving of two writers).
//!
//! A plan can spare the first `n` matching requests ([`FaultProxy::plan`])
//! and can match writes only ([`Ops::Writes`]), so a fault lands on a chosen
//! step (the consume, the rotation) whatever reads precede it. The proxy stops
//! when dropped: the accept loop and every connection task are aborted.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    SecretsManager,
}

impl Service {
    fn index(self) -> usize {
        match self {
            Service::DynamoDb => 0,
            Service::SecretsManager => 1,
        }
    }

    fn env(self) -> &'static str {
        match self {
            Service::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
            Service::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        }
    }

    /// From an `X-Amz-Target` header value.
    fn of_target(target: &str) -> Option<Service> {
        let prefix = target.split('.').next().unwrap_or("");
        if prefix.starts_with("DynamoDB") {
            Some(Service::DynamoDb)
        } else if prefix.eq_ignore_ascii_case("secretsmanager") {
            Some(Service::SecretsManager)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    PassThrough,
    Refuse,
    ResetMidResponse,
    Delay(Duration),
    Hold,
}

/// Which requests of a service a plan applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ops {
    All,
    /// Operations that change state (`PutItem`, `UpdateItem`, `DeleteItem`,
    /// `TransactWriteItems`, `BatchWriteItem`, and Secrets Manager's
    /// create/put/update/delete).
    Writes,
}

fn is_write(operation: &str) -> bool {
    const WRITES: [&str; 10] = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
        "CreateSecret",
        "PutSecretValue",
        "UpdateSecret",
        "DeleteSecret",
        "RestoreSecret",
    ];
    WRITES.contains(&operation)
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    fault: Fault,
    ops: Ops,
    /// Matching requests still to let through before the fault applies.
    spare: u64,
}

#[derive(Default, Clone, Copy, Debug)]
struct Counts {
    requests: u64,
    faulted: u64,
}

struct Shared {
    upstreams: [String; 2],
    plans: Mutex<[Plan; 2]>,
    counts: Mutex<[Counts; 2]>,
    /// Requests held by [`Fault::Hold`] so far.
    held: tokio::sync::watch::Sender<u64>,
    /// Set once by [`FaultProxy::release`]: held requests go on.
    released: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// Counts the request and decides its fate.
    fn decide(&self, svc: Service, operation: &str) -> Fault {
        let i = svc.index();
        let fault = {
            let mut plans = self.plans.lock().unwrap();
            let plan = &mut plans[i];
            let matches = match plan.ops {
                Ops::All => true,
                Ops::Writes => is_write(operation),
            };
            if !matches || plan.fault == Fault::PassThrough {
                Fault::PassThrough
            } else if plan.spare > 0 {
                plan.spare -= 1;
                Fault::PassThrough
            } else {
                plan.fault
            }
        };
        let mut counts = self.counts.lock().unwrap();
        counts[i].requests += 1;
        if fault != Fault::PassThrough {
            counts[i].faulted += 1;
        }
        fault
    }
}

pub struct FaultProxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (ephemeral port) in front of the local services
    /// named by the environment (`. .local/env`); everything passes through.
    pub async fn start() -> FaultProxy {
        let upstream = |svc: Service| {
            let raw = std::env::var(svc.env())
                .unwrap_or_else(|_| panic!("{} is not set: source .local/env", svc.env()));
            let u = url::Url::parse(&raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            format!(
                "{}:{}",
                u.host_str().expect("endpoint host"),
                u.port_or_known_default().expect("endpoint port")
            )
        };
        let pass = Plan {
            fault: Fault::PassThrough,
            ops: Ops::All,
            spare: 0,
        };
        let shared = Arc::new(Shared {
            upstreams: [
                upstream(Service::DynamoDb),
                upstream(Service::SecretsManager),
            ],
            plans: Mutex::new([pass, pass]),
            counts: Mutex::new([Counts::default(); 2]),
            held: tokio::sync::watch::Sender::new(0),
            released: tokio::sync::watch::Sender::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy { addr, shared, task }
    }

    /// `http://127.0.0.1:{port}`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From the next request of `svc` on, every request meets `fault`.
    pub fn set(&self, svc: Service, fault: Fault) {
        self.plan(svc, Ops::All, 0, fault);
    }

    /// From now on, the next `spare` requests of `svc` that `ops` matches
    /// pass, then every matching one meets `fault`; the others always pass.
    pub fn plan(&self, svc: Service, ops: Ops, spare: u64, fault: Fault) {
        self.shared.plans.lock().unwrap()[svc.index()] = Plan { fault, ops, spare };
    }

    /// Returns once `n` requests are held by [`Fault::Hold`].
    pub async fn until_held(&self, n: u64) {
        let mut held = self.shared.held.subscribe();
        held.wait_for(|h| *h >= n).await.unwrap();
    }

    /// Lets every held request (and every later one) go on.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Requests of `svc` the proxy has read so far.
    pub fn requests(&self, svc: Service) -> u64 {
        self.shared.counts.lock().unwrap()[svc.index()].requests
    }

    /// Requests of `svc` that met a fault so far.
    pub fn faulted(&self, svc: Service) -> u64 {
        self.shared.counts.lock().unwrap()[svc.index()].faulted
    }

    /// An SDK config whose every service endpoint is this proxy (region and
    /// credentials from the environment, the SDK's default retry and timeouts:
    /// whatever Tollgate adds on top is what is under test).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.url())
            .load()
            .await
    }

    /// A fresh `AppState` (empty caches) talking to both services through the proxy.
    pub async fn app_state(&self) -> tollgate::AppState {
        tollgate::AppState::new(tollgate::Config::from_env(), &self.sdk_config().await)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, _)) => {
                    let _ = sock.set_nodelay(true);
                    conns.spawn(serve(sock, shared.clone()));
                }
                Err(e) => {
                    eprintln!("fault proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Drops the connection with a TCP RST instead of a FIN.
fn reset(conn: Conn) {
    let _ = conn.sock.set_zero_linger();
    drop(conn);
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    let mut client = Conn::new(client);
    let mut upstreams: [Option<Conn>; 2] = [None, None];
    loop {
        let req = match client.read_message(false).await {
            Ok(Some(m)) => m,
            // Clean end of a keep-alive connection, or a client that gave up.
            Ok(None) | Err(_) => return,
        };
        let target = req.target.clone().unwrap_or_default();
        let Some(svc) = Service::of_target(&target) else {
            eprintln!("fault proxy: cannot route a request with X-Amz-Target {target:?}");
            return reset(client);
        };
        let operation = target.rsplit('.').next().unwrap_or("");
        let fault = shared.decide(svc, operation);
        if fault == Fault::Refuse {
            return reset(client);
        }
        if fault == Fault::Hold {
            let mut released = shared.released.subscribe();
            shared.held.send_modify(|h| *h += 1);
            if released.wait_for(|r| *r).await.is_err() {
                return reset(client);
            }
        }
        let slot = &mut upstreams[svc.index()];
        if slot.is_none() {
            match TcpStream::connect(&shared.upstreams[svc.index()]).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    *slot = Some(Conn::new(s));
                }
                Err(e) => {
                    eprintln!("fault proxy: {svc:?} upstream unreachable: {e}");
                    return reset(client);
                }
            }
        }
        let Some(up) = slot.as_mut() else { return };
        let resp = async {
            up.sock.write_all(&req.raw).await?;
            up.read_message(true)
                .await?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed"))
        }
        .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                eprintln!("fault proxy: {svc:?} upstream failed: {e}");
                return reset(client);
            }
        };
        if resp.close {
            *slot = None;
        }
        match fault {
            Fault::ResetMidResponse => {
                // The whole head (the client sees a status) and half the body;
                // half the head when there is no body.
                let body = resp.raw.len() - resp.head_len;
                let cut = if body > 0 {
                    resp.head_len + body / 2
                } else {
                    (resp.head_len / 2).max(1)
                };
                let _ = client.sock.write_all(&resp.raw[..cut]).await;
                let _ = client.sock.flush().await;
                // Let the client read those bytes before the RST discards them.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return reset(client);
            }
            Fault::Delay(d) => tokio::time::sleep(d).await,
            Fault::PassThrough | Fault::Refuse | Fault::Hold => {}
        }
        if client.sock.write_all(&resp.raw).await.is_err() || resp.close {
            return;
        }
    }
}

/// One HTTP/1.1 message, as read off the wire.
struct Message {
    raw: Vec<u8>,
    head_len: usize,
    /// The sender closes the connection after it.
    close: bool,
    target: Option<String>,
}

const MAX_HEAD: usize = 64 * 1024;

struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

impl Conn {
    fn new(sock: TcpStream) -> Conn {
        Conn {
            sock,
            buf: Vec::new(),
        }
    }

    /// Reads what is available; false at end of stream.
    async fn more(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.sock.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    async fn need(&mut self, len: usize) -> io::Result<()> {
        while self.buf.len() < len {
            if !self.more().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// The index just past the first CRLF at or after `from`.
    async fn line_end(&mut self, from: usize) -> io::Result<usize> {
        loop {
            if let Some(i) = find(&self.buf[from..], b"\r\n") {
                return Ok(from + i + 2);
            }
            if self.buf.len() - from > MAX_HEAD {
                return Err(bad("line too long"));
            }
            if !self.more().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The next request (or response) on this connection; `None` when the
    /// peer closed cleanly between messages.
    async fn read_message(&mut self, response: bool) -> io::Result<Option<Message>> {
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("head too large"));
            }
            if !self.more().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_len]).map_err(|_| bad("head not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let status: Option<u16> = first.split(' ').nth(1).and_then(|s| s.parse().ok());
        let (mut content_length, mut chunked, mut close, mut target) = (None, false, false, None);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    content_length =
                        Some(value.parse::<usize>().map_err(|_| bad("content-length"))?)
                }
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "x-amz-target" => target = Some(value.to_owned()),
                _ => {}
            }
        }
        let mut end = head_len;
        if chunked {
            loop {
                let line = self.line_end(end).await?;
                let size = std::str::from_utf8(&self.buf[end..line - 2])
                    .ok()
                    .and_then(|s| s.split(';').next())
                    .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                    .ok_or_else(|| bad("chunk size"))?;
                end = line;
                if size == 0 {
                    // Trailers, up to an empty line.
                    loop {
                        let line = self.line_end(end).await?;
                        let empty = line - end == 2;
                        end = line;
                        if empty {
                            break;
                        }
                    }
                    break;
                }
                self.need(end + size + 2).await?;
                end += size + 2;
            }
        } else if let Some(n) = content_length {
            self.need(end + n).await?;
            end += n;
        } else if response && !matches!(status, Some(100..=199 | 204 | 304)) {
            // No length: the body runs to the end of the stream.
            while self.more().await? {}
            end = self.buf.len();
            close = true;
        }
        let raw: Vec<u8> = self.buf.drain(..end).collect();
        Ok(Some(Message {
            raw,
            head_len,
            close,
            target,
        }))
    }
}
