//! The [`UpstreamHttp`] adapter: reqwest (rustls) through the stack's
//! outbound client (`store::outbound`: resolved addresses checked, no proxy,
//! no redirects), with the upstream call's own timeout
//! ([`UPSTREAM_CALL`]) and a bounded body.
//!
//! Whether a request that failed may have reached the provider decides what a
//! refresh does next (a single-use refresh token may have been consumed):
//! only a refusal by the policy, a request that could not be built or a
//! failed connect are [`CallError::NotSent`]; every other failure (a
//! timeout, a connection lost after the request went out, a body too large)
//! is [`CallError::Lost`].

use crate::domain::outbound::OutboundPolicy;
use crate::domain::providers::engine::{Call, CallError, HttpAnswer, MAX_ANSWER};
use crate::domain::upstream_refresh::UPSTREAM_CALL;
use crate::ports::{BoxFuture, UpstreamHttp};
use crate::store::outbound::{self, Refused};
use secrecy::ExposeSecret;
use std::sync::{Arc, OnceLock};

/// The longest `Retry-After` believed (an hour).
const MAX_RETRY_AFTER: u64 = 3600;

pub struct ReqwestUpstream {
    policy: OutboundPolicy,
    lookup: Arc<dyn reqwest::dns::Resolve>,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl ReqwestUpstream {
    pub fn new(policy: OutboundPolicy) -> ReqwestUpstream {
        ReqwestUpstream::resolving_with(policy, Arc::new(outbound::SystemResolver))
    }

    /// Names resolved by `lookup` (tests).
    pub fn resolving_with(
        policy: OutboundPolicy,
        lookup: Arc<dyn reqwest::dns::Resolve>,
    ) -> ReqwestUpstream {
        ReqwestUpstream {
            policy,
            lookup,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, CallError> {
        self.client
            .get_or_init(|| {
                outbound::client_timed(self.policy, self.lookup.clone(), UPSTREAM_CALL)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| CallError::NotSent(format!("HTTP client unavailable: {e}")))
    }

    async fn send(&self, call: &Call) -> Result<HttpAnswer, CallError> {
        let url = self
            .policy
            .check_url(&call.url)
            .map_err(|r| CallError::NotSent(format!("refused: {r}")))?;
        let client = self.client()?;
        let mut req = client
            .post(url)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(call.form.encode());
        if let Some((user, pass)) = &call.basic {
            req = req.basic_auth(user, Some(pass.expose_secret()));
        }
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s.min(MAX_RETRY_AFTER));
        let body = read_limited(resp).await?;
        Ok(HttpAnswer {
            status,
            body,
            retry_after,
        })
    }
}

/// A failed send: unsent only when it never connected (or the policy
/// refused the address); anything else may have reached the provider.
fn classify(e: reqwest::Error) -> CallError {
    let what = outbound::describe_error(&e);
    let refused = {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut found = false;
        while let Some(s) = source {
            if s.downcast_ref::<Refused>().is_some() {
                found = true;
            }
            source = s.source();
        }
        found
    };
    if refused || e.is_builder() || (e.is_connect() && !e.is_timeout()) {
        CallError::NotSent(what)
    } else {
        CallError::Lost(what)
    }
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    let too_large = || CallError::Lost(format!("answer larger than {} KiB", MAX_ANSWER / 1024));
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| CallError::Lost(outbound::describe_error(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl UpstreamHttp for ReqwestUpstream {
    fn prepare(&self) {
        let _ = self.client();
    }

    fn post<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Result<HttpAnswer, CallError>> {
        Box::pin(self.send(call))
    }
}
