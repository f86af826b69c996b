//! Property tests for every parser at the edge of the server: form and query
//! parameters, `Authorization: Basic`, routes, redirect URIs, scopes, the sealed
//! login transaction, identifiers, PKCE values and error descriptions.
//!
//! Each parser must never panic, whatever the input, and must always classify it
//! (a definite `Ok`/`Err`/`Some`/`None`) with its documented invariants. The
//! strategies mix fully random bytes and strings with structured, near-valid
//! inputs: real form bodies with mutations, `%`-escapes (valid, invalid and
//! non-UTF-8), `+`, NUL, raw non-UTF-8 bytes, huge repeated names and values
//! around each field's limit.
//!
//! Where a parser's contract can be stated independently, the property compares
//! it with a reference model built from other crates (`percent-encoding`,
//! `form_urlencoded`, `base64`, `url`, `serde_json`).
//!
//! Runs with proptest's default 256 cases per property (`PROPTEST_CASES` overrides
//! it) and without a failure-persistence file, so a run leaves nothing behind.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use lambda_http::Body;
use lambda_http::http::HeaderValue;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;
use std::collections::{HashMap, HashSet};
use tollgate::clock::Now;
use tollgate::crypto::{b64url, b64url_decode, hmac_sha256, sha256};
use tollgate::domain::login_tx::{LoginTx, MAX_SEALED};
use tollgate::domain::pkce::{is_valid_pkce_verifier, is_valid_s256_challenge, pkce_s256_matches};
use tollgate::domain::records::{Client, Grant};
use tollgate::domain::{redirect, scope};
use tollgate::ids::{ClientId, TenantId, UserId};
use tollgate::oauth::error::sanitize_description;
use tollgate::oauth::grants::max_grant_token_len;
use tollgate::web::request::{
    DEFAULT_MAX_LEN, InputError, MAX_BODY, Params, Seg, basic_credentials, body_bytes, is_form,
    match_route, max_len, query_params, tenant_route,
};
use tollgate::web::response::{append_params, encode_pairs, pct};

type TestResult = Result<(), TestCaseError>;

fn cfg() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// For properties whose every case is a body of tens of KiB: an eighth of the
/// cases (32 by default).
fn heavy_cfg() -> ProptestConfig {
    let c = cfg();
    ProptestConfig {
        cases: (c.cases / 8).max(1),
        ..c
    }
}

/// Any string of up to `max` chars drawn from all of Unicode (NUL, controls,
/// combining marks, astral planes included).
fn any_str(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max).prop_map(|v| v.into_iter().collect())
}

/// `%XX` for one byte, in upper or lower case hex.
fn escape(b: u8, upper: bool) -> Vec<u8> {
    if upper {
        format!("%{b:02X}").into_bytes()
    } else {
        format!("%{b:02x}").into_bytes()
    }
}

/// A mutation of a byte string: replace, insert or delete the byte at a position.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
    ]
}

fn apply_mutations(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        match m {
            Mutation::Replace(i, b) if !v.is_empty() => {
                let i = i.index(v.len());
                v[i] = *b;
            }
            Mutation::Insert(i, b) => {
                let i = i.index(v.len() + 1);
                v.insert(i, *b);
            }
            Mutation::Delete(i) if !v.is_empty() => {
                let i = i.index(v.len());
                v.remove(i);
            }
            _ => {}
        }
    }
    v
}

// ---------------------------------------------------------------------------
// Error descriptions (RFC 6749 §5.2)
// ---------------------------------------------------------------------------

fn description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// `error_description` grammar, length bound, and a fixed point of sanitizing.
fn check_description(d: &str) -> TestResult {
    prop_assert!(d.chars().all(description_char), "bad char in {d:?}");
    prop_assert!(d.chars().count() <= 200, "{} chars", d.chars().count());
    prop_assert_eq!(sanitize_description(d), d);
    Ok(())
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn sanitize_description_is_rfc6749_bounded_and_idempotent(
        s in prop_oneof![
            any_str(300),
            "[ -~]{0,250}",
            ("[ -~]{0,20}", 150usize..260).prop_map(|(s, n)| s.repeat(n / s.len().max(1) + 1)),
        ]
    ) {
        let d = sanitize_description(&s);
        check_description(&d)?;
        prop_assert_eq!(d.chars().count(), s.chars().count().min(200));
        // Characters already allowed are kept as they are, in place.
        for (i, o) in s.chars().zip(d.chars()) {
            prop_assert_eq!(o, if description_char(i) { i } else { '?' });
        }
    }

    #[test]
    fn input_error_descriptions_are_rfc6749(field in any_str(300)) {
        for e in [InputError::TooLarge, InputError::NotUtf8, InputError::TooLong(field)] {
            check_description(&e.description())?;
        }
    }
}

// ---------------------------------------------------------------------------
// Params::parse
// ---------------------------------------------------------------------------

/// Every parameter name with its own limit, and two that get the default.
const FIELDS: &[&str] = &[
    "client_id",
    "userid",
    "username",
    "login_hint",
    "client_secret",
    "password",
    "newpassword",
    "redirect_uri",
    "state",
    "nonce",
    "scope",
    "code",
    "refresh_token",
    "code_verifier",
    "code_challenge",
    "token",
    "subject_token",
    "actor_token",
    "access_token",
    "tx",
    "grant_type",
    "response_type",
    "code_challenge_method",
    "decision",
    "prompt",
    "response_mode",
    "token_type_hint",
    "x",
    "unknown_field",
];

/// A piece of one form component. With `ascii`, every piece decodes to ASCII
/// whatever follows it (no piece ends in `%` or `%` and one hex digit, which
/// the next piece could complete into an escape of a byte over 0x7f).
fn chunk(ascii: bool) -> BoxedStrategy<Vec<u8>> {
    let bad_escapes = if ascii {
        vec!["%z", "%zz", "%4g", "%g4", "%%41", "%+1", "%-1"]
    } else {
        vec![
            "%", "%z", "%4", "%zz", "%%", "%4g", "%g4", "%%41", "%+1", "%2", "%-1", "%e", "%C",
        ]
    };
    let ascii_chunks = prop_oneof![
        6 => "[A-Za-z0-9._~*-]{1,8}".prop_map(String::into_bytes),
        2 => Just(b"+".to_vec()),
        3 => (0u8..0x80, any::<bool>()).prop_map(|(b, up)| escape(b, up)),
        2 => select(bad_escapes).prop_map(|s| s.as_bytes().to_vec()),
        1 => Just(vec![0u8]),
        1 => Just(b"%00".to_vec()),
        1 => Just(b"=".to_vec()),
        1 => (0x20u8..0x7f)
            .prop_filter("% could start an escape", move |b| !ascii || *b != b'%')
            .prop_map(|b| vec![b]),
        1 => (0u8..0x20).prop_map(|b| vec![b]),
    ];
    if ascii {
        return ascii_chunks.boxed();
    }
    prop_oneof![
        10 => ascii_chunks,
        // A whole character, raw or percent-encoded byte by byte.
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        1 => (any::<char>(), any::<bool>()).prop_map(|(c, up)| {
            c.to_string().bytes().flat_map(|b| escape(b, up)).collect()
        }),
        // A lone non-UTF-8 byte, raw or escaped.
        1 => (0x80u8..=0xff).prop_map(|b| vec![b]),
        1 => (0x80u8..=0xff, any::<bool>()).prop_map(|(b, up)| escape(b, up)),
        // A multi-byte character cut short, or split between raw and escaped bytes.
        1 => (proptest::char::range('\u{80}', char::MAX), 1usize..4).prop_map(|(c, n)| {
            let s = c.to_string().into_bytes();
            s[..n.min(s.len() - 1)].to_vec()
        }),
        1 => proptest::char::range('\u{80}', char::MAX).prop_map(|c| {
            let s = c.to_string().into_bytes();
            let mut out = escape(s[0], true);
            out.extend_from_slice(&s[1..]);
            out
        }),
    ]
    .boxed()
}

fn component(ascii: bool) -> impl Strategy<Value = Vec<u8>> {
    vec(chunk(ascii), 0..6).prop_map(|v| v.concat())
}

fn key(ascii: bool) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => select(FIELDS).prop_map(|f| f.as_bytes().to_vec()),
        // A known name with its first byte escaped: decodes to the same name.
        1 => (select(FIELDS), any::<bool>()).prop_map(|(f, up)| {
            let mut k = escape(f.as_bytes()[0], up);
            k.extend_from_slice(&f.as_bytes()[1..]);
            k
        }),
        2 => component(ascii),
    ]
}

/// `k=v`, `k=` or a bare `k`.
fn pair(ascii: bool) -> impl Strategy<Value = Vec<u8>> {
    (key(ascii), 0u8..8, component(ascii)).prop_map(|(mut k, shape, v)| {
        match shape {
            0 => {}
            1 => k.push(b'='),
            _ => {
                k.push(b'=');
                k.extend_from_slice(&v);
            }
        }
        k
    })
}

/// A form body: pairs joined by one or more `&`, maybe with a leading or
/// trailing `&`.
fn form_body(ascii: bool) -> impl Strategy<Value = Vec<u8>> {
    (
        vec((pair(ascii), 1usize..3), 0..10),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(pairs, lead, trail)| {
            let mut out = Vec::new();
            if lead {
                out.push(b'&');
            }
            for (i, (p, seps)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.extend(std::iter::repeat_n(b'&', *seps));
                }
                out.extend_from_slice(p);
            }
            if trail {
                out.push(b'&');
            }
            out
        })
}

/// A real-looking body, then a few random byte edits.
fn mutated_body() -> impl Strategy<Value = Vec<u8>> {
    (form_body(false), vec(mutation(), 0..5)).prop_map(|(b, m)| apply_mutations(b, &m))
}

/// The limit a field's value is judged by: a grant's token (`code`,
/// `refresh_token`, `subject_token`) by its grant
/// ([`max_grant_token_len`]), every other field by `Params` ([`max_len`]).
fn field_limit(field: &str) -> usize {
    max_grant_token_len(field).unwrap_or_else(|| max_len(field))
}

/// One known field with a value whose decoded length is `field_limit(field) +
/// delta`, written with a single kind of unit (raw, escaped, `+`, multi-byte),
/// maybe amid other short pairs.
/// Also says whether the long pair comes first (so its value is the one read).
fn long_value_body() -> impl Strategy<Value = (String, usize, Vec<u8>, bool)> {
    (
        select(FIELDS),
        -3i64..=3,
        select(vec![
            ("a", 1usize),
            ("%41", 1),
            ("+", 1),
            ("\u{e9}", 2),
            ("%C3%A9", 2),
            ("%F0%9F%A6%80", 4),
        ]),
        option::of(form_body(true)),
        any::<bool>(),
    )
        .prop_map(|(field, delta, (unit, unit_len), other, other_first)| {
            let len = (field_limit(field) as i64 + delta) as usize;
            let mut v = unit.repeat(len / unit_len);
            v.push_str(&"a".repeat(len % unit_len));
            let long = format!("{field}={v}").into_bytes();
            let mut body = Vec::new();
            let long_first = other.is_none() || !other_first;
            match other {
                Some(o) if other_first => {
                    body.extend_from_slice(&o);
                    body.push(b'&');
                    body.extend_from_slice(&long);
                }
                Some(o) => {
                    body.extend_from_slice(&long);
                    body.push(b'&');
                    body.extend_from_slice(&o);
                }
                None => body = long,
            }
            (field.to_owned(), len, body, long_first)
        })
}

/// What `Params::parse` must return, computed with the `percent-encoding` crate.
struct Model {
    /// First non-empty value of each name, in order.
    first: Vec<(String, String)>,
    /// How many non-empty values each name had.
    count: HashMap<String, usize>,
    /// Names in order of their first repetition.
    dups: Vec<String>,
    /// Every decoded name, with or without a value.
    names: Vec<String>,
}

fn reference_decode(raw: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus).collect()
}

fn model(raw: &[u8]) -> Result<Model, InputError> {
    if raw.len() > MAX_BODY {
        return Err(InputError::TooLarge);
    }
    let mut m = Model {
        first: Vec::new(),
        count: HashMap::new(),
        dups: Vec::new(),
        names: Vec::new(),
    };
    for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let k = String::from_utf8(reference_decode(k)).map_err(|_| InputError::NotUtf8)?;
        let v = String::from_utf8(reference_decode(v)).map_err(|_| InputError::NotUtf8)?;
        m.names.push(k.clone());
        if v.is_empty() {
            continue;
        }
        if v.len() > max_len(&k) {
            return Err(InputError::TooLong(k));
        }
        let c = m.count.entry(k.clone()).or_insert(0);
        *c += 1;
        match *c {
            1 => m.first.push((k, v)),
            2 => m.dups.push(k),
            _ => {}
        }
    }
    Ok(m)
}

/// `Params::parse` against the model and against `form_urlencoded::parse`.
fn check_params(raw: &[u8]) -> Result<Option<Params>, TestCaseError> {
    let got = Params::parse(raw);
    let want = model(raw);
    let p = match (got, want) {
        (Err(g), Err(w)) => {
            check_description(&g.description())?;
            prop_assert_eq!(g, w);
            return Ok(None);
        }
        (Ok(p), Ok(m)) => {
            prop_assert_eq!(p.duplicates(), &m.dups[..]);
            for (k, v) in &m.first {
                prop_assert_eq!(p.get(k), Some(v.as_str()), "name {:?}", k);
                prop_assert!(p.has(k));
                prop_assert!(v.len() <= max_len(k), "{:?} is {} bytes", k, v.len());
                prop_assert_eq!(p.is_duplicated(k), m.count[k] >= 2, "name {:?}", k);
            }
            for k in &m.names {
                if !m.count.contains_key(k) {
                    prop_assert!(!p.has(k) && p.get(k).is_none(), "name {:?}", k);
                    prop_assert!(!p.is_duplicated(k));
                }
            }
            p
        }
        (g, w) => {
            return Err(TestCaseError::fail(format!(
                "classified differently: got {:?}, expected {:?}",
                g.err(),
                w.err()
            )));
        }
    };
    // Once parsed (so every component is UTF-8), the first non-empty value of
    // each name is what `form_urlencoded` reads.
    let mut fu_first: HashMap<String, String> = HashMap::new();
    let mut fu_names: HashSet<String> = HashSet::new();
    for (k, v) in form_urlencoded::parse(raw) {
        fu_names.insert(k.to_string());
        if !v.is_empty() {
            fu_first.entry(k.into_owned()).or_insert(v.into_owned());
        }
    }
    for k in &fu_names {
        prop_assert_eq!(
            p.get(k),
            fu_first.get(k).map(String::as_str),
            "name {:?}",
            k
        );
    }
    Ok(Some(p))
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn params_random_bytes_match_the_model(raw in vec(any::<u8>(), 0..300)) {
        check_params(&raw)?;
    }

    #[test]
    fn params_structured_bodies_match_the_model(raw in form_body(false)) {
        check_params(&raw)?;
    }

    #[test]
    fn params_mutated_bodies_match_the_model(raw in mutated_body()) {
        check_params(&raw)?;
    }

    /// ASCII, well-formed (values under every limit): always `Ok`, and in
    /// agreement with `form_urlencoded` on the first non-empty value of each name.
    #[test]
    fn params_ascii_bodies_parse_and_agree_with_form_urlencoded(raw in form_body(true)) {
        prop_assert!(Params::parse(&raw).is_ok(), "{:?}", Params::parse(&raw).err());
        check_params(&raw)?;
    }

    /// Around each field's limit: over `max_len` is `TooLong`, at or under it is
    /// read; a grant's token is never `TooLong` around its grant's limit (its
    /// `max_len` is the body's: the grant judges its length). A body over
    /// `MAX_BODY` is `TooLarge` first, which only a `tx` near its limit written
    /// in percent-escapes (three bytes each) makes here.
    #[test]
    fn params_values_at_each_limit((field, len, raw, long_first) in long_value_body()) {
        let r = Params::parse(&raw);
        if max_grant_token_len(&field).is_some() {
            prop_assert_eq!(max_len(&field), MAX_BODY);
            prop_assert!(raw.len() <= MAX_BODY, "{} bytes", raw.len());
        }
        if raw.len() > MAX_BODY {
            prop_assert_eq!(field.as_str(), "tx");
            prop_assert_eq!(r.err(), Some(InputError::TooLarge));
        } else if len > max_len(&field) {
            prop_assert_eq!(r.err(), Some(InputError::TooLong(field.clone())));
        } else {
            let p = r.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            if long_first {
                prop_assert_eq!(p.get(&field).map(str::len), Some(len));
            }
        }
        check_params(&raw)?;
    }

}

// Properties over bodies of up to MAX_BODY bytes: about size, not variety, so
// fewer cases keep the binary fast.
proptest! {
    #![proptest_config(heavy_cfg())]

    #[test]
    fn params_over_max_body_are_too_large(
        prefix in form_body(false),
        extra in 1usize..4096,
        filler in any::<u8>(),
    ) {
        let mut raw = prefix;
        raw.resize(MAX_BODY + extra, filler);
        prop_assert_eq!(Params::parse(&raw).err(), Some(InputError::TooLarge));
    }

    #[test]
    fn params_at_max_body_are_read(prefix in form_body(true), short in 0usize..4) {
        // Exactly MAX_BODY (or just under) of `&`s and a short body: never TooLarge.
        let mut raw = prefix;
        raw.truncate(MAX_BODY - short);
        raw.resize(MAX_BODY - short, b'&');
        prop_assert_ne!(Params::parse(&raw).err(), Some(InputError::TooLarge));
        check_params(&raw)?;
    }

    /// One name repeated thousands of times: reported once, first value kept.
    #[test]
    fn params_repeated_names_are_reported_once(
        name in prop_oneof![select(FIELDS).prop_map(str::to_owned), "[a-z_]{1,12}"],
        escaped in any::<bool>(),
        first in "[a-z0-9]{1,4}",
        n in 1usize..9000,
        empties in any::<bool>(),
    ) {
        let written = if escaped {
            String::from_utf8(name.bytes().flat_map(|b| escape(b, true)).collect()).unwrap()
        } else {
            name.clone()
        };
        let head = format!("{written}={first}&");
        let unit = if empties { format!("{written}=&{written}=1&") } else { format!("{written}=2&") };
        let n = n.min((MAX_BODY - head.len()) / unit.len());
        let raw = format!("{head}{}", unit.repeat(n));
        let p = check_params(raw.as_bytes())?.expect("a well-formed body");
        prop_assert_eq!(p.get(&name), Some(first.as_str()));
        if n >= 1 {
            prop_assert_eq!(p.duplicates(), std::slice::from_ref(&name));
            prop_assert!(p.is_duplicated(&name));
        } else {
            prop_assert!(p.duplicates().is_empty());
        }
    }

    /// A huge name (up to the whole body) with a short value.
    #[test]
    fn params_huge_names(c in "[a-z%+]", n in 1usize..MAX_BODY - 2, v in "[a-z]{0,3}") {
        let raw = format!("{}={v}", c.repeat(n));
        check_params(raw.as_bytes())?;
    }

}

proptest! {
    #![proptest_config(cfg())]

    /// A non-UTF-8 byte (raw or escaped) in a name or value of an otherwise valid,
    /// short body is `NotUtf8`.
    #[test]
    fn params_non_utf8_components_are_refused(
        body in form_body(true),
        bad in prop_oneof![
            (0x80u8..=0xff).prop_map(|b| vec![b]),
            (0x80u8..=0xff, any::<bool>()).prop_map(|(b, up)| escape(b, up)),
            Just(b"%C3".to_vec()),
            Just(b"%ED%A0%80".to_vec()),
            Just(vec![0xed, 0xa0, 0x80]),
            Just(b"%C0%AF".to_vec()),
            Just(b"%F4%90%80%80".to_vec()),
        ],
        in_name in any::<bool>(),
        at in any::<Index>(),
    ) {
        let (mut n, mut v) = (b"state".to_vec(), b"ab".to_vec());
        let target = if in_name { &mut n } else { &mut v };
        let i = at.index(target.len() + 1);
        target.splice(i..i, bad);
        let mut raw = body;
        raw.push(b'&');
        raw.extend_from_slice(&n);
        raw.push(b'=');
        raw.extend_from_slice(&v);
        prop_assert_eq!(Params::parse(&raw).err(), Some(InputError::NotUtf8));
        check_params(&raw)?;
    }

    /// `query_params` reads the request URI's query exactly as `Params::parse`.
    #[test]
    fn query_params_is_params_of_the_query(q in "[A-Za-z0-9%=&+._~*!$'(),;:@/?-]{0,120}") {
        let uri = format!("/oauth2/acme/authorize?{q}");
        let req = lambda_http::http::Request::builder()
            .uri(uri.as_str())
            .body(Body::Empty)
            .unwrap();
        let got = query_params(&req);
        let want = Params::parse(q.as_bytes());
        match (got, want) {
            (Err(g), Err(w)) => prop_assert_eq!(g, w),
            (Ok(g), Ok(w)) => {
                prop_assert_eq!(g.duplicates(), w.duplicates());
                for (k, _) in form_urlencoded::parse(q.as_bytes()) {
                    prop_assert_eq!(g.get(&k), w.get(&k));
                }
            }
            (g, w) => prop_assert!(false, "{:?} vs {:?}", g.err(), w.err()),
        }
    }
}

proptest! {
    #![proptest_config(heavy_cfg())]

    /// `body_bytes` hands over a body of up to MAX_BODY bytes as it is, and
    /// refuses a larger one, whatever its kind.
    #[test]
    fn body_bytes_is_bounded(
        len in prop_oneof![0usize..64, MAX_BODY - 4..MAX_BODY + 4],
        b in any::<u8>(),
        kind in 0u8..3,
    ) {
        let bytes = vec![b; len];
        let body = match kind {
            0 => Body::Binary(bytes.clone()),
            1 => Body::Text(String::from_utf8_lossy(&bytes).into_owned()),
            _ if len == 0 => Body::Empty,
            _ => Body::Binary(bytes.clone()),
        };
        let expected: Vec<u8> = match &body {
            Body::Text(t) => t.as_bytes().to_vec(),
            _ => bytes,
        };
        let req = lambda_http::http::Request::builder().body(body).unwrap();
        match body_bytes(&req) {
            Ok(got) => {
                prop_assert!(expected.len() <= MAX_BODY);
                prop_assert_eq!(got, &expected[..]);
            }
            Err(e) => {
                prop_assert_eq!(e, InputError::TooLarge);
                prop_assert!(expected.len() > MAX_BODY);
            }
        }
    }
}

#[test]
fn max_len_bounds_every_field() {
    for f in FIELDS {
        match max_grant_token_len(f) {
            // A grant's token: only the body bounds it in `Params`; its grant
            // refuses a longer one than `max_grant_token_len` (invalid_grant).
            // 16 KiB at most (an external issuer's subject_token, RFC 8693).
            Some(limit) => {
                assert_eq!(max_len(f), MAX_BODY, "{f}");
                assert!((1..=16 * 1024).contains(&limit), "{f}");
            }
            // 32 KiB at most (the sealed login transaction).
            None => assert!((1..=MAX_SEALED).contains(&max_len(f)), "{f}"),
        }
    }
    // The grants' tokens, and only they, are judged by their grant.
    let grant_tokens: Vec<_> = FIELDS
        .iter()
        .filter(|f| max_grant_token_len(f).is_some())
        .collect();
    assert_eq!(grant_tokens, [&"code", &"refresh_token", &"subject_token"]);
    assert_eq!(max_grant_token_len("code"), Some(256));
    assert_eq!(max_grant_token_len("refresh_token"), Some(256));
    assert_eq!(max_grant_token_len("subject_token"), Some(16 * 1024));
    // What real clients send (SPEC: Bad input).
    assert_eq!(max_len("state"), 4096);
    assert_eq!(max_len("nonce"), 4096);
    assert_eq!(MAX_SEALED, 32 * 1024);
    assert_eq!(max_len("tx"), MAX_SEALED);
    assert_eq!(max_len("anything else"), DEFAULT_MAX_LEN);
    assert_eq!(max_grant_token_len("anything else"), None);
}

/// A grant's token as long as the body allows is read (no `TooLong`); one byte
/// more is the body's `TooLarge`.
#[test]
fn grant_tokens_are_bounded_by_the_body_alone() {
    for f in ["code", "refresh_token", "subject_token"] {
        let fill = MAX_BODY - f.len() - 1;
        let raw = format!("{f}={}", "a".repeat(fill));
        let p = Params::parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{f}: {e:?}"));
        assert_eq!(p.get(f).map(str::len), Some(fill), "{f}");
        let raw = format!("{raw}a");
        assert_eq!(
            Params::parse(raw.as_bytes()).err(),
            Some(InputError::TooLarge),
            "{f}"
        );
    }
}

// ---------------------------------------------------------------------------
// Authorization: Basic
// ---------------------------------------------------------------------------

fn request_with_authorization(v: Option<HeaderValue>) -> lambda_http::Request {
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/oauth2/acme/token");
    if let Some(v) = v {
        b = b.header("authorization", v);
    }
    b.body(Body::Empty).unwrap()
}

/// Bytes that `HeaderValue` accepts: visible ASCII, space, tab and obs-text.
fn header_value_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            12 => 0x20u8..=0x7e,
            1 => Just(b'\t'),
            2 => 0x80u8..=0xff,
        ],
        0..80,
    )
}

/// `<scheme><sep><credentials>`, with near-valid schemes and payloads.
fn basic_like_header() -> impl Strategy<Value = Vec<u8>> {
    (
        select(vec![
            "Basic", "basic", "BASIC", "bAsIc", "Bearer", "Basi", "Basicx", "", "Basic:", " Basic",
            "Digest",
        ]),
        select(vec![" ", "  ", "\t", "", " \t", "\t "]),
        prop_oneof![
            vec(any::<u8>(), 0..64).prop_map(|b| STANDARD.encode(b)),
            vec(any::<u8>(), 0..64).prop_map(|b| STANDARD_NO_PAD.encode(b)),
            vec(any::<u8>(), 0..64).prop_map(|b| b64url(&b)),
            (any_str(20), any_str(20)).prop_map(|(a, b)| STANDARD.encode(format!("{a}:{b}"))),
            ("[ -~]{0,20}", "[ -~]{0,20}").prop_map(|(a, b)| STANDARD.encode(format!("{a}:{b}"))),
            (vec(any::<u8>(), 0..20), vec(any::<u8>(), 0..20)).prop_map(|(a, b)| {
                let mut v = a;
                v.push(b':');
                v.extend(b);
                STANDARD.encode(v)
            }),
            vec(any::<u8>(), 740..800).prop_map(|b| STANDARD.encode(b)),
            "[A-Za-z0-9+/=]{0,40}",
        ],
        vec(mutation(), 0..2),
    )
        .prop_map(|(scheme, sep, creds, muts)| {
            let h = format!("{scheme}{sep}{creds}").into_bytes();
            apply_mutations(h, &muts)
        })
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![header_value_bytes(), basic_like_header()]
        .prop_filter_map("not a header value", |b| HeaderValue::from_bytes(&b).ok())
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn basic_credentials_never_panics_and_classifies(h in header_value()) {
        let req = request_with_authorization(Some(h.clone()));
        let r = basic_credentials(&req);
        if let Ok(Some((id, secret))) = &r {
            let s = h.to_str().expect("credentials only from a visible-ASCII header");
            prop_assert!(s.len() <= 1024);
            let (scheme, rest) = s.trim().split_once(' ').expect("scheme and credentials");
            prop_assert!(scheme.eq_ignore_ascii_case("basic"), "scheme {:?}", scheme);
            let decoded = STANDARD.decode(rest.trim()).expect("valid base64");
            let decoded = String::from_utf8(decoded).expect("UTF-8 credentials");
            prop_assert!(decoded.contains(':'));
            // What was decoded re-encodes to something that decodes the same.
            let again = format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", pct(id), pct(secret)))
            );
            let req2 = request_with_authorization(Some(HeaderValue::from_str(&again).unwrap()));
            if again.len() <= 1024 {
                prop_assert_eq!(
                    basic_credentials(&req2).ok().flatten(),
                    Some((id.clone(), secret.clone()))
                );
            }
        }
        if let Ok(s) = h.to_str() {
            let basic = s.trim().split_once(' ')
                .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
            if !basic || s.len() > 1024 {
                prop_assert!(r.is_err(), "{:?} read as {:?}", s, r.ok());
            }
        }
    }

    /// A request that carries an `Authorization` header has presented
    /// credentials: they are read (`Ok(Some)`) or refused (`Err`), never taken
    /// for "no header" (`Ok(None)`), which would let the body's credentials or a
    /// public client stand in for them.
    #[test]
    fn basic_credentials_never_ignores_a_present_header(h in header_value()) {
        let req = request_with_authorization(Some(h.clone()));
        let r = basic_credentials(&req);
        prop_assert!(!matches!(r, Ok(None)), "header {:?} was taken for no header", h);
    }

    /// `Basic base64(urlencode(id) ":" urlencode(secret))` reads back as (id, secret).
    #[test]
    fn basic_credentials_round_trip(
        id in prop_oneof![any_str(40), "[A-Za-z0-9]{20}", "[ -~]{0,40}"],
        secret in prop_oneof![any_str(60), "[A-Za-z0-9]{64}", "[ -~]{0,60}", Just(String::new())],
        scheme in select(vec!["Basic", "basic", "BASIC", "bAsIc"]),
        sep in select(vec![" ", "  "]),
        plus_style in any::<bool>(),
    ) {
        let enc = |s: &str| {
            if plus_style {
                form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
            } else {
                pct(s)
            }
        };
        let h = format!("{scheme}{sep}{}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
        let req = request_with_authorization(Some(HeaderValue::from_str(&h).unwrap()));
        let r = basic_credentials(&req);
        if h.len() <= 1024 {
            prop_assert_eq!(r.ok(), Some(Some((id, secret))));
        } else {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn is_form_never_panics(h in header_value()) {
        let req = lambda_http::http::Request::builder()
            .header("content-type", h.clone())
            .body(Body::Empty)
            .unwrap();
        if is_form(&req) {
            let s = h.to_str().unwrap();
            prop_assert!(s.split(';').next().unwrap().trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        }
    }
}

#[test]
fn basic_credentials_without_a_header_is_none() {
    let req = request_with_authorization(None);
    assert!(matches!(basic_credentials(&req), Ok(None)));
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

/// `[a-z0-9][a-z0-9-]{0,62}`, written out independently of `TenantId::parse`.
fn alias_grammar(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && matches!(b[0], b'a'..=b'z' | b'0'..=b'9')
        && b.iter()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

const TAILS: &[&[&str]] = &[
    &["authorize"],
    &["token"],
    &["token", "changepassword"],
    &["Token", "ChangePassword"],
    &["callback"],
    &[".well-known", "openid-configuration"],
    &["jwks.json"],
    &[],
];

const LITS: &[&str] = &["oauth2", "token", "authorize", "admin", "x", ""];

fn recase(s: &str, mask: &[bool]) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask.get(i % mask.len().max(1)).copied().unwrap_or(false) {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn valid_alias() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9-]{0,62}",
        "[a-z0-9][a-z0-9-]{60,62}",
        "[a-z0-9]",
    ]
}

/// Strings near the alias grammar (most are not aliases).
fn near_alias() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.%#-]{0,66}",
        "-[a-z0-9-]{0,5}",
        "[a-z0-9][a-z0-9-]{63,66}",
        "[a-z0-9-]{0,10}[A-Z\u{e9}\u{212a} ][a-z0-9-]{0,10}",
        any_str(12),
        valid_alias(),
    ]
}

fn path_with(
    lits: &[&str],
    tenant: &str,
    tail: &[&str],
    mask: &[bool],
    lead: bool,
    trail: bool,
) -> String {
    let mut segs: Vec<String> = lits.iter().map(|l| recase(l, mask)).collect();
    segs.push(tenant.to_owned());
    segs.extend(tail.iter().map(|t| recase(t, &mask[1.min(mask.len())..])));
    format!(
        "{}{}{}",
        if lead { "/" } else { "" },
        segs.join("/"),
        if trail { "/" } else { "" }
    )
}

fn seg() -> impl Strategy<Value = Seg> {
    prop_oneof![
        3 => select(LITS).prop_map(Seg::Lit),
        1 => Just(Seg::Tenant),
    ]
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn tenant_route_returns_only_valid_aliases(
        path in prop_oneof![
            any_str(80),
            "(/[A-Za-z0-9.%_-]{0,10}){0,5}/{0,2}",
            ("[A-Za-z0-9/]{0,3}", near_alias(), "(/[a-zA-Z.-]{0,12}){0,3}/?")
                .prop_map(|(a, t, b)| format!("/oauth2/{a}{t}{b}")),
        ],
        tail in select(TAILS),
    ) {
        if let Some(t) = tenant_route(&path, tail) {
            prop_assert!(alias_grammar(t.as_str()), "{:?} from {:?}", t, path);
            prop_assert!(path.split('/').any(|s| s == t.as_str()));
        }
    }

    #[test]
    fn tenant_route_matches_literals_in_any_case(
        tenant in valid_alias(),
        tail in select(TAILS),
        mask in vec(any::<bool>(), 1..16),
        lead in any::<bool>(),
        trail in any::<bool>(),
    ) {
        let path = path_with(&["oauth2"], &tenant, tail, &mask, lead, trail);
        prop_assert_eq!(
            tenant_route(&path, tail).map(|t| t.as_str().to_owned()),
            Some(tenant.clone()),
            "path {:?}", path
        );
        // One segment more or less, or a doubled trailing slash, is another route.
        let p = format!("{path}/x");
        prop_assert!(tenant_route(&p, tail).is_none(), "{:?}", p);
        let p = format!("{path}//");
        prop_assert!(tenant_route(&p, tail).is_none(), "{:?}", p);
        let p = format!("//{path}");
        prop_assert!(tenant_route(&p, tail).is_none(), "{:?}", p);
        if let Some((_, shorter)) = tail.split_last() {
            let p = path_with(&["oauth2"], &tenant, shorter, &mask, lead, trail);
            prop_assert!(tenant_route(&p, tail).is_none(), "{:?}", p);
        }
        // The tenant is not case-folded.
        if tenant.bytes().any(|b| b.is_ascii_lowercase()) {
            let p = path_with(&["oauth2"], &tenant.to_ascii_uppercase(), tail, &mask, lead, trail);
            prop_assert!(tenant_route(&p, tail).is_none(), "{:?}", p);
        }
    }

    #[test]
    fn tenant_route_refuses_invalid_aliases(
        tenant in near_alias().prop_filter("one segment", |t| !t.contains('/')),
        tail in select(TAILS),
        mask in vec(any::<bool>(), 1..16),
        lead in any::<bool>(),
        trail in any::<bool>(),
    ) {
        let path = path_with(&["oauth2"], &tenant, tail, &mask, lead, trail);
        let r = tenant_route(&path, tail);
        prop_assert_eq!(r.is_some(), alias_grammar(&tenant), "path {:?}", path);
        if let Some(t) = r {
            prop_assert_eq!(t.as_str(), tenant.as_str());
        }
    }

    #[test]
    fn match_route_never_panics_and_returns_valid_aliases(
        route in vec(seg(), 0..5),
        segs in vec(prop_oneof![select(LITS).prop_map(str::to_owned), near_alias()], 0..6),
        mask in vec(any::<bool>(), 1..8),
        lead in any::<bool>(),
        trail in any::<bool>(),
    ) {
        let path = format!(
            "{}{}{}",
            if lead { "/" } else { "" },
            segs.iter().map(|s| recase(s, &mask)).collect::<Vec<_>>().join("/"),
            if trail { "/" } else { "" }
        );
        if let Some(t) = match_route(&path, &route) {
            prop_assert!(alias_grammar(t.as_str()));
            prop_assert!(route.iter().any(|s| matches!(s, Seg::Tenant)));
        }
    }
}

// ---------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------

fn client_id_grammar(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn user_id_grammar(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any_str(80),
        near_alias(),
        "[a-z0-9-]{0,70}",
        "[a-zA-Z0-9_-]{0,70}",
        "[a-zA-Z0-9_-]{62,66}",
        "[a-zA-Z0-9]{18,22}",
        "[a-zA-Z0-9]{9}[^a-zA-Z0-9][a-zA-Z0-9]{10}",
        "[A-Za-z0-9_ #/\u{e9}\u{0}\u{ff10}-]{0,70}",
    ]
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn ids_parse_iff_grammar(s in id_like()) {
        let t = TenantId::parse(&s);
        prop_assert_eq!(t.is_ok(), alias_grammar(&s), "tenant {:?}", s);
        if let Ok(t) = t {
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert_eq!(t.to_string(), s.clone());
        }
        let c = ClientId::parse(&s);
        prop_assert_eq!(c.is_ok(), client_id_grammar(&s), "client {:?}", s);
        if let Ok(c) = c {
            prop_assert_eq!(c.as_str(), s.as_str());
        }
        let u = UserId::parse(&s);
        prop_assert_eq!(u.is_ok(), user_id_grammar(&s), "user {:?}", s);
        if let Ok(u) = u {
            prop_assert_eq!(u.as_str(), s.as_str());
        }
    }
}

// ---------------------------------------------------------------------------
// Redirect URIs
// ---------------------------------------------------------------------------

const LOOPBACKS: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

fn host() -> impl Strategy<Value = String> {
    // Not an A-label: `xn--…` must be valid punycode, which a random label is
    // not (URL parsers refuse it as an invalid international domain name).
    "[a-z][a-z0-9-]{0,8}\\.(example|test|com|io)"
        .prop_filter("a random xn-- label is no valid IDN", |h: &String| {
            !h.starts_with("xn--")
        })
}

fn uri_path() -> impl Strategy<Value = String> {
    "(/[A-Za-z0-9._~-]{0,6}){0,3}"
}

fn uri_query() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\?[a-z0-9=&]{0,8}"]
}

fn port() -> impl Strategy<Value = String> {
    option::of(1u16..).prop_map(|p| p.map(|p| format!(":{p}")).unwrap_or_default())
}

fn https_uri() -> impl Strategy<Value = String> {
    (host(), port(), uri_path(), uri_query())
        .prop_map(|(h, p, path, q)| format!("https://{h}{p}{path}{q}"))
}

fn loopback_uri() -> impl Strategy<Value = String> {
    (select(LOOPBACKS.to_vec()), port(), uri_path(), uri_query())
        .prop_map(|(lb, p, path, q)| format!("{lb}{p}{path}{q}"))
}

fn registrable() -> impl Strategy<Value = String> {
    prop_oneof![https_uri(), loopback_uri()]
}

/// A registrable URI after a few byte edits (kept only when still a string).
fn mutated_uri() -> impl Strategy<Value = String> {
    (
        registrable(),
        vec(
            prop_oneof![
                (any::<Index>(), 0x20u8..0x7f).prop_map(|(i, b)| Mutation::Replace(i, b)),
                (any::<Index>(), 0x20u8..0x7f).prop_map(|(i, b)| Mutation::Insert(i, b)),
                any::<Index>().prop_map(Mutation::Delete),
            ],
            0..3,
        ),
        option::of((
            any::<Index>(),
            select(vec![
                ":",
                ":0",
                ":08080",
                ":65536",
                ":1",
                "@evil.example",
                "\\",
                "#",
                "%2F",
                "/..",
                ".evil.example",
            ]),
        )),
    )
        .prop_map(|(u, muts, ins)| {
            let mut b = apply_mutations(u.into_bytes(), &muts);
            if let Some((i, s)) = ins {
                let i = i.index(b.len() + 1);
                b.splice(i..i, s.bytes());
            }
            String::from_utf8(b).expect("ASCII edits of an ASCII URI")
        })
}

/// RFC 8252 §7.3: a canonical port 1..=65535.
fn canonical_port(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0')
        && s.len() <= 5
        && s.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn registrable_uris_validate_and_match_themselves(r in registrable()) {
        prop_assert!(redirect::validate_registration(&r).is_ok(), "{:?}", r);
        prop_assert!(redirect::matches(&r, &r));
        let reg = [r.clone()];
        prop_assert_eq!(redirect::resolve(&reg, Some(&r)), Some(r.as_str()));
        prop_assert_eq!(redirect::resolve(&reg, None), Some(r.as_str()));
    }

    #[test]
    fn different_host_or_path_never_matches(
        (h1, h2) in (host(), host()),
        (p1, p2) in (uri_path(), uri_path()),
        (q1, q2) in (uri_query(), uri_query()),
        (port1, port2) in (port(), port()),
        (lb1, lb2) in (select(LOOPBACKS.to_vec()), select(LOOPBACKS.to_vec())),
    ) {
        let r = format!("https://{h1}{port1}{p1}{q1}");
        let p = format!("https://{h2}{port2}{p2}{q2}");
        if (&h1, &p1, &q1) != (&h2, &p2, &q2) {
            prop_assert!(!redirect::matches(&r, &p), "{:?} ~ {:?}", r, p);
            prop_assert!(!redirect::matches(&p, &r), "{:?} ~ {:?}", p, r);
        }
        // Loopback: only the port may differ.
        let r = format!("{lb1}{port1}{p1}{q1}");
        let p = format!("{lb2}{port2}{p2}{q2}");
        let same = lb1 == lb2 && p1 == p2 && q1 == q2;
        prop_assert_eq!(redirect::matches(&r, &p), same, "{:?} ~ {:?}", r, p);
        prop_assert_eq!(redirect::matches(&p, &r), same, "{:?} ~ {:?}", p, r);
        // https never matches loopback.
        let https = format!("https://{h1}{p1}{q1}");
        prop_assert!(!redirect::matches(&https, &r) && !redirect::matches(&r, &https));
    }

    #[test]
    fn loopback_port_is_accepted_iff_canonical(
        lb in select(LOOPBACKS.to_vec()),
        port in prop_oneof![
            any::<u32>().prop_map(|p| p.to_string()),
            any::<u16>().prop_map(|p| p.to_string()),
            "0{1,3}[0-9]{0,5}",
            "[0-9]{0,7}",
            "[0-9a-z+-]{0,6}",
            (1u16.., "[^0-9]{0,3}").prop_map(|(p, s)| format!("{p}{s}")),
        ],
        rest in prop_oneof![uri_path(), Just("/cb".to_owned()), Just(String::new()), Just("?x=1".to_owned())],
    ) {
        let registered = format!("{lb}{rest}");
        let presented = format!("{lb}:{port}{rest}");
        let ok = canonical_port(&port);
        prop_assert_eq!(redirect::matches(&registered, &presented), ok, "{:?}", presented);
        prop_assert_eq!(redirect::matches(&presented, &registered), ok, "{:?}", presented);
        // Registration: an all-digit port is accepted iff canonical; after any
        // other port text, only if its leading digits are a canonical port.
        let registered_ok = redirect::validate_registration(&presented).is_ok();
        let digits: String = port.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() == port.len() {
            prop_assert_eq!(registered_ok, ok, "{:?}", presented);
        } else if registered_ok {
            prop_assert!(canonical_port(&digits), "{:?}", presented);
        }
    }

    /// A presented URI that matches a registered one goes to the same place:
    /// same scheme, host, path and query (only a loopback port may differ).
    #[test]
    fn a_match_never_redirects_elsewhere(r in registrable(), p in prop_oneof![mutated_uri(), registrable()]) {
        prop_assert!(redirect::validate_registration(&r).is_ok());
        if redirect::matches(&r, &p) {
            let ru = url::Url::parse(&r).unwrap();
            let pu = url::Url::parse(&p).map_err(|e| TestCaseError::fail(format!("{p:?}: {e}")))?;
            prop_assert_eq!(ru.scheme(), pu.scheme());
            prop_assert_eq!(ru.host_str(), pu.host_str());
            prop_assert_eq!(ru.path(), pu.path());
            prop_assert_eq!(ru.query(), pu.query());
            prop_assert_eq!(pu.fragment(), None);
            prop_assert!(pu.username().is_empty() && pu.password().is_none());
            if ru.scheme() == "https" {
                prop_assert_eq!(&r, &p);
            }
            if p.len() <= redirect::MAX_LEN {
                prop_assert!(redirect::validate_registration(&p).is_ok(), "{:?}", p);
            }
        }
    }

    #[test]
    fn validate_registration_never_panics(
        u in prop_oneof![any_str(120), mutated_uri(), "[ -~]{0,60}", (registrable(), 1900usize..2100).prop_map(|(r, n)| {
            let mut r = r;
            if !r.contains('?') { r.push('?'); }
            let pad = n.saturating_sub(r.len());
            r.push_str(&"a".repeat(pad));
            r
        })]
    ) {
        if redirect::validate_registration(&u).is_ok() {
            prop_assert!((1..=redirect::MAX_LEN).contains(&u.len()));
            prop_assert!(!u.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(!u.contains('#'));
            let parsed = url::Url::parse(&u).unwrap();
            prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
            match parsed.scheme() {
                "https" => prop_assert!(parsed.host_str().is_some_and(|h| !h.is_empty())),
                "http" => {
                    prop_assert!(LOOPBACKS.iter().any(|lb| u.starts_with(lb)), "{:?}", u);
                    let h = parsed.host_str().unwrap_or_default();
                    prop_assert!(h == "127.0.0.1" || h == "[::1]", "{:?} has host {:?}", u, h);
                }
                s => prop_assert!(false, "scheme {:?} in {:?}", s, u),
            }
        }
    }

    #[test]
    fn resolve_returns_the_presented_or_the_only_uri(
        registered in vec(prop_oneof![registrable(), mutated_uri()], 0..4),
        presented in option::of(prop_oneof![registrable(), mutated_uri(), any_str(30)]),
    ) {
        match redirect::resolve(&registered, presented.as_deref()) {
            Some(x) => match &presented {
                Some(p) => {
                    prop_assert_eq!(x, p.as_str());
                    prop_assert!(registered.iter().any(|r| redirect::matches(r, p)));
                }
                None => {
                    prop_assert_eq!(registered.len(), 1);
                    prop_assert_eq!(x, registered[0].as_str());
                }
            },
            None => match &presented {
                Some(p) => prop_assert!(!registered.iter().any(|r| redirect::matches(r, p))),
                None => prop_assert_ne!(registered.len(), 1),
            },
        }
    }

    /// Parameters appended to a registered URI read back from its query (or
    /// fragment), after the query it already had.
    #[test]
    fn append_params_round_trips(
        r in registrable(),
        pairs in vec((any_str(12), any_str(12)), 0..4),
        fragment in any::<bool>(),
    ) {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = append_params(&r, &refs, fragment);
        prop_assert!(out.starts_with(&r));
        let u = url::Url::parse(&out).map_err(|e| TestCaseError::fail(format!("{out:?}: {e}")))?;
        let ru = url::Url::parse(&r).unwrap();
        prop_assert_eq!(u.host_str(), ru.host_str());
        prop_assert_eq!(u.path(), ru.path());
        let read: Vec<(String, String)> = if fragment {
            prop_assert_eq!(u.query(), ru.query());
            form_urlencoded::parse(u.fragment().unwrap_or("").as_bytes()).into_owned().collect()
        } else {
            prop_assert_eq!(u.fragment(), None);
            let all: Vec<(String, String)> = u.query_pairs().into_owned().collect();
            let before = ru.query_pairs().count();
            prop_assert_eq!(&all[..before], &ru.query_pairs().into_owned().collect::<Vec<_>>()[..]);
            all[before..].to_vec()
        };
        prop_assert_eq!(read, pairs);
    }

    #[test]
    fn pct_is_unreserved_and_reversible(s in any_str(40)) {
        let e = pct(&s);
        let b = e.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                prop_assert!(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit());
                i += 3;
            } else {
                prop_assert!(b[i].is_ascii_alphanumeric() || b"-._~".contains(&b[i]), "{:?}", e);
                i += 1;
            }
        }
        prop_assert_eq!(percent_encoding::percent_decode_str(&e).decode_utf8().unwrap(), s.as_str());
        let pairs = encode_pairs(&[(s.as_str(), "v"), ("k", s.as_str())]);
        let back: Vec<(String, String)> = form_urlencoded::parse(pairs.as_bytes()).into_owned().collect();
        prop_assert_eq!(back, vec![(s.clone(), "v".to_owned()), ("k".to_owned(), s)]);
    }
}

// ---------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------

fn scope_char(c: u8) -> bool {
    c == 0x21 || (0x23..=0x5b).contains(&c) || (0x5d..=0x7e).contains(&c)
}

fn scope_model(s: &str) -> Option<Vec<String>> {
    if s.len() > scope::MAX_LEN {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for t in s.split(' ').filter(|t| !t.is_empty()) {
        if !t.bytes().all(scope_char) {
            return None;
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    (out.len() <= scope::MAX_TOKENS).then_some(out)
}

const SCOPE_POOL: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "read",
    "write",
    "admin",
    "a:b",
    "x!y",
    "~",
];

fn scope_token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(SCOPE_POOL).prop_map(str::to_owned),
        3 => r"[!#-\[\]-~]{1,8}",
        1 => "[a-z]{0,3}[\"\\\\\t\u{0}\u{7f}\u{e9}\r\n\u{a0}][a-z]{0,3}",
    ]
}

fn scope_string() -> impl Strategy<Value = String> {
    (
        vec((scope_token(), select(vec![" ", "  ", "   "])), 0..70),
        any::<bool>(),
    )
        .prop_map(|(toks, lead)| {
            let mut s = if lead { " ".to_owned() } else { String::new() };
            for (t, sep) in toks {
                s.push_str(&t);
                s.push_str(sep);
            }
            s
        })
}

/// `n` distinct tokens, some repeated.
fn many_scopes() -> impl Strategy<Value = (usize, String)> {
    (55usize..75, vec(any::<Index>(), 0..20)).prop_map(|(n, dups)| {
        let mut toks: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        for d in dups {
            let t = toks[d.index(n)].clone();
            let at = d.index(toks.len() + 1);
            toks.insert(at, t);
        }
        (n, toks.join(" "))
    })
}

fn scope_near_max_len() -> impl Strategy<Value = String> {
    (
        scope::MAX_LEN - 8..scope::MAX_LEN + 8,
        select(vec!["a", "ab ", "a b", " ", "openid ", "\u{e9}"]),
    )
        .prop_map(|(n, unit)| {
            let mut s = unit.repeat(n / unit.len() + 1);
            while s.len() > n {
                s.pop();
            }
            s
        })
}

fn any_scope_input() -> impl Strategy<Value = String> {
    prop_oneof![
        any_str(100),
        "[ -~]{0,100}",
        scope_string(),
        many_scopes().prop_map(|(_, s)| s),
        scope_near_max_len(),
    ]
}

fn client_with_scopes(scopes: Vec<String>) -> Client {
    Client {
        tenant: TenantId::parse("acme").unwrap(),
        client_id: ClientId::parse("abcdefghij0123456789").unwrap(),
        name: "c".into(),
        grants: vec![Grant::AuthorizationCode],
        redirect_uris: vec!["https://c.example/cb".into()],
        scopes,
        public: false,
        require_pkce: true,
        require_offline_access: false,
        web_origins: Vec::new(),
        introspect: false,
        enabled: true,
        created_at: 0,
    }
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn scope_parse_matches_the_model(s in any_scope_input()) {
        let got = scope::parse(&s).ok();
        prop_assert_eq!(&got, &scope_model(&s), "{:?}", s);
        if s.len() > scope::MAX_LEN {
            prop_assert!(got.is_none());
        }
        if let Some(v) = got {
            prop_assert!(v.len() <= scope::MAX_TOKENS);
            let distinct: HashSet<&String> = v.iter().collect();
            prop_assert_eq!(distinct.len(), v.len());
            for t in &v {
                prop_assert!(!t.is_empty() && t.bytes().all(scope_char), "{:?}", t);
            }
            // Joining and re-parsing is a fixed point.
            prop_assert_eq!(scope::parse(&scope::join(&v)).ok(), Some(v));
        }
    }

    #[test]
    fn scope_token_count_limit((n, s) in many_scopes()) {
        prop_assert_eq!(scope::parse(&s).is_ok(), n <= scope::MAX_TOKENS);
    }

    /// `narrow` never widens: whatever it returns is a subset of the grant.
    #[test]
    fn narrow_never_widens(
        granted in prop_oneof![scope_string(), any_scope_input()],
        other in any_scope_input(),
        mask in vec(any::<bool>(), 1..80),
        kind in 0u8..4,
    ) {
        let granted_tokens: Vec<&str> = granted.split(' ').filter(|t| !t.is_empty()).collect();
        let subset: String = granted_tokens
            .iter()
            .zip(mask.iter().cycle())
            .filter(|(_, m)| **m)
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(" ");
        let requested = match kind {
            0 => None,
            1 => Some(other.clone()),
            2 => Some(subset.clone()),
            _ => Some(format!("{subset} {other}")),
        };
        match scope::narrow(&granted, requested.as_deref()) {
            Ok(out) => match &requested {
                None => prop_assert_eq!(out, granted),
                Some(req) => {
                    let parsed = scope::parse(req).map_err(|_| TestCaseError::fail("narrowed a malformed scope"))?;
                    prop_assert_eq!(&out, &scope::join(&parsed));
                    for t in out.split(' ').filter(|t| !t.is_empty()) {
                        prop_assert!(granted_tokens.contains(&t), "{:?} not in {:?}", t, granted);
                    }
                }
            },
            Err(e) => {
                check_description(&sanitize_description(&e))?;
                // A well-formed subset of the grant is never refused.
                if let Some(req) = &requested {
                    let subset_ok = scope::parse(req)
                        .is_ok_and(|p| p.iter().all(|t| granted_tokens.contains(&t.as_str())));
                    prop_assert!(!subset_ok, "refused {:?} within {:?}", req, granted);
                }
            }
        }
    }

    #[test]
    fn resolve_grants_only_registered_or_standard_scopes(
        registered in vec(select(SCOPE_POOL).prop_map(str::to_owned), 0..5),
        requested in option::of(any_scope_input()),
    ) {
        let client = client_with_scopes(registered.clone());
        match scope::resolve(&client, requested.as_deref()) {
            Ok(v) => {
                let parsed = requested.as_deref().map(scope::parse);
                match parsed {
                    None => prop_assert_eq!(v, registered),
                    Some(Ok(p)) if p.is_empty() => prop_assert_eq!(v, registered),
                    Some(Ok(p)) => {
                        prop_assert_eq!(&v, &p);
                        for s in &v {
                            prop_assert!(
                                registered.contains(s) || scope::STANDARD.contains(&s.as_str()),
                                "{:?}", s
                            );
                        }
                    }
                    Some(Err(_)) => prop_assert!(false, "granted a malformed scope"),
                }
            }
            Err(e) => prop_assert!(requested.is_some(), "{}", e),
        }
    }
}

// ---------------------------------------------------------------------------
// Login transaction
// ---------------------------------------------------------------------------

/// `login_tx`'s MAC domain (v2: `st` and `n` travel base64url), restated to
/// sign arbitrary payloads (the first property checks it against `seal`).
const LOGIN_TX_DOMAIN: &[u8] = b"tollgate.login-tx.v2.";
/// The previous format's domain (v1: `st` and `n` as JSON strings): what it
/// signed never opens.
const LOGIN_TX_V1_DOMAIN: &[u8] = b"tollgate.login-tx.v1.";

fn sign_with(domain: &[u8], key: &[u8], payload_b64: &str) -> String {
    let mut msg = domain.to_vec();
    msg.extend_from_slice(payload_b64.as_bytes());
    format!("{payload_b64}.{}", b64url(&hmac_sha256(key, &msg)))
}

fn sign(key: &[u8], payload_b64: &str) -> String {
    sign_with(LOGIN_TX_DOMAIN, key, payload_b64)
}

/// A transaction's JSON as sealed, restated: each field by its short name, an
/// absent optional field left out, `st` and `n` written by `text`.
fn wire(tx: &LoginTx, text: impl Fn(&str) -> String) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        o.insert(k.to_owned(), v);
    };
    put("t", tx.t.clone().into());
    put("c", tx.c.clone().into());
    put("r", tx.r.clone().into());
    put("ri", tx.ri.into());
    put("s", tx.s.clone().into());
    if let Some(st) = &tx.st {
        put("st", text(st).into());
    }
    if let Some(cc) = &tx.cc {
        put("cc", cc.clone().into());
    }
    if let Some(n) = &tx.n {
        put("n", text(n).into());
    }
    put("rt", tx.rt.clone().into());
    put("exp", tx.exp.into());
    put("id", tx.id.clone().into());
    if let Some(l) = &tx.l {
        put("l", l.clone().into());
    }
    if let Some(u) = &tx.u {
        put("u", u.clone().into());
    }
    serde_json::Value::Object(o)
}

/// The current format (v2): `st` and `n` as base64url (no padding) of their
/// UTF-8 bytes.
fn wire_v2(tx: &LoginTx) -> serde_json::Value {
    wire(tx, |t| URL_SAFE_NO_PAD.encode(t.as_bytes()))
}

/// The previous format (v1): `st` and `n` as they are.
fn wire_v1(tx: &LoginTx) -> serde_json::Value {
    wire(tx, str::to_owned)
}

/// A v2 payload's fields as JSON holds them (`st`, `n`: still base64url).
#[derive(serde::Deserialize)]
struct WireV2 {
    t: String,
    c: String,
    r: String,
    ri: bool,
    s: String,
    #[serde(default)]
    st: Option<String>,
    #[serde(default)]
    cc: Option<String>,
    #[serde(default)]
    n: Option<String>,
    rt: String,
    exp: u64,
    id: String,
    #[serde(default)]
    l: Option<String>,
    #[serde(default)]
    u: Option<String>,
}

/// What `open` must make of a correctly signed payload at `now`: the v2
/// transaction it holds — every field of its type, `st` and `n` (when present
/// and not null) canonical base64url of UTF-8 — if not yet expired; else
/// nothing.
fn open_model(payload: &[u8], now: u64) -> Option<LoginTx> {
    let w: WireV2 = serde_json::from_slice(payload).ok()?;
    let text = |v: Option<String>| -> Option<Option<String>> {
        match v {
            None => Some(None),
            Some(b) => {
                let bytes = URL_SAFE_NO_PAD.decode(b).ok()?;
                String::from_utf8(bytes).ok().map(Some)
            }
        }
    };
    let tx = LoginTx {
        t: w.t,
        c: w.c,
        r: w.r,
        ri: w.ri,
        s: w.s,
        st: text(w.st)?,
        cc: w.cc,
        n: text(w.n)?,
        rt: w.rt,
        exp: w.exp,
        id: w.id,
        l: w.l,
        u: w.u,
    };
    (tx.exp > now).then_some(tx)
}

/// The 64-byte block HMAC-SHA256 actually keys with: keys that differ only by
/// trailing zero bytes (up to 64) are the same HMAC key, by design of HMAC.
fn hmac_key_block(k: &[u8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    if k.len() > 64 {
        b[..32].copy_from_slice(&sha256(k));
    } else {
        b[..k.len()].copy_from_slice(k);
    }
    b
}

fn login_tx() -> impl Strategy<Value = LoginTx> {
    // Each member boxed: twelve value trees side by side overflow a test
    // thread's stack in a debug build.
    let fields = (
        prop_oneof![valid_alias(), any_str(16)].boxed(),
        prop_oneof!["[A-Za-z0-9]{20}", any_str(24)].boxed(),
        prop_oneof![registrable(), any_str(40)].boxed(),
        any::<bool>(),
        prop_oneof![scope_string(), any_str(30)].boxed(),
        // `state` and `nonce` of any text, up to their 4 KiB.
        option::of(prop_oneof![4 => any_str(30), 1 => any_str(1024)]).boxed(),
        option::of(prop_oneof!["[A-Za-z0-9_-]{43}", any_str(10)]).boxed(),
        option::of(prop_oneof![4 => any_str(20), 1 => any_str(1024)]).boxed(),
        prop_oneof![
            select(vec!["code", "token"]).prop_map(str::to_owned),
            any_str(6)
        ]
        .boxed(),
        prop_oneof![1u64..2_000_000_000, 1u64..],
        prop_oneof!["[A-Za-z0-9_-]{22}", any_str(22)].boxed(),
        option::of(prop_oneof![
            select(vec!["en", "fr", "nl", "de"]).prop_map(str::to_owned),
            any_str(8)
        ])
        .boxed(),
    );
    // The provider to connect: a provider name, or any text.
    let upstream = option::of(prop_oneof!["[a-z][a-z0-9-]{0,12}", any_str(8)]).boxed();
    (fields, upstream).prop_map(|((t, c, r, ri, s, st, cc, n, rt, exp, id, l), u)| LoginTx {
        t,
        c,
        r,
        ri,
        s,
        st,
        cc,
        n,
        rt,
        exp,
        id,
        l,
        u,
    })
}

fn mac_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 32),
        1 => vec(any::<u8>(), 0..100),
    ]
}

#[derive(Debug, Clone)]
enum Tamper {
    Replace(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    Append(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<Index>(), 0u8..0x80).prop_map(|(i, b)| Tamper::Replace(i, b)),
        (any::<Index>(), 0u8..0x80).prop_map(|(i, b)| Tamper::Insert(i, b)),
        any::<Index>().prop_map(Tamper::Delete),
        any::<Index>().prop_map(Tamper::Truncate),
        "[A-Za-z0-9_.=-]{1,4}".prop_map(Tamper::Append),
    ]
}

/// A JSON payload near a login transaction: a field removed, retyped or added
/// (`st` and `n` also as text in or out of base64url, or of non-UTF-8 bytes),
/// or a whole transaction in the previous format.
fn json_payload() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any_str(10).prop_map(serde_json::Value::from),
        Just(serde_json::json!([1, "a", null])),
        Just(serde_json::json!({"a": {"b": []}})),
        any_str(10).prop_map(|t| serde_json::Value::from(URL_SAFE_NO_PAD.encode(t))),
        vec(any::<u8>(), 0..12).prop_map(|b| serde_json::Value::from(URL_SAFE_NO_PAD.encode(b))),
        vec(any::<u8>(), 0..12).prop_map(|b| serde_json::Value::from(STANDARD.encode(b))),
        "[A-Za-z0-9_-]{0,12}".prop_map(serde_json::Value::from),
    ];
    let fields = vec![
        "t", "c", "r", "ri", "s", "st", "cc", "n", "rt", "exp", "id", "l", "u", "zz",
    ];
    prop_oneof![
        4 => (login_tx(), select(fields), option::of(value)).prop_map(|(tx, f, v)| {
            let mut j = wire_v2(&tx);
            let o = j.as_object_mut().unwrap();
            match v {
                Some(v) => { o.insert(f.to_owned(), v); }
                None => { o.remove(f); }
            }
            serde_json::to_vec(&j).unwrap()
        }),
        1 => vec(any::<u8>(), 0..120),
        1 => (1usize..5000, select(vec!["[", "{\"t\":", "[{\"a\":"])).prop_map(|(n, u)| u.repeat(n).into_bytes()),
        1 => (login_tx(), vec(mutation(), 1..4)).prop_map(|(tx, m)| {
            apply_mutations(serde_json::to_vec(&wire_v2(&tx)).unwrap(), &m)
        }),
        // v1's `st` and `n` as they are: opens only where they happen to be
        // base64url of UTF-8 text (then as that text).
        1 => (login_tx(), option::of("[A-Za-z0-9_-]{0,12}"), option::of("[A-Za-z0-9_-]{0,12}"))
            .prop_map(|(mut tx, st, n)| {
                tx.st = tx.st.and(st);
                tx.n = tx.n.and(n);
                serde_json::to_vec(&wire_v1(&tx)).unwrap()
            }),
        1 => login_tx().prop_map(|tx| serde_json::to_vec(&wire_v1(&tx)).unwrap()),
    ]
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn login_tx_round_trips_until_expiry(tx in login_tx(), k in mac_key(), before in any::<u64>(), after in any::<u64>()) {
        let sealed = tx.seal(&k);
        // The restated domain signs exactly as `seal` does, what the restated
        // format writes.
        let payload = sealed.split_once('.').unwrap().0;
        prop_assert_eq!(sign(&k, payload), sealed.clone());
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        prop_assert_eq!(json, wire_v2(&tx));
        let now = before % tx.exp;
        prop_assert_eq!(LoginTx::open(&sealed, &k, Now(now)), Some(tx.clone()));
        prop_assert_eq!(LoginTx::open(&sealed, &k, Now(tx.exp - 1)), Some(tx.clone()));
        prop_assert_eq!(LoginTx::open(&sealed, &k, Now(tx.exp)), None);
        prop_assert_eq!(LoginTx::open(&sealed, &k, Now(tx.exp.saturating_add(after))), None);
    }

    #[test]
    fn login_tx_tampered_seals_never_open(tx in login_tx(), k in mac_key(), t in vec(tamper(), 1..3)) {
        let sealed = tx.seal(&k);
        let mut s = sealed.clone().into_bytes();
        for t in &t {
            match t {
                // A seal cut to nothing has no byte to edit.
                Tamper::Replace(..) | Tamper::Delete(_) | Tamper::Truncate(_) if s.is_empty() => {}
                Tamper::Replace(i, b) => {
                    let i = i.index(s.len());
                    // A different byte at that place (the seal is ASCII).
                    s[i] = if s[i] == *b { (b + 1) % 0x80 } else { *b };
                }
                Tamper::Insert(i, b) => {
                    let i = i.index(s.len() + 1);
                    s.insert(i, *b);
                }
                Tamper::Delete(i) => {
                    let i = i.index(s.len());
                    s.remove(i);
                }
                Tamper::Truncate(i) => {
                    let i = i.index(s.len());
                    s.truncate(i);
                }
                Tamper::Append(x) => s.extend_from_slice(x.as_bytes()),
            }
        }
        let s = String::from_utf8(s).unwrap();
        prop_assume!(s != sealed);
        prop_assert_eq!(LoginTx::open(&s, &k, Now(0)), None, "{:?}", s);
    }

    #[test]
    fn login_tx_wrong_keys_never_open(tx in login_tx(), k in mac_key(), other in mac_key()) {
        prop_assume!(hmac_key_block(&k) != hmac_key_block(&other));
        let sealed = tx.seal(&k);
        prop_assert_eq!(LoginTx::open(&sealed, &other, Now(0)), None);
    }

    #[test]
    fn login_tx_random_strings_never_open(
        s in prop_oneof![
            any_str(120),
            "[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{0,60}",
            "[A-Za-z0-9_.=+/-]{0,200}",
            vec(any::<u8>(), 0..120).prop_map(|b| format!("{}.{}", b64url(&b), b64url(&sha256(&b)))),
        ],
        k in mac_key(),
        now in any::<u64>(),
    ) {
        prop_assert_eq!(LoginTx::open(&s, &k, Now(now)), None);
    }

    /// A correctly signed payload of any shape opens iff it is a login
    /// transaction not yet expired; nothing in it can make `open` panic.
    #[test]
    fn login_tx_signed_payloads_classify(payload in json_payload(), k in mac_key(), now in prop_oneof![0u64..2_000_000_000, any::<u64>()]) {
        let sealed = sign(&k, &b64url(&payload));
        prop_assert_eq!(LoginTx::open(&sealed, &k, Now(now)), open_model(&payload, now));
    }

    /// What the previous format's domain signed never opens, in either
    /// format's JSON, however valid and unexpired; and what opens under the
    /// current one is exactly the restated v2 reading.
    #[test]
    fn login_tx_old_format_never_opens(tx in login_tx(), k in mac_key(), before in any::<u64>(), v2_json in any::<bool>()) {
        let now = before % tx.exp;
        let json = if v2_json { wire_v2(&tx) } else { wire_v1(&tx) };
        let payload = serde_json::to_vec(&json).unwrap();
        let old = sign_with(LOGIN_TX_V1_DOMAIN, &k, &b64url(&payload));
        prop_assert_eq!(LoginTx::open(&old, &k, Now(now)), None);
        let new = sign(&k, &b64url(&payload));
        let opened = LoginTx::open(&new, &k, Now(now));
        prop_assert_eq!(&opened, &open_model(&payload, now));
        if v2_json {
            prop_assert_eq!(opened, Some(tx));
        }
    }
}

// ---------------------------------------------------------------------------
// PKCE and base64url
// ---------------------------------------------------------------------------

fn pkce_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any_str(140),
        "[A-Za-z0-9._~-]{40,131}",
        "[A-Za-z0-9_-]{41,45}",
        "[A-Za-z0-9._~+/= -]{40,131}",
        "[A-Za-z0-9_-]{20}[^A-Za-z0-9_-][A-Za-z0-9_-]{22}",
        vec(any::<u8>(), 32).prop_map(|b| b64url(&b)),
    ]
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn pkce_values_are_classified_by_grammar(s in pkce_like()) {
        let unreserved = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        let b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_');
        prop_assert_eq!(
            is_valid_pkce_verifier(&s),
            (43..=128).contains(&s.len()) && s.bytes().all(unreserved)
        );
        prop_assert_eq!(is_valid_s256_challenge(&s), s.len() == 43 && s.bytes().all(b64));
        if is_valid_pkce_verifier(&s) {
            let challenge = b64url(&sha256(s.as_bytes()));
            prop_assert!(is_valid_s256_challenge(&challenge));
            prop_assert!(pkce_s256_matches(&s, &challenge));
        }
        let _ = pkce_s256_matches(&s, &s);
    }

    #[test]
    fn b64url_decode_is_canonical(
        s in prop_oneof![
            any_str(60),
            "[A-Za-z0-9_-]{0,60}",
            "[A-Za-z0-9_+/=-]{0,60}",
            vec(any::<u8>(), 0..40).prop_map(|b| b64url(&b)),
            vec(any::<u8>(), 0..40).prop_map(|b| STANDARD.encode(b)),
        ],
        bytes in vec(any::<u8>(), 0..64),
    ) {
        if let Some(b) = b64url_decode(&s) {
            prop_assert_eq!(b64url(&b), s);
        }
        prop_assert_eq!(b64url_decode(&b64url(&bytes)), Some(bytes));
    }
}
