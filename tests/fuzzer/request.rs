//! Requests: a draft under construction (parameters, headers, body) and the
//! request it encodes to.

use super::check::is_form_ct;
use super::{Endpoint, MAX_SEND, MAX_URL, Target};
use rand::Rng;
use rand::rngs::StdRng;
use std::fmt::Write as _;

/// One form or query parameter. `raw` parts are written as they are (so they
/// can carry `&`, `=`, bad escapes or invalid UTF-8); the others are
/// percent-encoded byte by byte.
#[derive(Clone, Debug)]
pub(super) struct Pair {
    pub(super) k: Vec<u8>,
    pub(super) v: Vec<u8>,
    pub(super) raw: bool,
}

pub(super) fn pair(k: &str, v: &str) -> Pair {
    Pair {
        k: k.as_bytes().to_vec(),
        v: v.as_bytes().to_vec(),
        raw: false,
    }
}

pub(super) fn pct_bytes(out: &mut Vec<u8>, b: &[u8]) {
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
    }
}

pub(super) fn encode_pairs(pairs: &[Pair]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        if p.raw {
            out.extend_from_slice(&p.k);
            out.push(b'=');
            out.extend_from_slice(&p.v);
        } else {
            pct_bytes(&mut out, &p.k);
            out.push(b'=');
            pct_bytes(&mut out, &p.v);
        }
    }
    out
}

/// Bytes that cannot stand in a URL as they are get percent-encoded (a URL is
/// a `str`); everything else, bad escapes included, is kept.
fn url_safe(raw: &[u8], keep_slash: bool) -> String {
    let mut s = String::with_capacity(raw.len());
    for &c in raw {
        // What the URL parser would encode anyway is encoded here, so that
        // the length of the URL sent is known.
        let keep = c.is_ascii_graphic()
            && !b"#\"<>`{}|\\^' ".contains(&c)
            && (keep_slash || c != b'/')
            && (keep_slash || c != b'?');
        if keep {
            s.push(c as char);
        } else {
            let _ = write!(s, "%{c:02X}");
        }
    }
    s
}

/// A request under construction.
#[derive(Clone, Debug)]
pub(super) struct Draft {
    pub(super) endpoint: Endpoint,
    pub(super) method: String,
    /// After the function's base URL, starting with `/`.
    pub(super) path: String,
    pub(super) path_mutated: bool,
    pub(super) query: Vec<Pair>,
    pub(super) query_raw: Option<Vec<u8>>,
    pub(super) body: Vec<Pair>,
    pub(super) body_raw: Option<Vec<u8>>,
    pub(super) content_type: Option<Vec<u8>>,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) notes: Vec<String>,
    /// Set when a change-password request names this victim (index).
    pub(super) victim: Option<usize>,
    /// The parameters travel in a form body (a POST endpoint, or userinfo
    /// with `access_token` in the body).
    pub(super) form_body: bool,
}

impl Draft {
    pub(super) fn new(endpoint: Endpoint, method: &str, path: String) -> Draft {
        Draft {
            endpoint,
            method: method.to_owned(),
            path,
            path_mutated: false,
            query: Vec::new(),
            query_raw: None,
            body: Vec::new(),
            body_raw: None,
            content_type: if endpoint.is_post() {
                Some(b"application/x-www-form-urlencoded".to_vec())
            } else {
                None
            },
            headers: Vec::new(),
            notes: Vec::new(),
            victim: None,
            form_body: endpoint.is_post(),
        }
    }

    pub(super) fn set_header(&mut self, name: &str, v: Vec<u8>) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_owned(), v));
    }

    pub(super) fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    /// The parameters a mutation works on: the body for POST endpoints, the
    /// query for GET ones (and, now and then, the other).
    pub(super) fn params_mut(&mut self, rng: &mut StdRng) -> &mut Vec<Pair> {
        let body = self.form_body != rng.gen_bool(0.08);
        if body {
            &mut self.body
        } else {
            &mut self.query
        }
    }

    pub(super) fn finish(self, target: &Target) -> FuzzRequest {
        let mut url = format!(
            "{}{}",
            target.base(self.endpoint.function()),
            url_safe(self.path.as_bytes(), true)
        );
        let query = match self.query_raw {
            Some(q) => Some(q),
            None if !self.query.is_empty() => Some(encode_pairs(&self.query)),
            None => None,
        };
        if let Some(q) = query {
            url.push('?');
            url.push_str(&url_safe(&q, true));
        }
        let mut notes = self.notes;
        if url.len() > MAX_URL {
            // The client cannot send more (`http::Uri` is at most 64 KiB).
            url.truncate(MAX_URL);
            if let Some(i) = url[url.len() - 2..].find('%') {
                url.truncate(url.len() - 2 + i);
            }
            notes.push(format!("URL cut to {} bytes (client limit)", url.len()));
        }
        let mut body = match self.body_raw {
            Some(b) => b,
            None => encode_pairs(&self.body),
        };
        if body.len() > MAX_SEND {
            notes.push(format!("body cut from {} to {MAX_SEND} bytes", body.len()));
            body.truncate(MAX_SEND);
        }
        let mut headers = self.headers;
        if let Some(ct) = self.content_type {
            headers.push(("content-type".to_owned(), ct));
        }
        let real_post = !self.path_mutated && self.endpoint.is_post() && self.method == "POST";
        // Userinfo reads a body only when it is a form; whether another error
        // comes first (a token in the query) is its own business.
        let form_ct = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .is_some_and(|(_, v)| is_form_ct(&String::from_utf8_lossy(v)));
        let any_post = !self.path_mutated
            && self.method == "POST"
            && (self.endpoint.is_post() || (self.endpoint == Endpoint::Userinfo && form_ct));
        FuzzRequest {
            endpoint: self.endpoint,
            real_post,
            any_post,
            method: self.method,
            url,
            headers,
            body,
            notes,
            victim: self.victim,
        }
    }
}

/// A request ready to send.
#[derive(Clone, Debug)]
pub struct FuzzRequest {
    pub endpoint: Endpoint,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// What was done to the baseline, for the report.
    pub notes: Vec<String>,
    /// A POST to the endpoint's real route: 413 exactly when the body is
    /// over 64 KiB.
    pub real_post: bool,
    /// A POST whose body the endpoint parses: never 413 for 64 KiB or less.
    pub any_post: bool,
    pub(super) victim: Option<usize>,
}

pub(super) fn escape_bytes(b: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(max.min(b.len()) + 16);
    for &c in b.iter().take(max) {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if b.len() > max {
        let _ = write!(s, "…[+{} bytes]", b.len() - max);
    }
    s
}

impl FuzzRequest {
    /// A reproducible description: method, URL, headers, the start of the body.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {}\n",
            self.method,
            escape_bytes(self.url.as_bytes(), 400)
        );
        for (n, v) in &self.headers {
            let _ = writeln!(s, "    {n}: {}", escape_bytes(v, 200));
        }
        let _ = writeln!(
            s,
            "    body ({} bytes): {}",
            self.body.len(),
            escape_bytes(&self.body, 400)
        );
        if !self.notes.is_empty() {
            let _ = writeln!(s, "    mutations: {}", self.notes.join("; "));
        }
        s
    }
}
