//! Values: what goes into a parameter (parser-breaking bytes, random and
//! long values, and values that are special for a given key).

use super::{LOOPBACK, MAX_BODY, PKCE_CHALLENGE, PKCE_VERIFIER, REDIRECT, Target};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::rngs::StdRng;

/// Values that break parsers: (bytes, raw).
pub(super) const NASTY: &[(&[u8], bool)] = &[
    (b"", false),
    (b" ", false),
    (b"\0", false),
    (b"\0", true),
    (b"api\0openid", false),
    (b"\x01\x02\x1b\x1f\x7f", true),
    (b"\x01\x02\x1b\x1f\x7f", false),
    (b"\r\n\t\x0b\x0c", false),
    (b"\r\nSet-Cookie: x=y", false),
    (b"\"\\", false),
    (b"\"\\<>'&;`", false),
    ("é".as_bytes(), false),
    ("é".as_bytes(), true),
    ("日本語のテキスト".as_bytes(), false),
    ("😀👍🏽".as_bytes(), true),
    ("\u{202e}gnp.exe".as_bytes(), false),
    ("\u{feff}\u{200b}".as_bytes(), false),
    ("ǅ\u{0301}\u{0308}".as_bytes(), false),
    (b"\xff\xfe", true),
    (b"\xff\xfe", false),
    (b"\xc3", false),
    (b"\xc3(", true),
    (b"\xed\xa0\x80", false),
    (b"\xc0\xaf", false),
    (b"\xf4\x90\x80\x80", false),
    (b"%", true),
    (b"%G1", true),
    (b"%zz", true),
    (b"%%", true),
    (b"%4", true),
    (b"%00", true),
    (b"%ff%fe", true),
    (b"%C3%28", true),
    (b"%ED%A0%80", true),
    (b"%u0041", true),
    (b"%%32%35", true),
    (b"+", true),
    (b"+++", true),
    (b"%2B", true),
    (b"a=b&c=d", true),
    (b"=", true),
    (b"&&&", true),
    (b"null", false),
    (b"0", false),
    (b"-1", false),
    (b"99999999999999999999999999999999", false),
    (b"[]", false),
    (b"{\"a\":1}", false),
    (b"true", false),
    (b"../../../etc/passwd", false),
    (b"<script>alert(1)</script>", false),
    (b"${jndi:ldap://x/a}", false),
    (b"%s%s%n%x", false),
];

pub(super) fn random_ascii(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.gen_range(0x20u8..0x7f)).collect()
}

pub(super) fn random_alnum(rng: &mut StdRng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

pub(super) fn random_token(rng: &mut StdRng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..n)
        .map(|_| A[rng.gen_range(0..A.len())] as char)
        .collect()
}

pub(super) fn random_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.r#gen::<u8>()).collect()
}

/// A value of `len` bytes in one of several shapes. Returns (bytes, raw).
pub(super) fn long_value(rng: &mut StdRng, len: usize) -> (Vec<u8>, bool, &'static str) {
    match rng.gen_range(0..6) {
        0 => (vec![b'A'; len], false, "A"),
        1 => (random_alnum(rng, len).into_bytes(), false, "alnum"),
        2 => ("é".repeat(len / 2).into_bytes(), false, "é"),
        3 => (random_ascii(rng, len), false, "printable"),
        4 => (b"%41".repeat(len / 3), true, "%41"),
        _ => (random_bytes(rng, len), false, "random bytes"),
    }
}

pub(super) fn long_len(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..4) {
        0 => rng.gen_range(10_000..20_000),
        1 => rng.gen_range(20_000..MAX_BODY - 200),
        2 => rng.gen_range(MAX_BODY - 200..MAX_BODY + 200),
        _ => rng.gen_range(MAX_BODY..100_000),
    }
}

/// Field-specific values that are plausible but wrong (or right).
pub(super) fn specials(target: &Target, rng: &mut StdRng, key: &[u8]) -> Vec<Vec<u8>> {
    let s = |v: &str| v.as_bytes().to_vec();
    let mut out: Vec<Vec<u8>> = match key {
        b"subject_token_type" | b"actor_token_type" | b"requested_token_type" => [
            "urn:ietf:params:oauth:token-type:access_token",
            "urn:ietf:params:oauth:token-type:jwt",
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:ietf:params:oauth:token-type:refresh_token",
            "urn:ietf:params:oauth:token-type:saml2",
            "",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"grant_type" => [
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "implicit",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:device_code",
            "AUTHORIZATION_CODE",
            "password ",
            "refresh_token\0",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"scope" => {
            let many: Vec<String> = (0..rng.gen_range(60..3000))
                .map(|i| format!("s{i}"))
                .collect();
            vec![
                s("api"),
                s("openid"),
                s("api api api"),
                s("offline_access"),
                s("api openid profile email offline_access"),
                s("unknown-scope"),
                s("API"),
                s("api\topenid"),
                s("  api  "),
                many.join(" ").into_bytes(),
                "api ".repeat(rng.gen_range(65..5000)).into_bytes(),
            ]
        }
        b"redirect_uri" => vec![
            s(REDIRECT),
            s("https://evil.example/cb"),
            format!("{REDIRECT}?x=1").into_bytes(),
            format!("{REDIRECT}#frag").into_bytes(),
            format!("{REDIRECT}/").into_bytes(),
            s("HTTPS://CLIENT.EXAMPLE/cb"),
            s("http://client.example/cb"),
            s(LOOPBACK),
            s("http://127.0.0.1:1/cb"),
            s("http://127.0.0.1:65535/cb"),
            s("http://127.0.0.1:65536/cb"),
            s("http://127.0.0.1:0/cb"),
            s("http://127.0.0.1:08080/cb"),
            s("http://127.0.0.1:99999999999999999999/cb"),
            s("http://127.0.0.1:/cb"),
            s("http://127.0.0.1:8080"),
            s("http://127.0.0.1:8080/cb?x=%0d%0a"),
            s("http://127.0.0.1:8080/cb#x"),
            s("http://127.0.0.1:8080/CB"),
            s("http://127.0.0.1.evil.example/cb"),
            s("http://[::1]:65535/cb"),
            s("javascript:alert(1)"),
            s("data:text/html,<b>x</b>"),
            s("https://client.example/cb/../cb"),
            s("https://client.example:443/cb"),
            s("https://client.example@evil.example/cb"),
            s("//evil.example/cb"),
            s("not a url"),
            format!("{REDIRECT}{}", "a".repeat(rng.gen_range(1990..3000))).into_bytes(),
        ],
        b"response_type" => [
            "code",
            "token",
            "code token",
            "id_token",
            "CODE",
            "none",
            " code",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"code_challenge_method" => ["S256", "plain", "s256", "S512", "S256 "]
            .iter()
            .map(|v| s(v))
            .collect(),
        b"code_challenge" | b"code_verifier" => vec![
            s(PKCE_CHALLENGE),
            s(PKCE_VERIFIER),
            random_token(rng, 42).into_bytes(),
            random_token(rng, 43).into_bytes(),
            random_token(rng, 128).into_bytes(),
            random_token(rng, 129).into_bytes(),
            s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGCCwAnQ8c="),
            s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGCCwAn+/c"),
            "é".repeat(43).into_bytes(),
        ],
        b"client_id" => vec![
            s(&target.confidential_id),
            s(&target.public_id),
            s(&target.confidential_id.to_ascii_lowercase()),
            s(&target.confidential_id[..19]),
            format!("{}x", target.confidential_id).into_bytes(),
            random_alnum(rng, 20).into_bytes(),
            format!("{} ", target.confidential_id).into_bytes(),
        ],
        b"client_secret" => vec![
            s(&target.confidential_secret),
            format!("{}x", target.confidential_secret).into_bytes(),
            s(&target.confidential_secret[..63]),
            s(&target.confidential_secret.to_ascii_uppercase()),
            random_alnum(rng, 64).into_bytes(),
        ],
        b"decision" => ["allow", "deny", "ALLOW", "allow deny", "maybe"]
            .iter()
            .map(|v| s(v))
            .collect(),
        b"prompt" => ["none", "login", "consent none", "select_account"]
            .iter()
            .map(|v| s(v))
            .collect(),
        b"code" | b"refresh_token" | b"token" | b"access_token" => {
            let mut v: Vec<Vec<u8>> = [1, 22, 43, 44, 255, 256, 257, 4096, 8193]
                .iter()
                .map(|n| random_token(rng, *n).into_bytes())
                .collect();
            // JWT-shaped: three parts, a header that parses, or not.
            let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
            let c = URL_SAFE_NO_PAD.encode(r#"{"iss":"x","sub":"y","exp":99999999999}"#);
            v.push(format!("{h}.{c}.").into_bytes());
            v.push(format!("{h}.{c}.{}", random_token(rng, 86)).into_bytes());
            v.push(b"a.b.c".to_vec());
            v.push(b"..".to_vec());
            v.push(
                format!(
                    "eyJ{}.eyJ{}.{}",
                    random_token(rng, 30),
                    random_token(rng, 200),
                    random_token(rng, 86)
                )
                .into_bytes(),
            );
            v
        }
        b"token_type_hint" => [
            "access_token",
            "refresh_token",
            "id_token",
            "ACCESS_TOKEN",
            "urn:ietf:params:oauth:token-type:jwt",
            "",
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
        b"username" | b"userid" | b"login_hint" => {
            let (name, id) = &target.victims[rng.gen_range(0..target.victims.len())];
            vec![
                s(name),
                s(id),
                s(&name.to_ascii_uppercase()),
                format!(" {name} ").into_bytes(),
                format!("{name}@{}", target.tenant).into_bytes(),
                s("nobody-at-all"),
                random_token(rng, 64).into_bytes(),
                random_token(rng, 65).into_bytes(),
                random_ascii(rng, 257),
            ]
        }
        b"password" | b"newpassword" => vec![
            s(&target.password),
            s("x"),
            s("short"),
            random_ascii(rng, 256),
            random_ascii(rng, 257),
            random_ascii(rng, 1025),
            "é".repeat(200).into_bytes(),
        ],
        b"tx" => vec![
            random_token(rng, 300).into_bytes(),
            s("a.b"),
            s(".."),
            s("eyJhbGciOiJub25lIn0.e30."),
        ],
        _ => Vec::new(),
    };
    out.push({
        let n = rng.gen_range(1..64);
        random_ascii(rng, n)
    });
    out
}
