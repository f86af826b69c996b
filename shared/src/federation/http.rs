//! Fetching an issuer's discovery document and JWKS with reqwest (rustls):
//! HTTPS only (plain HTTP for loopback, for local issuers and tests), no
//! redirects, no credentials in the URL, short timeouts and a size limit, so
//! a slow, huge or hostile issuer costs a bounded amount of time and memory.

use crate::ports::FetchError;
use crate::ports::{BoxFuture, JsonFetcher};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// Largest document accepted (a JWKS of a few keys is ~2–5 KiB).
pub const MAX_DOCUMENT: usize = 256 * 1024;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The whole request, body included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether Tollgate may fetch this URL: `https`, or `http` to a loopback
/// host; never with user info. The URL is parsed once, here.
pub fn allowed_url(raw: &str) -> Result<url::Url, FetchError> {
    let url = url::Url::parse(raw).map_err(|_| FetchError("not a URL".into()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError("credentials in the URL".into()));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(FetchError(
            "only https (or http to a loopback host) may be fetched".into(),
        )),
    }
}

/// Whether a URL an issuer's discovery document names (its `jwks_uri`) may
/// be fetched: an issuer the operator configured on a public host cannot
/// point Tollgate at loopback (the Lambda Runtime API), link-local (instance
/// metadata) or private addresses, nor downgrade to http. A loopback issuer
/// (local stacks, tests) may name loopback URLs.
pub fn allowed_discovered(raw: &str, issuer: &str) -> Result<url::Url, FetchError> {
    let url = allowed_url(raw)?;
    let issuer_is_loopback = allowed_url(issuer)
        .map(|u| u.scheme() == "http" || is_internal_host(&u))
        .unwrap_or(false);
    if issuer_is_loopback {
        return Ok(url);
    }
    if url.scheme() != "https" || is_internal_host(&url) {
        return Err(FetchError(
            "the discovery document names a jwks_uri on an internal address".into(),
        ));
    }
    Ok(url)
}

/// Loopback, private, link-local or unspecified IP literals, and `localhost`.
fn is_internal_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => true,
    }
}

/// The reqwest client, built on first use (only the token function ever
/// fetches; `prepare` builds it in init there).
#[derive(Default)]
pub struct ReqwestFetcher {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl ReqwestFetcher {
    pub fn new() -> ReqwestFetcher {
        ReqwestFetcher::default()
    }

    /// Builds the client now (TLS configuration and trust store): for a
    /// function's init phase, which runs with a full CPU.
    pub fn prepare(&self) {
        let _ = self.client();
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(TOTAL_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent("tollgate")
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| FetchError(format!("HTTP client unavailable: {e}")))
    }

    async fn fetch(&self, raw: &str) -> Result<Value, FetchError> {
        let url = allowed_url(raw)?;
        let client = self.client()?;
        let mut resp = client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError(format!("request failed: {}", without_url(&e))))?;
        if !resp.status().is_success() {
            return Err(FetchError(format!(
                "answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(FetchError("document too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError(format!("reading failed: {}", without_url(&e))))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(FetchError("document too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| FetchError("not a JSON document".into()))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "transport error"
    };
    kind.to_owned()
}

impl JsonFetcher for ReqwestFetcher {
    fn prepare(&self) {
        ReqwestFetcher::prepare(self);
    }

    fn get_json<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Value, FetchError>> {
        Box::pin(self.fetch(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_issuers_discovery_cannot_point_inside() {
        let iss = "https://idp.example";
        assert!(allowed_discovered("https://idp.example/keys", iss).is_ok());
        assert!(allowed_discovered("https://keys.other.example/jwks", iss).is_ok());
        for bad in [
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            "https://127.0.0.1/jwks",
            "https://10.0.0.5/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/jwks",
            "https://localhost/jwks",
            "http://idp.example/jwks",
        ] {
            assert!(allowed_discovered(bad, iss).is_err(), "{bad}");
        }
        // A loopback issuer (a local stack) may use loopback URLs.
        assert!(allowed_discovered("http://127.0.0.1:4000/jwks", "http://127.0.0.1:4000").is_ok());
    }

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        assert!(allowed_url("https://idp.example/.well-known/openid-configuration").is_ok());
        assert!(allowed_url("http://127.0.0.1:4000/jwks").is_ok());
        assert!(allowed_url("http://[::1]:4000/jwks").is_ok());
        assert!(allowed_url("http://localhost:4000/jwks").is_ok());
        assert!(allowed_url("http://idp.example/jwks").is_err());
        assert!(allowed_url("http://169.254.169.254/latest/meta-data").is_err());
        assert!(allowed_url("file:///etc/passwd").is_err());
        assert!(allowed_url("https://user:pw@idp.example/jwks").is_err());
        assert!(allowed_url("not a url").is_err());
    }
}
