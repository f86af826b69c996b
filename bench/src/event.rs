//! Lambda function URL events (API Gateway HTTP API payload format 2.0) in, and
//! the function's response JSON out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// An HTTP request as a function URL receives it.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: String,
    /// The path the function sees (no `/lambda-url/{function}` prefix).
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn get(path_and_query: &str) -> HttpRequest {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            headers: vec![],
            body: vec![],
        }
    }

    pub fn form(path: &str, fields: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: form_encode(fields).into_bytes(),
        }
    }

    pub fn basic(mut self, user: &str, password: &str) -> HttpRequest {
        let v = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        self.headers.push(("authorization".into(), v));
        self
    }
}

pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// application/x-www-form-urlencoded / query component encoding.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `k=v&…` into pairs, decoded.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// The function URL event for `req`, as Lambda builds it.
pub fn url_event(req: &HttpRequest) -> Bytes {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let domain = "bench0000000000000000000000000000.lambda-url.us-east-1.on.aws";
    let mut headers = Map::new();
    headers.insert("host".into(), Value::String(domain.into()));
    headers.insert("x-forwarded-proto".into(), Value::String("https".into()));
    headers.insert("x-forwarded-port".into(), Value::String("443".into()));
    headers.insert("x-forwarded-for".into(), Value::String("127.0.0.1".into()));
    headers.insert("user-agent".into(), Value::String("tollgate-bench".into()));
    headers.insert(
        "x-amzn-trace-id".into(),
        Value::String(format!("Root=1-{:08x}-{n:024x}", now.as_secs())),
    );
    for (k, v) in &req.headers {
        match headers.get_mut(k) {
            Some(Value::String(old)) if k != "host" => {
                old.push(',');
                old.push_str(v);
            }
            _ => {
                headers.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    let mut qsp = Map::new();
    for (k, v) in parse_query(&req.query) {
        match qsp.get_mut(&k) {
            Some(Value::String(old)) => {
                old.push(',');
                old.push_str(&v);
            }
            _ => {
                qsp.insert(k, Value::String(v));
            }
        }
    }
    let (body, b64) = match std::str::from_utf8(&req.body) {
        _ if req.body.is_empty() => (Value::Null, false),
        Ok(t) => (Value::String(t.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(&req.body)), true),
    };
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "bench0000000000000000000000000000",
            "domainName": domain,
            "domainPrefix": "bench0000000000000000000000000000",
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "tollgate-bench"
            },
            "requestId": format!("{n:08x}-0000-4000-8000-000000000000"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2025:00:00:00 +0000",
            "timeEpoch": now.as_millis() as u64
        },
        "isBase64Encoded": b64
    });
    if !qsp.is_empty() {
        ev["queryStringParameters"] = Value::Object(qsp);
    }
    if !body.is_null() {
        ev["body"] = body;
    }
    Bytes::from(serde_json::to_vec(&ev).expect("event serialises"))
}

/// A function's answer, as the function URL would send it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Parses the function's response (payload format 2.0 response object).
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| {
        format!(
            "response is not JSON ({e}): {}",
            String::from_utf8_lossy(raw)
        )
    })?;
    let status = v["statusCode"].as_u64().unwrap_or(200) as u16;
    let mut headers = Vec::new();
    if let Some(h) = v["headers"].as_object() {
        for (k, val) in h {
            if let Some(s) = val.as_str() {
                headers.push((k.to_ascii_lowercase(), s.to_owned()));
            }
        }
    }
    if let Some(h) = v["multiValueHeaders"].as_object() {
        for (k, vals) in h {
            let k = k.to_ascii_lowercase();
            if headers.iter().any(|(n, _)| *n == k) {
                continue;
            }
            for s in vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                headers.push((k.clone(), s.to_owned()));
            }
        }
    }
    if let Some(c) = v["cookies"].as_array() {
        for s in c.iter().filter_map(Value::as_str) {
            headers.push(("set-cookie".into(), s.to_owned()));
        }
    }
    let body = match v["body"].as_str() {
        None => Vec::new(),
        Some(b) if v["isBase64Encoded"].as_bool() == Some(true) => STANDARD
            .decode(b)
            .map_err(|e| format!("bad base64 body: {e}"))?,
        Some(b) => b.as_bytes().to_vec(),
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
