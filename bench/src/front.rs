//! The function-URL front: an HTTP/1.1 server on 127.0.0.1 that turns
//! `/lambda-url/{function}/{path}` requests into function URL events for that
//! function's pool of sandboxes (one `RuntimeApi`), and their answers back into
//! HTTP responses, as `cargo lambda watch` (and a real function URL) does.

use crate::event::{HttpRequest, parse_response, url_event};
use crate::http1;
use crate::runtime::RuntimeApi;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Front {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

type Pools = Arc<HashMap<String, Arc<RuntimeApi>>>;

impl Front {
    pub async fn start(pools: HashMap<String, Arc<RuntimeApi>>) -> std::io::Result<Front> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pools: Pools = Arc::new(pools);
        let accept = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => { conns.spawn(connection(pools.clone(), stream)); }
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Front { addr, accept })
    }
}

async fn connection(pools: Pools, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    loop {
        let req = match http1::read_request(&mut r).await {
            Ok(Some(req)) => req,
            _ => return,
        };
        let (path, query) = req
            .target
            .split_once('?')
            .unwrap_or((req.target.as_str(), ""));
        let routed = path.strip_prefix("/lambda-url/").and_then(|rest| {
            let (function, tail) = rest.split_once('/').unwrap_or((rest, ""));
            Some((pools.get(function)?, format!("/{tail}")))
        });
        let written = match routed {
            None => http1::write_response(&mut w, 404, &[], b"no such function").await,
            Some((pool, fpath)) => {
                let event = url_event(&HttpRequest {
                    method: req.method.clone(),
                    path: fpath,
                    query: query.to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .filter(|(k, _)| k != "connection" && k != "content-length")
                        .cloned()
                        .collect(),
                    body: req.body,
                });
                match pool.invoke(event, Duration::from_secs(30)).await {
                    Ok(o) if !o.error => match parse_response(&o.body) {
                        Ok(resp) => {
                            let h: Vec<(&str, &str)> = resp
                                .headers
                                .iter()
                                .map(|(k, v)| (k.as_str(), v.as_str()))
                                .collect();
                            http1::write_response(&mut w, resp.status, &h, &resp.body).await
                        }
                        Err(e) => http1::write_response(&mut w, 502, &[], e.as_bytes()).await,
                    },
                    Ok(o) => http1::write_response(&mut w, 502, &[], &o.body).await,
                    Err(e) => http1::write_response(&mut w, 504, &[], e.as_bytes()).await,
                }
            }
        };
        if written.is_err() || req.close {
            return;
        }
    }
}
