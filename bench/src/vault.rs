//! The token vault in the bench: an upstream provider on 127.0.0.1 (a tiny
//! HTTP/1.1 server with single-use rotating refresh tokens, answering at once
//! or after a set delay), a provider and a service connection for it made
//! with the real `tollgate-admin`, and the exchange (RFC 8693,
//! `audience={provider}`) measured on the token function:
//! - answered from the stored upstream token (no upstream call);
//! - refreshing on every request (the upstream's `expires_in` is 1 s, under
//!   the freshness margin), so each request is a lease, one upstream call
//!   and a fenced commit; the upstream's own time is measured by the server
//!   and reported next to it;
//! - 20 concurrent exchanges of an expired connection, on 20 sandboxes, with
//!   the upstream answering after 300 ms: how many upstream refreshes, and
//!   how long the last answer took.

use crate::checks::s;
use crate::config::Cfg;
use crate::event::{HttpRequest, HttpResponse};
use crate::lab::{Lab, admin};
use crate::sandbox::{Meter, Series, Warm};
use crate::{R, log};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const FRESH_SERIES: &str = "upstream token, stored (vault exchange)";
pub const REFRESH_SERIES: &str = "upstream token, refreshing (vault exchange)";

#[derive(Default)]
struct Model {
    serial: u64,
    current: Option<String>,
    refreshes: u64,
    reused: u64,
    expires_in: u64,
    delay: Duration,
    /// Time spent answering refresh grants (the upstream's own share).
    upstream_us: Vec<u64>,
}

/// The bench's upstream provider.
#[derive(Clone)]
pub struct Upstream {
    pub port: u16,
    m: Arc<Mutex<Model>>,
}

impl Upstream {
    /// Serves on a thread of its own (its own runtime): the driver blocks its
    /// runtime while `tollgate-admin` runs, and `provider connect` calls this
    /// server meanwhile.
    pub async fn start() -> R<Upstream> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let m = Arc::new(Mutex::new(Model {
            expires_in: 3600,
            ..Model::default()
        }));
        let model = m.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((sock, _)) = listener.accept().await {
                    let model = model.clone();
                    tokio::spawn(async move {
                        let _ = serve(sock, model).await;
                    });
                }
            });
        });
        Ok(Upstream { port, m })
    }

    fn m(&self) -> std::sync::MutexGuard<'_, Model> {
        self.m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set(&self, expires_in: u64, delay: Duration) {
        let mut m = self.m();
        m.expires_in = expires_in;
        m.delay = delay;
    }

    pub fn refreshes(&self) -> u64 {
        self.m().refreshes
    }

    fn take_upstream_us(&self) -> Vec<u64> {
        std::mem::take(&mut self.m().upstream_us)
    }
}

/// One connection, one request (the token function's client opens as it
/// likes; keep-alive is not needed for a bench of this size).
async fn serve(mut sock: tokio::net::TcpStream, m: Arc<Mutex<Model>>) -> std::io::Result<()> {
    loop {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, len) = loop {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (i + 4, len);
            }
            if buf.len() > 64 * 1024 {
                return Ok(());
            }
        };
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let t0 = Instant::now();
        let form: Vec<(String, String)> =
            crate::event::parse_query(&String::from_utf8_lossy(&buf[head_end..head_end + len]));
        let field = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let delay = m.lock().unwrap_or_else(PoisonError::into_inner).delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (status, body) = {
            let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
            let issue = |g: &mut Model| {
                g.serial += 1;
                let rt = format!("rt-{}", g.serial);
                g.current = Some(rt.clone());
                json!({"access_token": format!("at-{}", g.serial), "token_type": "Bearer",
                       "expires_in": g.expires_in, "refresh_token": rt})
            };
            match field("grant_type").as_str() {
                "password" => (200, issue(&mut g)),
                "refresh_token"
                    if g.current.as_deref() == Some(field("refresh_token").as_str()) =>
                {
                    g.refreshes += 1;
                    let v = issue(&mut g);
                    let us = t0.elapsed().as_micros() as u64;
                    g.upstream_us.push(us);
                    (200, v)
                }
                "refresh_token" => {
                    g.reused += 1;
                    (400, json!({"error": "invalid_grant"}))
                }
                _ => (400, json!({"error": "unsupported_grant_type"})),
            }
        };
        let body = body.to_string();
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await?;
    }
}

/// The provider, a client registered for it, and the tenant's service
/// connection (made by `provider connect` through the upstream's password
/// grant).
pub struct VaultLab {
    pub upstream: Upstream,
    provider: String,
    client_id: String,
    client_secret: String,
    base: String,
}

impl VaultLab {
    /// Provider `name` and its service connection, made from an upstream
    /// token that lives `expires_in` seconds (1: stale at once).
    pub async fn provision(cfg: &Cfg, lab: &Lab, name: &str, expires_in: u64) -> R<VaultLab> {
        let upstream = Upstream::start().await?;
        upstream.set(expires_in, Duration::ZERO);
        let token_url = format!("http://127.0.0.1:{}/token", upstream.port);
        admin(
            cfg,
            &[
                "provider",
                "add",
                "--tenant",
                &lab.tenant,
                "--name",
                name,
                "--preset",
                "oauth2",
                "--grant",
                "password",
                "--token-url",
                &token_url,
                "--client-id",
                "tollgate-bench",
            ],
            None,
        )?;
        let scope = format!("upstream:{name}");
        let c = admin(
            cfg,
            &[
                "client",
                "create",
                "--tenant",
                &lab.tenant,
                "--name",
                "Bench vault app",
                "--grant",
                "client_credentials",
                "--scope",
                &scope,
            ],
            None,
        )?;
        admin(
            cfg,
            &[
                "provider",
                "connect",
                "--tenant",
                &lab.tenant,
                "--name",
                name,
            ],
            Some("bench-user\nbench-password\n"),
        )?;
        Ok(VaultLab {
            upstream,
            provider: name.to_owned(),
            client_id: s(&c, "client_id")?,
            client_secret: s(&c, "client_secret")?,
            base: lab.base(),
        })
    }

    pub fn subject(&self) -> HttpRequest {
        let scope = format!("upstream:{}", self.provider);
        HttpRequest::form(
            &format!("{}/token", self.base),
            &[("grant_type", "client_credentials"), ("scope", &scope)],
        )
        .basic(&self.client_id, &self.client_secret)
    }

    pub fn exchange(&self, subject: &str) -> HttpRequest {
        HttpRequest::form(
            &format!("{}/token", self.base),
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", subject),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", &self.provider),
            ],
        )
        .basic(&self.client_id, &self.client_secret)
    }
}

fn expect_upstream_token(r: &HttpResponse) -> R<String> {
    if r.status != 200 {
        return Err(format!("vault exchange: {} {}", r.status, r.text()));
    }
    s(&r.json(), "access_token")
}

/// The two warm series on the token function's sandbox `tok`; `v`'s
/// connection was made from a token that is stale at once.
pub async fn vault_series(cfg: &Cfg, v: &VaultLab, tok: &Warm) -> R<(Vec<Series>, Value)> {
    let subject = s(&tok.call(&v.subject()).await?.0.json(), "access_token")?;
    let req = v.exchange(&subject);
    // Every upstream token lives 1 s, under the freshness margin: each
    // exchange refreshes (a lease, one upstream call, a fenced commit).
    v.upstream.set(1, Duration::ZERO);
    for _ in 0..5 {
        expect_upstream_token(&tok.call(&req).await?.0)?;
    }
    v.upstream.take_upstream_us();
    log("warm latency: vault exchange, refreshing");
    let before = v.upstream.refreshes();
    let mut m = Meter::start(tok);
    let n = cfg.n(200);
    for _ in 0..n {
        let (r, d) = tok.call(&req).await?;
        expect_upstream_token(&r)?;
        m.add(d);
    }
    let refreshing = m.finish(REFRESH_SERIES);
    let calls = v.upstream.refreshes() - before;
    let mut up = v.upstream.take_upstream_us();
    up.sort_unstable();
    let up_p50 = up.get(up.len() / 2).copied().unwrap_or(0);
    if calls != n as u64 {
        return Err(format!(
            "{calls} upstream refreshes for {n} refreshing exchanges"
        ));
    }

    // One more refresh gets an hour-long token: from then on, the stored one.
    v.upstream.set(3600, Duration::ZERO);
    expect_upstream_token(&tok.call(&req).await?.0)?;
    for _ in 0..5 {
        expect_upstream_token(&tok.call(&req).await?.0)?;
    }
    log("warm latency: vault exchange, stored token");
    let before = v.upstream.refreshes();
    let mut m = Meter::start(tok);
    for _ in 0..cfg.n(500) {
        let (r, d) = tok.call(&req).await?;
        expect_upstream_token(&r)?;
        m.add(d);
    }
    let fresh = m.finish(FRESH_SERIES);
    if v.upstream.refreshes() != before {
        return Err("the stored-token series called the upstream".into());
    }
    let facts = json!({
        "refreshing_exchanges": n,
        "upstream_refreshes": calls,
        "upstream_handler_p50_us": up_p50,
        "reused_refresh_tokens": v.upstream.m().reused,
    });
    Ok((vec![fresh, refreshing], facts))
}

/// Cold starts whose first request is an exchange answered from the stored
/// upstream token: spawn → that first response (init at full CPU, the
/// invocation at the configured memory's share), median of `n`.
pub async fn cold_exchange(cfg: &Cfg, v: &VaultLab, tok: &Warm, n: usize) -> R<Value> {
    let subject = s(&tok.call(&v.subject()).await?.0.json(), "access_token")?;
    let req = v.exchange(&subject);
    v.upstream.set(3600, Duration::ZERO);
    expect_upstream_token(&tok.call(&req).await?.0)?;
    let before = v.upstream.refreshes();
    let mut firsts = Vec::new();
    for i in 0..n {
        let sb = Warm::start_with(
            cfg,
            "token",
            &[],
            &format!("token.vault-cold{i}.log"),
            cfg.throttle_for("token", true),
        )
        .await?;
        let r = sb.call_first(&req).await;
        sb.stop().await;
        let (r, first, _) = r?;
        expect_upstream_token(&r)?;
        firsts.push(first.as_micros() as u64);
    }
    if v.upstream.refreshes() != before {
        return Err("a cold exchange called the upstream".into());
    }
    firsts.sort_unstable();
    Ok(json!({
        "starts": n,
        "first_response_p50_us": firsts.get(firsts.len() / 2).copied().unwrap_or(0),
        "first_response_max_us": firsts.last().copied().unwrap_or(0),
    }))
}

/// 20 concurrent exchanges of an expired connection, one sandbox each, the
/// upstream answering after `latency`.
pub async fn concurrent_expired(cfg: &Cfg, v: &VaultLab, latency: Duration) -> R<Value> {
    const N: usize = 20;
    let mut sandboxes = Vec::new();
    for i in 0..N {
        sandboxes.push(
            Warm::start_with(
                cfg,
                "token",
                &[],
                &format!("token.vault{i}.log"),
                cfg.throttle_for("token", true),
            )
            .await?,
        );
    }
    let res = async {
        let subject = s(
            &sandboxes[0].call(&v.subject()).await?.0.json(),
            "access_token",
        )?;
        let req = v.exchange(&subject);
        // Warm every sandbox (its caches: tenant, client, provider, vault
        // keys); each refreshes, and what it stores is stale at once.
        v.upstream.set(1, Duration::ZERO);
        for sb in &sandboxes {
            expect_upstream_token(&sb.call(&req).await?.0)?;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // The refresh answers a normal 600 s token, after `latency`.
        v.upstream.set(600, latency);
        let before = v.upstream.refreshes();
        let t0 = Instant::now();
        let answers = futures_all(sandboxes.iter().map(|sb| {
            let req = &req;
            async move {
                let (r, _) = sb.call(req).await?;
                let tok = expect_upstream_token(&r)?;
                Ok::<_, String>((tok, t0.elapsed()))
            }
        }))
        .await;
        let refreshes = v.upstream.refreshes() - before;
        let mut tokens = std::collections::BTreeSet::new();
        let mut last = Duration::ZERO;
        for a in answers {
            let (t, d) = a?;
            tokens.insert(t);
            last = last.max(d);
        }
        Ok::<_, String>(json!({
            "concurrent_exchanges": N,
            "upstream_latency_ms": latency.as_millis() as u64,
            "upstream_refreshes": refreshes,
            "distinct_tokens": tokens.len(),
            "last_answer_ms": last.as_millis() as u64,
        }))
    }
    .await;
    for sb in sandboxes {
        sb.stop().await;
    }
    res
}

/// Runs the futures concurrently on this task, in order of their results.
async fn futures_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
