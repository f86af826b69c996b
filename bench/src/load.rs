//! The one load generator used for both Tollgate and the peer: a fixed number of
//! keep-alive HTTP/1.1 connections to 127.0.0.1, each sending the same request
//! back to back (closed loop), for a warm-up then a fixed measurement window.
//! Latency is client-side, from sending the request to having read the whole
//! response.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[derive(Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

pub struct LoadResult {
    /// Successful (2xx) responses completed inside the window.
    pub completed: u64,
    /// Non-2xx answers and transport errors inside the window.
    pub errors: u64,
    pub latencies_us: Vec<u64>,
    pub window: Duration,
    /// One successful response body, to check what was served.
    pub sample: Option<Bytes>,
    pub first_error: Option<String>,
}

/// One request on an open connection.
pub async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    spec: &LoadSpec,
) -> Result<(u16, Bytes), String> {
    let mut b = Request::builder()
        .method(spec.method)
        .uri(&spec.path)
        .header("host", spec.addr.to_string());
    for (k, v) in &spec.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let req = b
        .body(Full::new(spec.body.clone()))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

pub async fn connect(
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Runs the load; `snap` is called at the start and at the end of the
/// measurement window (for CPU and memory readings over exactly that window).
pub async fn run<S>(spec: &LoadSpec, mut snap: impl FnMut() -> S) -> (LoadResult, S, S) {
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let lat: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::with_capacity(1 << 16)));
    let sample: Rc<RefCell<Option<Bytes>>> = Rc::new(RefCell::new(None));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for _ in 0..spec.concurrency {
        let (spec, recording, stop, completed, errors, lat, sample, first_error) = (
            spec.clone(),
            recording.clone(),
            stop.clone(),
            completed.clone(),
            errors.clone(),
            lat.clone(),
            sample.clone(),
            first_error.clone(),
        );
        handles.push(local.spawn_local(async move {
            let mut conn = None;
            while !stop.load(Ordering::Relaxed) {
                if conn.is_none() {
                    match connect(spec.addr).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            if recording.load(Ordering::Relaxed) {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            first_error.borrow_mut().get_or_insert(e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let sender = conn.as_mut().expect("connected");
                let t0 = Instant::now();
                let r = send(sender, &spec).await;
                let us = t0.elapsed().as_micros() as u64;
                let rec = recording.load(Ordering::Relaxed);
                match r {
                    Ok((status, body)) if (200..300).contains(&status) => {
                        if rec {
                            completed.fetch_add(1, Ordering::Relaxed);
                            lat.borrow_mut().push(us);
                            let mut s = sample.borrow_mut();
                            if s.is_none() {
                                *s = Some(body);
                            }
                        }
                    }
                    Ok((status, body)) => {
                        if rec {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        first_error.borrow_mut().get_or_insert_with(|| {
                            format!("HTTP {status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        if rec {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        first_error.borrow_mut().get_or_insert(e);
                        conn = None;
                    }
                }
            }
        }));
    }
    let (start, end, window) = local
        .run_until(async {
            tokio::time::sleep(spec.warmup).await;
            let start = snap();
            let t0 = Instant::now();
            recording.store(true, Ordering::Relaxed);
            tokio::time::sleep(spec.duration).await;
            recording.store(false, Ordering::Relaxed);
            let window = t0.elapsed();
            let end = snap();
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                let _ = tokio::time::timeout(Duration::from_secs(35), h).await;
            }
            (start, end, window)
        })
        .await;
    let latencies_us = std::mem::take(&mut *lat.borrow_mut());
    let result = LoadResult {
        completed: completed.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        latencies_us,
        window,
        sample: sample.borrow_mut().take(),
        first_error: first_error.borrow_mut().take(),
    };
    (result, start, end)
}
