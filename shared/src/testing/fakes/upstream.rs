//! A scripted upstream provider for domain tests: every [`Call`] the engine
//! makes is recorded (grant type and the token it carried) and answered by
//! a model of a provider with single-use, rotating refresh tokens and reuse
//! detection (Maximizer, Profix: any double use kills the grant), or by a
//! fault chosen by the test (lost answer after rotating, 5xx, 429, …).
//! Real servers are exercised by the integration tests.

use crate::domain::providers::engine::{Call, CallError, HttpAnswer};
use crate::ports::{BoxFuture, UpstreamHttp};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// What the next call meets instead of the model's answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The provider does its work (rotates) and the answer is lost.
    LoseAnswerAfterRotating,
    /// The answer is lost before the provider did anything.
    LoseAnswer,
    /// Nothing reaches the provider.
    NotSent,
    /// This status and body, the model untouched.
    Answer(u16, String, Option<u64>),
}

#[derive(Debug, Default)]
struct Model {
    /// The live refresh token (single use).
    current: Option<String>,
    /// Tokens already used: presenting one again kills the grant.
    used: Vec<String>,
    dead: bool,
    serial: u64,
    /// Answer without a refresh token (no rotation).
    keep_refresh_token: bool,
    expires_in: Option<serde_json::Value>,
    faults: VecDeque<Fault>,
    /// (grant_type, refresh_token or code) of every call.
    calls: Vec<(String, Option<String>)>,
    /// Every call as sent: URL, form fields, whether it carried Basic.
    posts: Vec<Posted>,
    delay: Option<Duration>,
    /// The `id_token` a code exchange answers with (an OpenID provider).
    id_token: Option<String>,
    /// The `id_token` for one code (concurrent sign-ins), before `id_token`.
    id_tokens: std::collections::HashMap<String, String>,
}

/// One call as the fake received it (tests assert what was sent where).
#[derive(Debug, Clone)]
pub struct Posted {
    pub url: String,
    pub form: Vec<(String, String)>,
    pub basic: bool,
    /// The HTTP Basic credentials (id, secret) as sent (form-urlencoded).
    pub basic_auth: Option<(String, String)>,
}

impl Posted {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The fake provider.
#[derive(Default)]
pub struct FakeUpstream {
    model: Mutex<Model>,
}

impl FakeUpstream {
    pub fn new() -> FakeUpstream {
        FakeUpstream::default()
    }

    fn m(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues a first grant (as a code redemption would) and returns its
    /// refresh token.
    pub fn grant(&self) -> String {
        let mut m = self.m();
        m.serial += 1;
        m.dead = false;
        let rt = format!("rt-{}", m.serial);
        m.current = Some(rt.clone());
        rt
    }

    pub fn push_fault(&self, f: Fault) {
        self.m().faults.push_back(f);
    }

    /// Code exchanges answer with this `id_token` (federated sign-in).
    pub fn set_id_token(&self, t: Option<String>) {
        self.m().id_token = t;
    }

    /// The exchange of `code` answers with this `id_token`.
    pub fn set_id_token_for(&self, code: &str, t: String) {
        self.m().id_tokens.insert(code.to_owned(), t);
    }

    pub fn set_delay(&self, d: Option<Duration>) {
        self.m().delay = d;
    }

    pub fn keep_refresh_token(&self, keep: bool) {
        self.m().keep_refresh_token = keep;
    }

    pub fn set_expires_in(&self, v: Option<serde_json::Value>) {
        self.m().expires_in = v;
    }

    /// Refresh grants received so far.
    pub fn refreshes(&self) -> usize {
        self.m()
            .calls
            .iter()
            .filter(|(g, _)| g == "refresh_token")
            .count()
    }

    pub fn calls(&self) -> Vec<(String, Option<String>)> {
        self.m().calls.clone()
    }

    /// Every call received, in order, with its URL and form.
    pub fn posts(&self) -> Vec<Posted> {
        self.m().posts.clone()
    }

    /// Whether reuse detection killed the grant.
    pub fn is_dead(&self) -> bool {
        self.m().dead
    }

    pub fn current_refresh_token(&self) -> Option<String> {
        self.m().current.clone()
    }

    fn answer(&self, call: &Call) -> Result<HttpAnswer, CallError> {
        let mut m = self.m();
        let grant = call.form.get("grant_type").unwrap_or("").to_owned();
        let token = call
            .form
            .get("refresh_token")
            .or(call.form.get("code"))
            .or(call.form.get("token"))
            .map(str::to_owned);
        m.calls.push((grant.clone(), token.clone()));
        m.posts.push(Posted {
            url: call.url.clone(),
            form: call
                .form
                .pairs()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            basic: call.basic.is_some(),
            basic_auth: call.basic.as_ref().map(|(u, p)| {
                (
                    u.clone(),
                    secrecy::ExposeSecret::expose_secret(p).to_owned(),
                )
            }),
        });
        let fault = m.faults.pop_front();
        if let Some(Fault::LoseAnswer) = fault {
            return Err(CallError::Lost("connection reset".into()));
        }
        if let Some(Fault::NotSent) = fault {
            return Err(CallError::NotSent("connect refused".into()));
        }
        if let Some(Fault::Answer(status, body, retry_after)) = fault {
            return Ok(HttpAnswer {
                status,
                body: body.into_bytes(),
                retry_after,
            });
        }
        let ok = |m: &mut Model, rotated: Option<String>| {
            m.serial += 1;
            let mut body = serde_json::json!({
                "access_token": format!("at-{}", m.serial),
                "token_type": "Bearer",
            });
            if let Some(e) = &m.expires_in {
                body["expires_in"] = e.clone();
            } else {
                body["expires_in"] = 600.into();
            }
            if let Some(rt) = rotated {
                body["refresh_token"] = rt.into();
            }
            HttpAnswer {
                status: 200,
                body: body.to_string().into_bytes(),
                retry_after: None,
            }
        };
        let invalid_grant = || HttpAnswer {
            status: 400,
            body: br#"{"error":"invalid_grant"}"#.to_vec(),
            retry_after: None,
        };
        let answer = match grant.as_str() {
            "refresh_token" => {
                let presented = token.unwrap_or_default();
                if m.dead || m.current.as_deref() != Some(presented.as_str()) {
                    if m.used.contains(&presented) {
                        // Reuse detection: the whole grant dies.
                        m.dead = true;
                        m.current = None;
                    }
                    invalid_grant()
                } else if m.keep_refresh_token {
                    ok(&mut m, None)
                } else {
                    m.used.push(presented);
                    m.serial += 1;
                    let next = format!("rt-{}", m.serial);
                    m.current = Some(next.clone());
                    ok(&mut m, Some(next))
                }
            }
            "client_credentials" => ok(&mut m, None),
            // RFC 7009 revocation: the live refresh token dies (200 whatever
            // the token was, §2.2).
            "" if call.form.get("token").is_some() => {
                if m.current.is_some() && m.current == token {
                    m.current = None;
                    m.dead = true;
                }
                HttpAnswer {
                    status: 200,
                    body: Vec::new(),
                    retry_after: None,
                }
            }
            "password" | "authorization_code" => {
                m.serial += 1;
                let rt = format!("rt-{}", m.serial);
                m.current = Some(rt.clone());
                m.dead = false;
                let mut a = ok(&mut m, Some(rt));
                let by_code = token.as_ref().and_then(|c| m.id_tokens.get(c)).cloned();
                if let (true, Some(t)) = (
                    grant == "authorization_code",
                    by_code.or(m.id_token.clone()),
                ) {
                    let mut body: serde_json::Value =
                        serde_json::from_slice(&a.body).unwrap_or_default();
                    body["id_token"] = t.clone().into();
                    a.body = body.to_string().into_bytes();
                }
                a
            }
            _ => invalid_grant(),
        };
        if let Some(Fault::LoseAnswerAfterRotating) = fault {
            return Err(CallError::Lost("timeout".into()));
        }
        Ok(answer)
    }
}

impl UpstreamHttp for FakeUpstream {
    fn post<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Result<HttpAnswer, CallError>> {
        Box::pin(async move {
            let delay = self.m().delay;
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            self.answer(call)
        })
    }
}
