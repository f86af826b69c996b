//! Mutations of the parameters (pair by pair) and of the encoded body.

use super::request::{Draft, Pair, encode_pairs, escape_bytes, pair};
use super::values::{
    NASTY, long_len, long_value, random_alnum, random_ascii, random_bytes, specials,
};
use super::{MAX_BODY, Target};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;

pub(super) fn pick_index(rng: &mut StdRng, len: usize) -> Option<usize> {
    (len > 0).then(|| rng.gen_range(0..len))
}

fn key_name(p: &Pair) -> String {
    escape_bytes(&p.k, 24)
}

/// Pair-level mutation of the draft's parameters.
pub(super) fn mutate_params(target: &Target, rng: &mut StdRng, d: &mut Draft) {
    let op = rng.gen_range(0..14);
    let params = d.params_mut(rng);
    let note = match op {
        // Drop a parameter.
        0 => match pick_index(rng, params.len()) {
            Some(i) => format!("drop {}", key_name(&params.remove(i))),
            None => "drop (none)".to_owned(),
        },
        // Duplicate one, same or different value.
        1 => match pick_index(rng, params.len()) {
            Some(i) => {
                let mut p = params[i].clone();
                let same = rng.gen_bool(0.5);
                if !same {
                    p.v = random_alnum(rng, 8).into_bytes();
                    p.raw = false;
                }
                let at = rng.gen_range(0..=params.len());
                let n = format!(
                    "duplicate {} ({})",
                    key_name(&p),
                    if same { "same value" } else { "other value" }
                );
                params.insert(at, p);
                n
            }
            None => "duplicate (none)".to_owned(),
        },
        // Repeat one thousands of times.
        2 => match pick_index(rng, params.len()) {
            Some(i) => {
                let n = rng.gen_range(100..6000);
                let p = params[i].clone();
                for _ in 0..n {
                    params.push(p.clone());
                }
                format!("repeat {} x{n}", key_name(&p))
            }
            None => "repeat (none)".to_owned(),
        },
        // Thousands of distinct junk parameters.
        3 => {
            let n = rng.gen_range(100..5000);
            for j in 0..n {
                params.push(pair(&format!("p{j}"), "x"));
            }
            format!("{n} junk parameters")
        }
        // A very long value.
        4 | 5 => match pick_index(rng, params.len()) {
            Some(i) => {
                let len = long_len(rng);
                let (v, raw, shape) = long_value(rng, len);
                params[i].v = v;
                params[i].raw = raw;
                format!("long {} ({len} bytes of {shape})", key_name(&params[i]))
            }
            None => "long (none)".to_owned(),
        },
        // A nasty value.
        6 | 7 => match pick_index(rng, params.len()) {
            Some(i) => {
                let (v, raw) = NASTY[rng.gen_range(0..NASTY.len())];
                params[i].v = v.to_vec();
                params[i].raw = raw;
                format!(
                    "{} = {}{}",
                    key_name(&params[i]),
                    escape_bytes(v, 40),
                    if raw { " (raw)" } else { "" }
                )
            }
            None => "nasty (none)".to_owned(),
        },
        // A field-specific value.
        8 | 9 => match pick_index(rng, params.len()) {
            Some(i) => {
                let opts = specials(target, rng, &params[i].k);
                let v = opts[rng.gen_range(0..opts.len())].clone();
                let n = format!("{} = {}", key_name(&params[i]), escape_bytes(&v, 60));
                params[i].v = v;
                params[i].raw = false;
                n
            }
            None => "special (none)".to_owned(),
        },
        // Mangle a key.
        10 => match pick_index(rng, params.len()) {
            Some(i) => {
                let old = key_name(&params[i]);
                let k = &mut params[i].k;
                match rng.gen_range(0..7) {
                    0 => k.make_ascii_uppercase(),
                    1 => k.push(b' '),
                    2 => k.extend_from_slice("é".as_bytes()),
                    3 => k.clear(),
                    4 => k.extend_from_slice(b"\"\\\x01\x7f<"),
                    5 => *k = vec![b'k'; 5000],
                    _ => {
                        k.extend_from_slice(b"\xff%zz");
                        params[i].raw = true;
                    }
                }
                // Twice, now and then: a repeated name is echoed in errors.
                if rng.gen_bool(0.5) {
                    let p = params[i].clone();
                    params.push(p);
                }
                format!("key {old} -> {}", key_name(&params[i]))
            }
            None => "key (none)".to_owned(),
        },
        // Another parameter's value.
        11 => {
            if params.len() >= 2 {
                let a = rng.gen_range(0..params.len());
                let b = rng.gen_range(0..params.len());
                let v = params[b].v.clone();
                params[a].v = v;
                format!(
                    "{} gets the value of {}",
                    key_name(&params[a]),
                    key_name(&params[b])
                )
            } else {
                "swap (none)".to_owned()
            }
        }
        // Damage a value: truncate, flip or insert a byte.
        12 => match pick_index(rng, params.len()) {
            Some(i) => {
                let v = &mut params[i].v;
                let what = if v.is_empty() {
                    v.push(rng.r#gen());
                    "insert"
                } else {
                    let at = rng.gen_range(0..v.len());
                    match rng.gen_range(0..3) {
                        0 => {
                            v.truncate(at);
                            "truncate"
                        }
                        1 => {
                            v[at] ^= 1 << rng.gen_range(0..8);
                            "flip a bit in"
                        }
                        _ => {
                            v.insert(at, rng.r#gen());
                            "insert a byte into"
                        }
                    }
                };
                format!("{what} {}", key_name(&params[i]))
            }
            None => "damage (none)".to_owned(),
        },
        // A new parameter with a surprising name.
        _ => {
            let names: &[&str] = &[
                "client_secret",
                "client_id",
                "scope",
                "audience",
                "resource",
                "request",
                "request_uri",
                "assertion",
                "client_assertion",
                "client_assertion_type",
                "response_mode",
                "nonce",
                "max_age",
                "claims",
                "id_token_hint",
            ];
            let name = names[rng.gen_range(0..names.len())];
            let v = {
                let n = rng.gen_range(1..200);
                random_ascii(rng, n)
            };
            params.push(Pair {
                k: name.as_bytes().to_vec(),
                v,
                raw: false,
            });
            format!("add {name}")
        }
    };
    d.note(note);
}

/// Body-level mutation (after encoding).
pub(super) fn mutate_body(rng: &mut StdRng, d: &mut Draft) {
    let mut body = d.body_raw.take().unwrap_or_else(|| encode_pairs(&d.body));
    let note = match rng.gen_range(0..8) {
        0 => {
            let at = rng.gen_range(0..=body.len());
            body.truncate(at);
            format!("body truncated at {at}")
        }
        1 => {
            let n = rng.gen_range(1..8);
            for _ in 0..n {
                if body.is_empty() {
                    body.push(rng.r#gen());
                } else {
                    let at = rng.gen_range(0..body.len());
                    body[at] = rng.r#gen();
                }
            }
            format!("{n} random bytes in the body")
        }
        2 => {
            // Just over the limit: 64 KiB + 1..=64 bytes.
            let want = MAX_BODY + rng.gen_range(1..=64);
            if body.len() < want {
                body.extend_from_slice(b"&pad=");
                body.resize(want, b'a');
            }
            format!("body padded to {} bytes (just over 64 KiB)", body.len())
        }
        3 => {
            // Exactly at the limit: must not be 413.
            if body.len() < MAX_BODY {
                body.extend_from_slice(b"&pad=");
                body.resize(MAX_BODY, b'a');
            }
            format!("body padded to {} bytes", body.len())
        }
        4 => {
            let n = rng.gen_range(0..4000);
            body = random_bytes(rng, n);
            format!("body = {n} random bytes")
        }
        5 => {
            // The same parameters as JSON.
            let mut m = serde_json::Map::new();
            for p in &d.body {
                m.insert(
                    String::from_utf8_lossy(&p.k).into_owned(),
                    Value::String(String::from_utf8_lossy(&p.v).into_owned()),
                );
            }
            body = Value::Object(m).to_string().into_bytes();
            if rng.gen_bool(0.5) {
                d.content_type = Some(b"application/json".to_vec());
            }
            "body as JSON".to_owned()
        }
        6 => {
            body.clear();
            "empty body".to_owned()
        }
        _ => {
            let sep: &[u8] = [&b"&"[..], b";", b"\n", b"&&", b"\r\n"][rng.gen_range(0..5)];
            let joined: Vec<u8> = body.split(|b| *b == b'&').collect::<Vec<_>>().join(sep);
            body = joined;
            format!("separator {}", escape_bytes(sep, 4))
        }
    };
    d.body_raw = Some(body);
    d.note(note);
}
