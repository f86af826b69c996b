//! Mutations around the parameters: headers (content type, client
//! authentication, `Origin`), method, path (the tenant segment) and query.

use super::mutate_params::pick_index;
use super::request::{Draft, Pair, escape_bytes, pct_bytes};
use super::values::{long_value, random_ascii, random_bytes, random_token, specials};
use super::{CONFIDENTIAL_ORIGIN, Endpoint, Kind, PUBLIC_ORIGIN, Target};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use rand::rngs::StdRng;

/// Now and then, the `Origin` a browser app of the client would send.
pub(super) fn maybe_origin(rng: &mut StdRng, d: &mut Draft, kind: Kind) {
    if rng.gen_bool(0.3) {
        let origin = match kind {
            Kind::Confidential => CONFIDENTIAL_ORIGIN,
            Kind::Public => PUBLIC_ORIGIN,
        };
        d.set_header("origin", origin.as_bytes().to_vec());
    }
}

pub(super) fn basic(id: &str, secret: &str) -> Vec<u8> {
    let mut raw = Vec::new();
    pct_bytes(&mut raw, id.as_bytes());
    raw.push(b':');
    pct_bytes(&mut raw, secret.as_bytes());
    format!("Basic {}", STANDARD.encode(raw)).into_bytes()
}

pub(super) fn mutate_headers(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    let note = match rng.gen_range(0..4) {
        0 | 1 => {
            let cts: &[&[u8]] = &[
                b"application/json",
                b"text/plain",
                b"multipart/form-data; boundary=xyz",
                b"application/x-www-form-urlencoded; charset=ISO-8859-1",
                b"application/x-www-form-urlencoded;charset=UTF-8",
                b"APPLICATION/X-WWW-FORM-URLENCODED",
                b"application/x-www-form-urlencodedX",
                b"application/x-www-form-urlencoded, text/plain",
                b"",
                b";",
                b"application/x-www-form-urlencoded; charset=\xff\xfe",
                b"text/html",
                b"application/octet-stream",
            ];
            if rng.gen_bool(0.15) {
                d.content_type = None;
                "no content-type".to_owned()
            } else {
                let ct = cts[rng.gen_range(0..cts.len())];
                d.content_type = Some(ct.to_vec());
                format!("content-type {}", escape_bytes(ct, 60))
            }
        }
        2 => {
            let id = &target.confidential_id;
            let sec = &target.confidential_secret;
            let b64 = |s: &[u8]| STANDARD.encode(s).into_bytes();
            let mut opts: Vec<Vec<u8>> = vec![
                b"Basic".to_vec(),
                b"Basic ".to_vec(),
                b"Basic !!!not-base64!!!".to_vec(),
                [b"Basic ".as_slice(), &b64(b"no-colon-here")].concat(),
                [b"Basic ".as_slice(), &b64(b"\xff\xfe:\xff")].concat(),
                [b"Basic ".as_slice(), &b64(b"%zz:%")].concat(),
                [b"Basic ".as_slice(), &b64(b":")].concat(),
                [
                    b"Basic ".as_slice(),
                    &b64(format!("{id}:{sec}:extra").as_bytes()),
                ]
                .concat(),
                [
                    b"Basic ".as_slice(),
                    URL_SAFE_NO_PAD.encode(format!("{id}:{sec}")).as_bytes(),
                ]
                .concat(),
                [
                    b"basic   ".as_slice(),
                    &b64(format!("{id}:{sec}").as_bytes()),
                ]
                .concat(),
                basic(id, &format!("{sec}x")),
                basic(&target.public_id, ""),
                basic(&target.public_id, "x"),
                basic(&"A".repeat(5000), sec),
                basic(id, &"é".repeat(2000)),
                format!("Bearer {}", random_token(rng, 40)).into_bytes(),
                b"Bearer".to_vec(),
                b"Bearer ".to_vec(),
                b"bearer a.b.c".to_vec(),
                format!("Bearer {}", "e".repeat(9000)).into_bytes(),
                b"Bearer \xff\xfe".to_vec(),
                b"Digest username=\"x\"".to_vec(),
                b"Basic \xe9\xe9\xe9".to_vec(),
                [b"Basic ".as_slice(), &b64(&random_bytes(rng, 64))].concat(),
                [b"Basic ".as_slice(), &vec![b'A'; 7000]].concat(),
            ];
            let v = opts.swap_remove(rng.gen_range(0..opts.len()));
            let n = format!("authorization: {}", escape_bytes(&v, 60));
            if rng.gen_bool(0.1) {
                d.headers.retain(|(n, _)| n != "authorization");
                "no authorization".to_owned()
            } else {
                d.set_header("authorization", v);
                n
            }
        }
        _ => {
            let origin = target
                .base("authorize")
                .split('/')
                .take(3)
                .collect::<Vec<_>>()
                .join("/");
            let opts: Vec<Vec<u8>> = vec![
                origin.clone().into_bytes(),
                CONFIDENTIAL_ORIGIN.as_bytes().to_vec(),
                PUBLIC_ORIGIN.as_bytes().to_vec(),
                format!("{CONFIDENTIAL_ORIGIN}/").into_bytes(),
                CONFIDENTIAL_ORIGIN.to_ascii_uppercase().into_bytes(),
                b"null".to_vec(),
                b"https://evil.example".to_vec(),
                format!("{origin}.evil.example").into_bytes(),
                b"\xff\xfe".to_vec(),
                random_ascii(rng, 3000),
            ];
            let v = opts[rng.gen_range(0..opts.len())].clone();
            let h = if rng.gen_bool(0.6) {
                "origin"
            } else {
                "referer"
            };
            let n = format!("{h}: {}", escape_bytes(&v, 40));
            d.set_header(h, v);
            n
        }
    };
    d.note(note);
}

pub(super) fn mutate_method(rng: &mut StdRng, d: &mut Draft) {
    let ms = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "get", "post",
    ];
    d.method = ms[rng.gen_range(0..ms.len())].to_owned();
    d.note(format!("method {}", d.method));
}

fn tenant_variant(target: &Target, rng: &mut StdRng) -> String {
    let t = &target.tenant;
    let opts = [
        t.to_ascii_uppercase(),
        format!("{t}x"),
        "zz-no-such-tenant".to_owned(),
        "a".repeat(63),
        "a".repeat(64),
        "b".repeat(rng.gen_range(100..3000)),
        format!("-{t}"),
        String::new(),
        "..".to_owned(),
        format!("%{:02X}{}", t.as_bytes()[0], &t[1..]),
        format!("{t}%00"),
        format!("{t}%2Fx"),
        "démo".to_owned(),
        "%ff%fe".to_owned(),
        "%".to_owned(),
        "demo".to_owned(),
        format!(" {t}"),
        random_token(rng, 12),
    ];
    opts[rng.gen_range(0..opts.len())].clone()
}

pub(super) fn mutate_path(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    let t = &target.tenant;
    let mut segs: Vec<String> = d.path.split('/').skip(1).map(str::to_owned).collect();
    let note = match rng.gen_range(0..9) {
        0 | 1 => {
            let v = tenant_variant(target, rng);
            let n = format!("tenant segment {}", escape_bytes(v.as_bytes(), 40));
            for s in segs.iter_mut() {
                if s == t {
                    *s = v.clone();
                }
            }
            d.path_mutated = true;
            n
        }
        2 => {
            for s in segs.iter_mut() {
                if s != t {
                    *s = s.to_ascii_uppercase();
                }
            }
            // Same route: fixed segments match without regard to case.
            "fixed segments upper-cased".to_owned()
        }
        3 => {
            segs.push(String::new());
            "trailing slash".to_owned()
        }
        4 => {
            let at = rng.gen_range(0..=segs.len());
            segs.insert(at, {
                let n = rng.gen_range(0..12);
                random_token(rng, n)
            });
            d.path_mutated = true;
            "extra segment".to_owned()
        }
        5 => {
            if let Some(i) = pick_index(rng, segs.len()) {
                segs.remove(i);
            }
            d.path_mutated = true;
            "missing segment".to_owned()
        }
        6 => {
            let n = rng.gen_range(1..6);
            segs = (0..n)
                .map(|_| {
                    let raw = {
                        let n = rng.gen_range(0..20);
                        random_bytes(rng, n)
                    };
                    let mut s = Vec::new();
                    pct_bytes(&mut s, &raw);
                    String::from_utf8_lossy(&s).into_owned()
                })
                .collect();
            d.path_mutated = true;
            "random path".to_owned()
        }
        7 => {
            let n = rng.gen_range(1000..8000);
            segs.push("x".repeat(n));
            d.path_mutated = true;
            format!("path +{n} bytes")
        }
        _ => {
            segs.insert(0, String::new());
            d.path_mutated = true;
            "double slash".to_owned()
        }
    };
    d.path = format!("/{}", segs.join("/"));
    d.note(note);
}

/// Adds query parameters to a POST endpoint (credentials in the query) or a
/// long query string to a GET endpoint.
pub(super) fn mutate_query(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    if (d.endpoint.is_post() || d.endpoint == Endpoint::Userinfo) && rng.gen_bool(0.7) {
        let k = [
            "client_secret",
            "password",
            "refresh_token",
            "code",
            "newpassword",
            "x",
            "token",
            "access_token",
        ][rng.gen_range(0..8)];
        let v = specials(target, rng, k.as_bytes());
        let v = v[rng.gen_range(0..v.len())].clone();
        d.query.push(Pair {
            k: k.as_bytes().to_vec(),
            v,
            raw: false,
        });
        d.note(format!("query {k}"));
    } else {
        let len = rng.gen_range(10_000..100_000);
        let (v, raw, shape) = long_value(rng, len);
        let k = ["state", "nonce", "scope", "login_hint", "junk"][rng.gen_range(0..5)];
        d.query.push(Pair {
            k: k.as_bytes().to_vec(),
            v,
            raw,
        });
        d.note(format!("long query {k} ({len} bytes of {shape})"));
    }
}
