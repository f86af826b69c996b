//! Request parsing at the edge: routes, form and query parameters with their
//! limits, the caller's source address, and the client credentials.

use crate::ids::TenantId;
use crate::oauth::client_auth::ClientCredentials;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::{Body, Request};
use std::collections::{HashMap, HashSet};

/// One path segment of a route.
#[derive(Debug, Clone, Copy)]
pub enum Seg {
    /// A fixed segment, matched without regard to case.
    Lit(&'static str),
    /// The tenant alias.
    Tenant,
}

/// `/oauth2/{tenant}/upstream/{provider}/{last}` (fixed segments in any
/// case; the provider segment must be a provider name): the connect and
/// sign-in routes of the callback function.
pub fn upstream_route(
    path: &str,
    last: &'static str,
) -> Option<(TenantId, crate::ids::ProviderName)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segs: Vec<&str> = trimmed.split('/').collect();
    let [oauth2, tenant, upstream, provider, tail] = segs.as_slice() else {
        return None;
    };
    let tenant = match_route(
        &format!("/{oauth2}/{tenant}/{upstream}/{tail}"),
        &[
            Seg::Lit("oauth2"),
            Seg::Tenant,
            Seg::Lit("upstream"),
            Seg::Lit(last),
        ],
    )?;
    Some((tenant, crate::ids::ProviderName::parse(provider).ok()?))
}

/// Matches `path` against a route; returns the parsed tenant. One trailing
/// slash is tolerated. A tenant segment that is not a valid alias does not match.
pub fn match_route(path: &str, route: &[Seg]) -> Option<TenantId> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    if segs.len() != route.len() {
        return None;
    }
    let mut tenant = None;
    for (s, r) in segs.iter().zip(route) {
        match r {
            Seg::Lit(l) if s.eq_ignore_ascii_case(l) => {}
            Seg::Lit(_) => return None,
            Seg::Tenant => tenant = Some(TenantId::parse(s).ok()?),
        }
    }
    tenant
}

/// `/oauth2/{tenant}/{tail...}`.
pub fn tenant_route(path: &str, tail: &[&'static str]) -> Option<TenantId> {
    let mut route = vec![Seg::Lit("oauth2"), Seg::Tenant];
    route.extend(tail.iter().map(|t| Seg::Lit(t)));
    match_route(path, &route)
}

/// The largest request body (or authorize query string) Tollgate reads.
pub const MAX_BODY: usize = 64 * 1024;

/// The longest value each known parameter may have, in bytes. Every value is
/// bounded: a parameter not named here gets [`DEFAULT_MAX_LEN`]; a grant's
/// token only by the body (see `oauth::grants::max_grant_token_len`).
pub fn max_len(field: &str) -> usize {
    if crate::oauth::grants::max_grant_token_len(field).is_some() {
        return MAX_BODY;
    }
    match field {
        "client_id" | "userid" | "username" | "login_hint" => 256,
        "client_secret" => 256,
        "password" | "newpassword" => 1024,
        "redirect_uri" => crate::domain::redirect::MAX_LEN,
        // What real clients send (SPEC: Bad input).
        "state" | "nonce" => 4096,
        "scope" => crate::domain::scope::MAX_LEN,
        "code_verifier" | "code_challenge" => 256,
        "token" | "actor_token" | "access_token" => 8192,
        "tx" => crate::domain::login_tx::MAX_SEALED,
        "grant_type"
        | "response_type"
        | "code_challenge_method"
        | "decision"
        | "prompt"
        | "response_mode"
        | "token_type_hint"
        | "subject_token_type"
        | "actor_token_type"
        | "requested_token_type" => 128,
        _ => DEFAULT_MAX_LEN,
    }
}
pub const DEFAULT_MAX_LEN: usize = 4096;

/// Why a request's parameters could not be read. Always the client's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The body (or query) is over [`MAX_BODY`].
    TooLarge,
    /// A name or value is not UTF-8 once percent-decoded.
    NotUtf8,
    /// A parameter's value is over its [`max_len`].
    TooLong(String),
}

impl InputError {
    /// A description made only of RFC 6749 §5.2 characters.
    pub fn description(&self) -> String {
        match self {
            InputError::TooLarge => format!("the request is larger than {MAX_BODY} bytes"),
            InputError::NotUtf8 => "the request is not valid UTF-8".to_owned(),
            InputError::TooLong(f) => {
                crate::oauth::error::sanitize_description(&format!("{f} is too long"))
            }
        }
    }
}

/// Form or query parameters. Per RFC 6749 §3.1 a parameter sent without a value
/// is treated as omitted, and no parameter may appear more than once. Parsing
/// is linear in the input (one hash lookup per pair), whatever its shape.
#[derive(Default)]
pub struct Params {
    map: HashMap<String, String>,
    duplicates: Vec<String>,
    seen_twice: HashSet<String>,
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space,
/// `%XX` a byte; a malformed escape is kept literally, as browsers do).
fn decode_component(raw: &[u8]) -> Result<String, InputError> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i).copied().and_then(hex),
                raw.get(i + 1).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| InputError::NotUtf8)
}

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Params, InputError> {
        if raw.len() > MAX_BODY {
            return Err(InputError::TooLarge);
        }
        let mut p = Params::default();
        for pair in raw.split(|b| *b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let k = decode_component(k)?;
            let v = decode_component(v)?;
            if v.is_empty() {
                continue;
            }
            if v.len() > max_len(&k) {
                return Err(InputError::TooLong(k));
            }
            match p.map.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if p.seen_twice.insert(e.key().clone()) {
                        p.duplicates.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Ok(p)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }

    pub fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    pub fn is_duplicated(&self, k: &str) -> bool {
        self.seen_twice.contains(k)
    }

    /// Names that appeared more than once, in order of first repetition.
    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }
}

impl From<InputError> for crate::oauth::error::OAuthError {
    fn from(e: InputError) -> Self {
        crate::oauth::error::OAuthError {
            too_large: e == InputError::TooLarge,
            ..crate::oauth::error::OAuthError::invalid_request(e.description())
        }
    }
}

pub fn query_params(req: &Request) -> Result<Params, InputError> {
    Params::parse(req.uri().query().unwrap_or("").as_bytes())
}

/// The body, refused when over [`MAX_BODY`].
pub fn body_bytes(req: &Request) -> Result<&[u8], InputError> {
    let b: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if b.len() > MAX_BODY {
        return Err(InputError::TooLarge);
    }
    Ok(b)
}

/// Common request checks for the token-style endpoints: a form body, no
/// credentials in the query string, no repeated parameter.
pub fn form_params(req: &Request) -> Result<Params, crate::oauth::error::OAuthError> {
    use crate::oauth::error::OAuthError;
    let body = body_bytes(req)?;
    if !is_form(req) {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    let q = query_params(req)?;
    if [
        "client_secret",
        "password",
        "refresh_token",
        "code",
        "newpassword",
    ]
    .iter()
    .any(|k| q.has(k))
    {
        return Err(OAuthError::invalid_request(
            "credentials must not be sent in the query string",
        ));
    }
    let p = Params::parse(body)?;
    if let Some(d) = p.duplicates().first() {
        return Err(OAuthError::invalid_request(format!(
            "duplicate parameter: {d}"
        )));
    }
    Ok(p)
}

/// The caller's address as the function URL reports it
/// (`requestContext.http.sourceIp`), never a header a client could write.
pub fn source(req: &Request) -> crate::domain::throttling::Source {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
        _ => None,
    };
    crate::domain::throttling::Source::from_ip(ip)
}

pub fn header_str<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// True for `application/x-www-form-urlencoded` (parameters allowed).
pub fn is_form(req: &Request) -> bool {
    header_str(req, "content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Credentials from `Authorization: Basic` (RFC 6749 §2.3.1: both parts are
/// form-urlencoded before base64). `Err` for a malformed header.
/// The longest `Authorization: Basic` header read (id and secret are bounded).
const MAX_AUTHORIZATION: usize = 1024;

/// A malformed `Authorization` header.
/// The client credentials the request presents, read once: the
/// `Authorization: Basic` header and the form's `client_id` /
/// `client_secret` (SPEC: Token, client authentication).
pub fn client_credentials(req: &Request, form: &Params) -> ClientCredentials {
    ClientCredentials {
        basic: match basic_credentials(req) {
            Ok(None) => None,
            Ok(Some(pair)) => Some(Some(pair)),
            Err(MalformedAuthorization) => Some(None),
        },
        body_id: form.get("client_id").map(str::to_owned),
        body_secret: form.get("client_secret").map(str::to_owned),
        body_sends_secret: form.has("client_secret"),
    }
}

/// A client-authenticated endpoint's form ([`form_params`]) and the
/// credentials it presents, read once.
pub fn read_form(
    req: &Request,
) -> Result<(Params, ClientCredentials), crate::oauth::error::OAuthError> {
    let p = form_params(req)?;
    let presented = client_credentials(req, &p);
    Ok((p, presented))
}

#[derive(Debug)]
pub struct MalformedAuthorization;

pub fn basic_credentials(
    req: &Request,
) -> Result<Option<(String, String)>, MalformedAuthorization> {
    let Some(raw) = req.headers().get("authorization") else {
        return Ok(None);
    };
    // A header that is present but not readable text is malformed, never absent.
    let h = raw.to_str().map_err(|_| MalformedAuthorization)?;
    if h.len() > MAX_AUTHORIZATION {
        return Err(MalformedAuthorization);
    }
    let Some((scheme, rest)) = h.trim().split_once(' ') else {
        return Err(MalformedAuthorization);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(MalformedAuthorization);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| MalformedAuthorization)?;
    let decoded = String::from_utf8(decoded).map_err(|_| MalformedAuthorization)?;
    let (id, secret) = decoded.split_once(':').ok_or(MalformedAuthorization)?;
    let unescape = |s: &str| -> Result<String, MalformedAuthorization> {
        let plus_fixed = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_fixed)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| MalformedAuthorization)
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::response::{append_params, encode_pairs};

    #[test]
    fn routes_match_case_insensitively_on_fixed_segments_only() {
        let t = tenant_route("/OAuth2/acme/Authorize", &["authorize"]).unwrap();
        assert_eq!(t.as_str(), "acme");
        assert!(tenant_route("/oauth2/ACME/authorize", &["authorize"]).is_none());
        assert!(tenant_route("/oauth2/acme/authorize/x", &["authorize"]).is_none());
        assert!(
            tenant_route(
                "/oauth2/acme/token/changepassword",
                &["token", "ChangePassword"]
            )
            .is_some()
        );
        assert!(tenant_route("/oauth2//authorize", &["authorize"]).is_none());
    }

    #[test]
    fn params_reject_duplicates_and_drop_empty_values() {
        let p = Params::parse(b"a=1&b=&a=2&c=x%20y&d=%zz+%4").unwrap();
        assert_eq!(p.get("d"), Some("%zz %4"));
        assert!(p.is_duplicated("a"));
        assert!(!p.has("b"));
        assert_eq!(p.get("c"), Some("x y"));
    }

    #[test]
    fn params_are_bounded_and_utf8() {
        assert_eq!(
            Params::parse(&vec![b'a'; MAX_BODY + 1]).err(),
            Some(InputError::TooLarge)
        );
        assert_eq!(Params::parse(b"a=%ff").err(), Some(InputError::NotUtf8));
        assert_eq!(
            Params::parse(&[b'a', b'=', 0xff]).err(),
            Some(InputError::NotUtf8)
        );
        let long = format!("username={}", "u".repeat(257));
        assert_eq!(
            Params::parse(long.as_bytes()).err(),
            Some(InputError::TooLong("username".into()))
        );
        // 30,000 repeats of one name: linear, and reported once.
        let many = "a=1&".repeat(16_000);
        let p = Params::parse(many.as_bytes()).unwrap();
        assert_eq!(p.duplicates(), ["a".to_owned()]);
    }

    #[test]
    fn append_params_keeps_existing_query() {
        assert_eq!(
            append_params("https://c.example/cb?x=1", &[("code", "a b")], false),
            "https://c.example/cb?x=1&code=a%20b"
        );
        assert_eq!(
            append_params("https://c.example/cb", &[("state", "s")], true),
            "https://c.example/cb#state=s"
        );
    }

    /// The largest login transaction authorize can build from an accepted
    /// request — its longest redirect URI (every character one JSON escapes),
    /// scope, and 4 KiB each of `state` and `nonce` made of the characters
    /// JSON escapes most expensively — fits `login_tx::MAX_SEALED`, and a
    /// callback form carrying it with the longest username and password
    /// (each byte percent-encoded) fits the 64 KiB body.
    #[test]
    fn the_largest_transaction_fits_the_callback_form() {
        use crate::domain::login_tx::{LoginTx, MAX_SEALED};
        let worst = LoginTx {
            t: "t".repeat(63),
            c: "c".repeat(20),
            r: format!("https://c.example/{}", "\"".repeat(2000))[..2000].to_owned(),
            ri: true,
            s: "s".repeat(max_len("scope")),
            st: Some("\u{1}".repeat(max_len("state"))),
            cc: Some("c".repeat(43)),
            n: Some("\u{1}".repeat(max_len("nonce"))),
            rt: "token".into(),
            exp: u64::MAX,
            id: "i".repeat(22),
            l: Some("zh-Hant".into()),
            u: Some("p".repeat(crate::ids::ProviderName::MAX_LEN)),
        };
        let key = b"k".repeat(32);
        let sealed = worst.seal(&key);
        assert!(sealed.len() <= MAX_SEALED, "{}", sealed.len());
        assert_eq!(max_len("tx"), MAX_SEALED);
        assert_eq!(
            LoginTx::open(&sealed, &key, crate::clock::Now(1)),
            Some(worst)
        );
        let form = encode_pairs(&[
            ("tx", &sealed),
            ("username", &"\u{7f}".repeat(max_len("username"))),
            ("password", &"\u{7f}".repeat(max_len("password"))),
            ("decision", "allow"),
        ]);
        assert!(form.len() <= MAX_BODY, "{}", form.len());
    }
}
