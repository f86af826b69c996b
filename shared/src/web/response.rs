//! Every HTTP response Tollgate sends is built here: JSON, pages (with
//! their security headers), redirects, and the URL encoding of redirect
//! parameters. `web::respond` chooses which, per outcome.

use lambda_http::Body;
use lambda_http::http::{HeaderValue, StatusCode, header};

pub type Response = lambda_http::Response<Body>;

fn base(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = lambda_http::Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// JSON with `Cache-Control: no-store` (RFC 6749 §5.1).
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    base(status, "application/json", Body::Text(body.to_string()))
}

/// Cacheable public JSON (metadata, JWKS).
pub fn public_json(body: &serde_json::Value, max_age: u32) -> Response {
    let mut r = json_response(StatusCode::OK, body);
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r.headers_mut().remove(header::PRAGMA);
    r.headers_mut()
        .insert("access-control-allow-origin", HeaderValue::from_static("*"));
    r
}

/// Server-rendered HTML with the anti-framing and no-referrer headers.
pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = base(status, "text/html; charset=utf-8", Body::Text(html));
    let h = r.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// The login page's referrer policy: the browser sends the page's origin (never
/// its path or query) with the form post, so the callback can tell its own form
/// from a cross-site one. `no-referrer` would make browsers send `Origin: null`.
pub const LOGIN_REFERRER_POLICY: &str = "strict-origin";

/// The login + consent page: [`html_response`] with [`LOGIN_REFERRER_POLICY`].
pub fn login_page_response(status: StatusCode, html: String) -> Response {
    let mut r = html_response(status, html);
    r.headers_mut().insert(
        "referrer-policy",
        HeaderValue::from_static(LOGIN_REFERRER_POLICY),
    );
    r
}

/// A 303 (after a form POST) or 302 (after a GET) to `location`.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut r = base(status, "text/plain; charset=utf-8", Body::Empty);
    match HeaderValue::from_str(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r.headers_mut()
                .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
            r
        }
        Err(_) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "server_error"}),
        ),
    }
}

pub fn not_found_json() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "invalid_request", "error_description": "no such route or tenant"}),
    )
}

pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({"error": "invalid_request", "error_description": "method not allowed"}),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// 405 for the pages (authorize, callback): an HTML error page with `Allow`.
pub fn method_not_allowed_page(allow: &'static str, lang: crate::web::i18n::Lang) -> Response {
    use crate::web::i18n::Key;
    let mut r = html_response(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::web::html::error_page(
            lang,
            Key::MethodNotAllowedTitle,
            Key::MethodNotAllowedMsg,
            None,
        ),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Percent-encodes everything outside RFC 3986 unreserved (spaces as `%20`).
pub fn pct(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SET).to_string()
}

/// `k=v&k=v` with `%20`-style encoding.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Appends parameters to a redirect URI's query (or fragment), keeping any
/// query the registered URI already has.
pub fn append_params(uri: &str, pairs: &[(&str, &str)], fragment: bool) -> String {
    let encoded = encode_pairs(pairs);
    if fragment {
        let base = uri.split('#').next().unwrap_or(uri);
        return format!("{base}#{encoded}");
    }
    let (base, frag) = match uri.split_once('#') {
        Some((b, _)) => (b, ""),
        None => (uri, ""),
    };
    let sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    format!("{base}{sep}{encoded}{frag}")
}
