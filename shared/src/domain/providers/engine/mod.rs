//! The one generic engine every provider goes through (SPEC: Upstream
//! providers; research §1.6): the requests Tollgate sends to a provider,
//! built only from the provider's [`Quirks`], and the provider's answers,
//! read leniently but never trusted. No branch here names a provider.
//!
//! Nothing in this file sends anything: a [`Call`] is handed to the
//! `UpstreamHttp` port, and what came back ([`HttpAnswer`]) is judged here
//! ([`read_token_answer`]). Every value a call carries (codes, tokens,
//! passwords, the client secret) is kept out of `Debug`.

use super::{ClientAuth, Provider, Quirks, StateCharset};
use crate::crypto::{b64url, random_alphanumeric, random_token, sha256};
use secrecy::{ExposeSecret, SecretString};

/// The longest answer body read from a provider's token endpoint.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The longest account label kept from a redirect.
pub const MAX_LABEL: usize = 200;

mod answer;
pub use answer::{
    MAX_MESSAGE, PasswordChange, account_label, code_ok, label_ok, read_password_change_answer,
    read_token_answer,
};

/// Tollgate's registration at the provider, as sent on one call.
pub struct UpstreamClient<'a> {
    pub id: &'a str,
    pub secret: Option<&'a SecretString>,
}

/// A form body. Its values are secrets or close to them: no `Debug` of them.
#[derive(Default)]
pub struct Form(Vec<(&'static str, String)>);

impl Form {
    pub fn push(&mut self, name: &'static str, value: impl Into<String>) {
        self.0.push((name, value.into()));
    }
    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.0
    }
    /// The `application/x-www-form-urlencoded` body.
    pub fn encode(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            s.append_pair(k, v);
        }
        s.finish()
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| *k))
            .finish()
    }
}

/// One POST to a provider: where, the form, and HTTP Basic credentials when
/// the call authenticates that way (RFC 6749 §2.3.1: both parts
/// form-urlencoded first).
pub struct Call {
    pub url: String,
    pub form: Form,
    pub basic: Option<(String, SecretString)>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("form", &self.form)
            .field("basic", &self.basic.is_some())
            .finish_non_exhaustive()
    }
}

/// What the provider answered, as the HTTP client read it (bounded).
#[derive(Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when it was a number.
    pub retry_after: Option<u64>,
}

impl std::fmt::Debug for HttpAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpAnswer({}, {} bytes)", self.status, self.body.len())
    }
}

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Nothing reached the provider (refused by the outbound policy, no
    /// connection): a refresh token sent this way is still unused.
    NotSent(String),
    /// The request may have reached the provider but no answer came back
    /// (timeout, connection lost, body too large): a single-use refresh
    /// token may have been consumed (research §4.4).
    Lost(String),
}

/// A token answer the engine accepted. Holds tokens: no `Debug` of them.
pub struct TokenAnswer {
    pub access_token: SecretString,
    /// `None`: the provider did not rotate (keep the stored one).
    pub refresh_token: Option<SecretString>,
    /// Seconds, leniently read (a number, a string of digits, or the
    /// preset's default).
    pub expires_in: u64,
    pub scope: Option<String>,
    pub id_token: Option<SecretString>,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a token answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The grant is dead (the preset's dead-grant errors): reconnect.
    Dead { reason: String },
    /// Down, slow, rate-limiting, misconfigured or answering garbage: try
    /// again later. `class` is a fixed word, never upstream text.
    Transient {
        class: &'static str,
        retry_after: Option<u64>,
    },
    /// The upstream account must change its password first (Profix
    /// `RequireChangePassword`); `user_id` is what its ChangePassword wants.
    PasswordChangeRequired { user_id: Option<String> },
}

impl Refusal {
    pub(crate) fn transient(class: &'static str) -> Refusal {
        Refusal::Transient {
            class,
            retry_after: None,
        }
    }
}

/// A fresh `state` for the provider's authorize leg, in the preset's
/// characters (Maximizer wants alphanumerics), 128 bits or more.
pub fn new_state(q: &Quirks) -> String {
    match q.state {
        StateCharset::Alphanumeric => random_alphanumeric(32),
        StateCharset::UrlSafe => random_token(24),
    }
}

/// A PKCE verifier (RFC 7636 §4.1: 43 to 128 unreserved characters) and its
/// S256 challenge.
pub fn new_pkce() -> (String, String) {
    let verifier = random_token(32);
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

pub fn pkce_challenge(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// Where the browser goes to connect: the provider's authorize URL with the
/// client, the redirect URI, the scopes, `state`, the PKCE challenge when the
/// preset uses PKCE, and the preset's extra parameters. `None`: the provider
/// has no browser leg.
pub fn authorize_url(
    p: &Provider,
    redirect_uri: &str,
    state: &str,
    pkce_challenge: Option<&str>,
) -> Option<String> {
    let q = p.quirks();
    let mut url = url::Url::parse(p.endpoints.authorize.as_deref()?).ok()?;
    {
        let mut qp = url.query_pairs_mut();
        if q.send_response_type {
            qp.append_pair("response_type", "code");
        }
        qp.append_pair("client_id", &p.client_id);
        qp.append_pair("redirect_uri", redirect_uri);
        let scopes = q.scopes(&p.scopes);
        if !scopes.is_empty() {
            qp.append_pair("scope", &scopes.join(q.scope_separator));
        }
        // OIDC Core §11: a request for `offline_access` carries
        // `prompt=consent`, or the provider may drop it (and issue no
        // refresh token).
        if q.id_token && scopes.iter().any(|s| s == "offline_access") {
            qp.append_pair("prompt", "consent");
        }
        qp.append_pair("state", state);
        if q.pkce
            && let Some(c) = pkce_challenge
        {
            qp.append_pair("code_challenge", c);
            qp.append_pair("code_challenge_method", "S256");
        }
        for (k, v) in q.extra_authorize_params {
            qp.append_pair(k, v);
        }
    }
    Some(url.into())
}

fn authenticate(
    auth: ClientAuth,
    client: &UpstreamClient<'_>,
    form: &mut Form,
) -> Option<(String, SecretString)> {
    match (auth, client.secret) {
        (ClientAuth::Basic, Some(secret)) => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            Some((
                enc(client.id),
                SecretString::from(enc(secret.expose_secret())),
            ))
        }
        (ClientAuth::Body, Some(secret)) => {
            form.push("client_id", client.id);
            form.push("client_secret", secret.expose_secret());
            None
        }
        // A public client, or a preset that sends no secret.
        _ => {
            form.push("client_id", client.id);
            None
        }
    }
}

fn extra(form: &mut Form, params: &[(&'static str, &'static str)]) {
    for (k, v) in params {
        form.push(k, *v);
    }
}

/// Redeems an authorization code.
pub fn code_call(
    p: &Provider,
    client: &UpstreamClient<'_>,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&str>,
) -> Call {
    let q = p.quirks();
    let mut form = Form::default();
    form.push("grant_type", "authorization_code");
    form.push("code", code);
    if q.code_sends_redirect_uri {
        form.push("redirect_uri", redirect_uri);
    }
    if q.pkce
        && let Some(v) = pkce_verifier
    {
        form.push("code_verifier", v);
    }
    extra(&mut form, q.extra_token_params);
    let basic = authenticate(q.token_auth, client, &mut form);
    Call {
        url: p.endpoints.token.clone(),
        form,
        basic,
    }
}

/// Refreshes with the stored refresh token (at `--refresh-url` when given).
pub fn refresh_call(
    p: &Provider,
    client: &UpstreamClient<'_>,
    refresh_token: &SecretString,
    redirect_uri: &str,
) -> Call {
    let q = p.quirks();
    let mut form = Form::default();
    form.push("grant_type", "refresh_token");
    form.push("refresh_token", refresh_token.expose_secret());
    if q.refresh_sends_redirect_uri {
        form.push("redirect_uri", redirect_uri);
    }
    extra(&mut form, q.extra_refresh_params);
    let basic = authenticate(q.refresh_auth, client, &mut form);
    Call {
        url: p.endpoints.refresh_url().to_owned(),
        form,
        basic,
    }
}

/// The password grant of a service connection.
pub fn password_call(
    p: &Provider,
    client: &UpstreamClient<'_>,
    username: &str,
    password: &SecretString,
) -> Call {
    let q = p.quirks();
    let mut form = Form::default();
    form.push("grant_type", "password");
    form.push("username", username);
    form.push("password", password.expose_secret());
    push_scope(p, &mut form);
    extra(&mut form, q.extra_token_params);
    let basic = authenticate(q.token_auth, client, &mut form);
    Call {
        url: p.endpoints.token.clone(),
        form,
        basic,
    }
}

/// The client credentials grant of a service connection (also how one is
/// "refreshed": there is no refresh token).
pub fn client_credentials_call(p: &Provider, client: &UpstreamClient<'_>) -> Call {
    let q = p.quirks();
    let mut form = Form::default();
    form.push("grant_type", "client_credentials");
    push_scope(p, &mut form);
    extra(&mut form, q.extra_token_params);
    let basic = authenticate(q.token_auth, client, &mut form);
    Call {
        url: p.endpoints.token.clone(),
        form,
        basic,
    }
}

fn push_scope(p: &Provider, form: &mut Form) {
    let q = p.quirks();
    let scopes = q.scopes(&p.scopes);
    if !scopes.is_empty() {
        form.push("scope", scopes.join(q.scope_separator));
    }
}

/// Profix's ChangePassword step (the seed: `userid`, `password`,
/// `newpassword` with the client's credentials in the body).
pub fn password_change_call(
    p: &Provider,
    client: &UpstreamClient<'_>,
    user_id: &str,
    old: &SecretString,
    new: &SecretString,
) -> Option<Call> {
    let url = p.endpoints.password_change.clone()?;
    let mut form = Form::default();
    let basic = authenticate(ClientAuth::Body, client, &mut form);
    form.push("userid", user_id);
    form.push("password", old.expose_secret());
    form.push("newpassword", new.expose_secret());
    Some(Call { url, form, basic })
}

/// RFC 7009 revocation of a refresh token, when the provider has an endpoint.
pub fn revocation_call(
    p: &Provider,
    client: &UpstreamClient<'_>,
    refresh_token: &SecretString,
) -> Option<Call> {
    let url = p.endpoints.revocation.clone()?;
    let mut form = Form::default();
    form.push("token", refresh_token.expose_secret());
    form.push("token_type_hint", "refresh_token");
    let basic = authenticate(p.quirks().token_auth, client, &mut form);
    Some(Call { url, form, basic })
}

#[cfg(test)]
mod tests;
