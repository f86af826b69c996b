//! A timing TCP proxy, for the cold-start diagnostic: put in front of DynamoDB
//! Local or moto, it records every HTTP exchange that passes (from the first
//! request byte to the last response byte seen so far) and every new connection,
//! so a cold first request can be split into "waiting on the services" and "in
//! the function".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Default, Clone)]
pub struct Traffic {
    pub connects: u64,
    /// (request's first byte, response's last byte) per exchange.
    pub exchanges: Vec<(Instant, Instant)>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    traffic: Arc<Mutex<Traffic>>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let traffic = Arc::new(Mutex::new(Traffic::default()));
        let t = traffic.clone();
        let accept = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            t.lock().unwrap().connects += 1;
                            conns.spawn(pipe(client, upstream, t.clone()));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Proxy {
            addr,
            traffic,
            accept,
        })
    }

    /// What passed since the last call.
    pub fn take(&self) -> Traffic {
        std::mem::take(&mut *self.traffic.lock().unwrap())
    }
}

async fn pipe(client: TcpStream, upstream: SocketAddr, t: Arc<Mutex<Traffic>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    // Index of the open exchange in `t.exchanges`, and whether its response began.
    let mut open: Option<(usize, bool)> = None;
    let mut up = vec![0u8; 64 * 1024];
    let mut down = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = cr.read(&mut up) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                let now = Instant::now();
                if !matches!(open, Some((_, false))) {
                    let mut g = t.lock().unwrap();
                    g.exchanges.push((now, now));
                    open = Some((g.exchanges.len() - 1, false));
                }
                if sw.write_all(&up[..n]).await.is_err() { return; }
            }
            n = sr.read(&mut down) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                if cw.write_all(&down[..n]).await.is_err() { return; }
                let now = Instant::now();
                if let Some((i, _)) = open {
                    if let Some(x) = t.lock().unwrap().exchanges.get_mut(i) {
                        x.1 = now;
                    }
                    open = Some((i, true));
                }
            }
        }
    }
}

/// Length of the union of the intervals (concurrent calls overlap), in µs.
pub fn union_us(mut iv: Vec<(Instant, Instant)>) -> u64 {
    iv.sort_by_key(|x| x.0);
    let mut total = 0u128;
    let mut cur: Option<(Instant, Instant)> = None;
    for (a, b) in iv {
        match cur {
            Some((s, e)) if a <= e => cur = Some((s, e.max(b))),
            Some((s, e)) => {
                total += e.duration_since(s).as_micros();
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((s, e)) = cur {
        total += e.duration_since(s).as_micros();
    }
    total as u64
}
