//! The checks on one answer (status, error JSON, challenges, answer shapes,
//! CORS), the local front's known quirks, and what is read from an answer.

use super::request::FuzzRequest;
use super::{Endpoint, MAX_BODY, Outcome, REGISTERED_ORIGINS};
use serde_json::Value;
use std::time::Duration;

/// RFC 6749 §4.1.2.1, §4.2.2.1, §5.2, RFC 6750 §3.1, RFC 8693 §2.2.2
/// (`invalid_target`), and OIDC's `login_required` (authorization responses only).
const TOKEN_ERRORS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "invalid_token",
    "insufficient_scope",
    // The token vault's: no such upstream connection (SPEC: Upstream providers).
    "not_linked",
];
const AUTHZ_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "login_required",
    "interaction_required",
    "consent_required",
];

fn description_ok(d: &str) -> bool {
    d.bytes()
        .all(|c| matches!(c, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

pub(super) fn header<'a>(h: &'a reqwest::header::HeaderMap, n: &str) -> &'a str {
    h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn is_json_ct(ct: &str) -> bool {
    ct.split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) fn is_form_ct(ct: &str) -> bool {
    ct.split(';').next().is_some_and(|m| {
        m.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

fn is_html_ct(ct: &str) -> bool {
    ct.split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
}

/// Classes with this prefix are the local front's (`cargo lambda watch`)
/// doing: reported, not counted as failures.
pub(super) const FRONT: &str = "[local front, not Tollgate] ";
/// Classes with this prefix could not be reproduced: reported, not counted.
pub(super) const NOTED: &str = "[not reproduced] ";

/// Requests `cargo lambda watch` answers with its own 500 without invoking
/// the function (it cannot put them in a Lambda event): a header value that
/// is not UTF-8, or a body that is not UTF-8 under a content type it does not
/// base64-encode (none, `text/*`, JSON). A deployed function URL base64-encodes
/// such bodies; Tollgate itself answers them 400 (see `[local front]` below).
fn front_quirk(req: &FuzzRequest) -> Option<&'static str> {
    if req
        .headers
        .iter()
        .any(|(_, v)| std::str::from_utf8(v).is_err())
    {
        return Some("a header value that is not UTF-8");
    }
    if std::str::from_utf8(&req.body).is_err() {
        let ct = req
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| String::from_utf8_lossy(v).to_ascii_lowercase());
        let text = match ct
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or("").trim())
        {
            None | Some("") => true,
            Some(m) => m.starts_with("text/") || m.ends_with("json") || m.ends_with("xml"),
        };
        if text {
            return Some("a non-UTF-8 body with a text content type (or none)");
        }
    }
    None
}

/// The checks on one answer: the failure classes it falls into.
pub(super) fn check(req: &FuzzRequest, o: &Outcome, timeout: Duration) -> Vec<String> {
    let ep = req.endpoint.label();
    let mut out = Vec::new();
    let Some(status) = o.status else {
        let e = o.error.as_deref().unwrap_or("?");
        if o.elapsed >= timeout || e.starts_with("timeout") {
            out.push(format!("{ep}: no answer within {} s", timeout.as_secs()));
        } else {
            let kind = e.split(':').next().unwrap_or("?");
            out.push(format!("{ep}: transport error ({kind})"));
        }
        return out;
    };
    if (500..=599).contains(&status) {
        match front_quirk(req) {
            Some(why) if !o.headers.contains_key("x-content-type-options") => {
                out.push(format!("{FRONT}{ep}: {status} for {why}"));
            }
            _ => out.push(format!("{ep}: {status}")),
        }
        return out;
    }
    if req.real_post && req.body.len() > MAX_BODY && status != 413 {
        out.push(format!(
            "{ep}: {status} for a body over 64 KiB (expected 413)"
        ));
    }
    if req.any_post && req.body.len() <= MAX_BODY && status == 413 {
        out.push(format!("{ep}: 413 for a body of at most 64 KiB"));
    }
    let ct = header(&o.headers, "content-type");
    let head = req.method == "HEAD";
    // SPEC, Browser clients: never credentials; no CORS at all on the browser
    // endpoints (the local stack behaves as a deployed one).
    if o.headers.contains_key("access-control-allow-credentials") {
        out.push(format!("{ep}: Access-Control-Allow-Credentials sent"));
    }
    if req.endpoint.is_html()
        && o.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-"))
    {
        out.push(format!("{ep}: CORS headers on a browser endpoint"));
    }
    out.extend(check_allow_origin(req, o));
    if !head {
        out.extend(check_answer_shape(req, status, o));
    }
    // Error answers of the JSON endpoints.
    if status >= 400 && !req.endpoint.is_html() && !head {
        if !is_json_ct(ct) {
            out.push(format!(
                "{ep}: {status} error is not application/json (content-type {ct:?})"
            ));
        } else {
            match serde_json::from_slice::<Value>(&o.body) {
                Err(_) => out.push(format!("{ep}: {status} error body is not JSON")),
                Ok(v) => out.extend(check_error_json(req.endpoint, status, &v)),
            }
        }
    }
    // Error pages of the browser endpoints.
    if status >= 400 && req.endpoint.is_html() && !is_html_ct(ct) {
        out.push(format!(
            "{ep}: {status} error is not text/html (content-type {ct:?})"
        ));
    }
    let page_method = matches!(req.method.as_str(), "GET" | "POST");
    if (200..300).contains(&status) && req.endpoint.is_html() && page_method && !is_html_ct(ct) {
        out.push(format!("{ep}: {status} page is not text/html ({ct:?})"));
    }
    // Error redirects of authorize and callback.
    if (300..400).contains(&status) {
        let loc = header(&o.headers, "location");
        if loc.is_empty() {
            out.push(format!("{ep}: {status} without Location"));
        } else if let Ok(u) = url::Url::parse(loc) {
            let raw = u.fragment().or(u.query()).unwrap_or("");
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect();
            if let Some((_, e)) = pairs.iter().find(|(k, _)| k == "error") {
                if !AUTHZ_ERRORS.contains(&e.as_str()) {
                    out.push(format!("{ep}: redirect with error={e}"));
                }
                if let Some((_, d)) = pairs.iter().find(|(k, _)| k == "error_description")
                    && !description_ok(d)
                {
                    out.push(format!(
                        "{ep}: redirect error_description has characters outside RFC 6749 §5.2"
                    ));
                }
            }
        } else {
            out.push(format!("{ep}: {status} Location is not a URL"));
        }
    }
    out
}

/// The request's header `name` (the last one set).
fn request_header<'a>(req: &'a FuzzRequest, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// `Access-Control-Allow-Origin`: `*` only on discovery; anywhere else only
/// the request's own `Origin`, and only an origin registered for a client.
fn check_allow_origin(req: &FuzzRequest, o: &Outcome) -> Vec<String> {
    let ep = req.endpoint.label();
    let mut out = Vec::new();
    let Some(acao) = o.headers.get("access-control-allow-origin") else {
        return out;
    };
    let acao = acao.as_bytes();
    if req.endpoint == Endpoint::Discovery {
        if acao != b"*" {
            out.push(format!(
                "{ep}: Access-Control-Allow-Origin other than * on discovery"
            ));
        }
        return out;
    }
    if acao == b"*" {
        out.push(format!(
            "{ep}: Access-Control-Allow-Origin * on a client endpoint"
        ));
    } else if request_header(req, "origin") != Some(acao) {
        out.push(format!(
            "{ep}: Access-Control-Allow-Origin is not the request's Origin"
        ));
    } else if !REGISTERED_ORIGINS.iter().any(|r| r.as_bytes() == acao) {
        out.push(format!(
            "{ep}: Access-Control-Allow-Origin for an origin no client registered"
        ));
    }
    if req.method == "OPTIONS" && !o.headers.contains_key("access-control-allow-methods") {
        out.push(format!(
            "{ep}: preflight allows an origin without Access-Control-Allow-Methods"
        ));
    }
    out
}

/// RFC 7662 and RFC 7009 answers, RFC 6750 §3 and RFC 6749 §5.2 challenges.
fn check_answer_shape(req: &FuzzRequest, status: u16, o: &Outcome) -> Vec<String> {
    let ep = req.endpoint.label();
    let mut out = Vec::new();
    let post = req.method == "POST";
    let json = || serde_json::from_slice::<Value>(&o.body).ok();
    match req.endpoint {
        Endpoint::Introspect if status == 200 && post => {
            if header(&o.headers, "cache-control") != "no-store" {
                out.push(format!("{ep}: 200 without Cache-Control: no-store"));
            }
            match json().as_ref().map(|v| (v, v.get("active"))) {
                Some((v, Some(Value::Bool(false)))) => {
                    if v != &serde_json::json!({"active": false}) {
                        out.push(format!(
                            "{ep}: inactive answer is more than {{\"active\": false}}"
                        ));
                    }
                }
                Some((v, Some(Value::Bool(true)))) => {
                    for f in [
                        "iss",
                        "sub",
                        "aud",
                        "client_id",
                        "scope",
                        "exp",
                        "iat",
                        "jti",
                    ] {
                        if v.get(f).is_none() {
                            out.push(format!("{ep}: active answer without {f}"));
                        }
                    }
                    let tt = v.get("token_type").and_then(Value::as_str);
                    if !matches!(tt, Some("Bearer" | "refresh_token")) {
                        out.push(format!("{ep}: active answer with token_type {tt:?}"));
                    }
                }
                _ => out.push(format!("{ep}: 200 without a boolean `active`")),
            }
        }
        Endpoint::Revoke if status == 200 && post && !o.body.is_empty() => {
            out.push(format!("{ep}: 200 with a body (RFC 7009: empty)"));
        }
        Endpoint::Userinfo
            if status == 200
                && matches!(req.method.as_str(), "GET" | "POST")
                && !json().is_some_and(|v| v.get("sub").is_some_and(Value::is_string)) =>
        {
            out.push(format!("{ep}: 200 without a JSON `sub`"));
        }
        Endpoint::Connections
            if status == 200
                && req.method == "GET"
                && !json().is_some_and(|v| v.get("items").is_some_and(Value::is_array)) =>
        {
            out.push(format!("{ep}: 200 without a JSON `items` array"));
        }
        Endpoint::Connections if status == 204 && !o.body.is_empty() => {
            out.push(format!("{ep}: 204 with a body"));
        }
        Endpoint::Userinfo | Endpoint::Connections if status == 401 || status == 403 => {
            let c = header(&o.headers, "www-authenticate").to_ascii_lowercase();
            if !c.starts_with("bearer") {
                out.push(format!("{ep}: {status} without a Bearer challenge"));
            } else if status == 403 && !c.contains("insufficient_scope") {
                out.push(format!("{ep}: 403 challenge without insufficient_scope"));
            }
        }
        _ => {}
    }
    // RFC 6749 §5.2: a 401 after Basic authentication carries a challenge.
    let basic = request_header(req, "authorization")
        .is_some_and(|a| a.len() >= 6 && a[..6].eq_ignore_ascii_case(b"basic "));
    if status == 401
        && basic
        && matches!(
            req.endpoint,
            Endpoint::Token | Endpoint::Refresh | Endpoint::Introspect | Endpoint::Revoke
        )
        && !o.headers.contains_key("www-authenticate")
    {
        out.push(format!("{ep}: 401 after Basic without WWW-Authenticate"));
    }
    out
}

fn check_error_json(ep: Endpoint, status: u16, v: &Value) -> Vec<String> {
    let f = ep.label();
    let mut out = Vec::new();
    if ep == Endpoint::ChangePassword && v.get("error").is_none() {
        // Profix shape.
        let ok = v.get("success") == Some(&Value::Bool(false))
            && v.get("message").is_some_and(Value::is_string);
        if !ok {
            out.push(format!(
                "{f}: {status} body is neither {{success:false,message}} nor an OAuth error"
            ));
        }
        return out;
    }
    match v.get("error").and_then(Value::as_str) {
        None => out.push(format!("{f}: {status} error JSON without a string `error`")),
        Some(e) if !TOKEN_ERRORS.contains(&e) => {
            out.push(format!(
                "{f}: {status} error={e} (not an RFC 6749/6750 code)"
            ));
        }
        Some(_) => {}
    }
    match v.get("error_description") {
        None => {}
        Some(Value::String(d)) if description_ok(d) => {}
        Some(Value::String(_)) => out.push(format!(
            "{f}: {status} error_description has characters outside RFC 6749 §5.2"
        )),
        Some(_) => out.push(format!("{f}: {status} error_description is not a string")),
    }
    out
}

pub(super) fn extract_tx(html: &str) -> Option<String> {
    let marker = "name=\"tx\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

pub(super) fn location_param(o: &Outcome, k: &str) -> Option<String> {
    let u = url::Url::parse(header(&o.headers, "location")).ok()?;
    u.query_pairs()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.into_owned())
}
