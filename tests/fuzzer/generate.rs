//! Request `i`: a CORS preflight, a random request, or a valid baseline for
//! an endpoint with a few mutations, all drawn from its own seeded `StdRng`.

use super::mutate_http::{
    basic, maybe_origin, mutate_headers, mutate_method, mutate_path, mutate_query,
};
use super::mutate_params::{mutate_body, mutate_params};
use super::request::{Draft, FuzzRequest, Pair, escape_bytes, pair};
use super::values::{random_alnum, random_ascii, random_bytes, random_token};
use super::{
    CONFIDENTIAL_ORIGIN, Endpoint, Fuzzer, Kind, Material, PKCE_VERIFIER, PUBLIC_ORIGIN, REDIRECT,
};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

impl Fuzzer {
    fn victim(&self, rng: &mut StdRng) -> (usize, String, String, String) {
        let i = rng.gen_range(0..self.target.victims.len());
        let (name, id) = self.target.victims[i].clone();
        let pw = self
            .fresh_lock()
            .passwords
            .get(&i)
            .cloned()
            .unwrap_or_else(|| self.target.password.clone());
        (i, name, id, pw)
    }

    /// Client authentication for a POST: Basic, in the body, or public.
    fn client_auth(&self, rng: &mut StdRng, d: &mut Draft, kind: Kind) {
        let t = &self.target;
        match kind {
            Kind::Public => d.body.push(pair("client_id", &t.public_id)),
            Kind::Confidential if rng.gen_bool(0.5) => {
                d.set_header(
                    "authorization",
                    basic(&t.confidential_id, &t.confidential_secret),
                );
            }
            Kind::Confidential => {
                d.body.push(pair("client_id", &t.confidential_id));
                d.body.push(pair("client_secret", &t.confidential_secret));
            }
        }
    }

    /// A valid request for `ep`.
    async fn baseline(&self, rng: &mut StdRng, ep: Endpoint) -> Draft {
        let t = self.target.clone();
        let path = self.route(ep, rng);
        let kind = if rng.gen_bool(0.3) {
            Kind::Public
        } else {
            Kind::Confidential
        };
        match ep {
            Endpoint::Authorize => {
                let mut d = Draft::new(ep, "GET", path);
                d.query = self.authorize_query(kind, &random_token(rng, 16));
                if kind == Kind::Confidential && rng.gen_bool(0.2) {
                    let port = rng.gen_range(1..=65535);
                    d.query[2].v = format!("http://127.0.0.1:{port}/cb").into_bytes();
                }
                match rng.gen_range(0..4) {
                    0 if kind == Kind::Confidential => {
                        d.query[0].v = b"token".to_vec();
                        d.note("implicit");
                    }
                    1 => d.query.push(pair("login_hint", &t.victims[0].0)),
                    2 => d.query.retain(|p| p.k != b"state"),
                    _ => {}
                }
                d
            }
            Endpoint::Callback => {
                let mut d = Draft::new(ep, "POST", path);
                let tx = self.material(rng, Material::LoginTx, kind, 0.5).await;
                let (_, name, _, pw) = self.victim(rng);
                let decision = if rng.gen_bool(0.8) { "allow" } else { "deny" };
                d.body = vec![
                    pair("tx", &tx),
                    pair("username", &name),
                    pair("password", &pw),
                    pair("decision", decision),
                ];
                d
            }
            Endpoint::Token | Endpoint::Refresh => {
                let mut d = Draft::new(ep, "POST", path);
                let grant = if ep == Endpoint::Refresh && rng.gen_bool(0.85) {
                    3
                } else {
                    rng.gen_range(0..5)
                };
                let kind = if grant == 1 { Kind::Confidential } else { kind };
                match grant {
                    0 => {
                        let code = self.material(rng, Material::Code, kind, 0.35).await;
                        d.body = vec![
                            pair("grant_type", "authorization_code"),
                            pair("code", &code),
                            pair("redirect_uri", REDIRECT),
                        ];
                        if kind == Kind::Public {
                            d.body.push(pair("code_verifier", PKCE_VERIFIER));
                        }
                    }
                    1 => {
                        d.body = vec![
                            pair("grant_type", "client_credentials"),
                            pair("scope", "api"),
                        ];
                    }
                    2 => {
                        let (_, name, _, pw) = self.victim(rng);
                        d.body = vec![
                            pair("grant_type", "password"),
                            pair("username", &name),
                            pair("password", &pw),
                            pair("scope", "api offline_access openid"),
                        ];
                    }
                    4 => {
                        // RFC 8693: a user's token as subject, sometimes an actor.
                        let at = self.material(rng, Material::AccessToken, kind, 0.3).await;
                        d.body = vec![
                            pair(
                                "grant_type",
                                "urn:ietf:params:oauth:grant-type:token-exchange",
                            ),
                            pair("subject_token", &at),
                            pair(
                                "subject_token_type",
                                "urn:ietf:params:oauth:token-type:access_token",
                            ),
                        ];
                        if rng.gen_bool(0.4) {
                            let actor = self.material(rng, Material::ClientToken, kind, 0.5).await;
                            d.body.push(pair("actor_token", &actor));
                            d.body.push(pair(
                                "actor_token_type",
                                "urn:ietf:params:oauth:token-type:access_token",
                            ));
                        }
                        if rng.gen_bool(0.3) {
                            d.body.push(pair("scope", "api"));
                        }
                    }
                    _ => {
                        let rt = self.material(rng, Material::RefreshToken, kind, 0.35).await;
                        d.body = vec![
                            pair("grant_type", "refresh_token"),
                            pair("refresh_token", &rt),
                        ];
                        if rng.gen_bool(0.3) {
                            d.body.push(pair("scope", "api"));
                        }
                    }
                }
                self.client_auth(rng, &mut d, kind);
                maybe_origin(rng, &mut d, kind);
                d.body.shuffle(rng);
                d
            }
            Endpoint::Introspect | Endpoint::Revoke => {
                let mut d = Draft::new(ep, "POST", path);
                // Mostly the confidential client (a resource server); a public
                // client may revoke, never introspect.
                let token = match rng.gen_range(0..10) {
                    0..5 => self.material(rng, Material::AccessToken, kind, 0.3).await,
                    5..8 => self.material(rng, Material::RefreshToken, kind, 0.2).await,
                    8 => self.material(rng, Material::ClientToken, kind, 0.5).await,
                    _ => random_token(rng, 43),
                };
                // Another client's token, now and then.
                let kind = if rng.gen_bool(0.15) {
                    match kind {
                        Kind::Public => Kind::Confidential,
                        Kind::Confidential => Kind::Public,
                    }
                } else {
                    kind
                };
                d.body = vec![pair("token", &token)];
                if rng.gen_bool(0.4) {
                    let hint =
                        ["access_token", "refresh_token", "unknown_hint"][rng.gen_range(0..3)];
                    d.body.push(pair("token_type_hint", hint));
                }
                self.client_auth(rng, &mut d, kind);
                maybe_origin(rng, &mut d, kind);
                d.body.shuffle(rng);
                d
            }
            Endpoint::Userinfo => {
                let token = self.material(rng, Material::AccessToken, kind, 0.3).await;
                let bearer = format!("Bearer {token}").into_bytes();
                let mut d = match rng.gen_range(0..10) {
                    0..7 => {
                        let mut d = Draft::new(ep, "GET", path);
                        d.set_header("authorization", bearer);
                        d
                    }
                    7 => {
                        let mut d = Draft::new(ep, "POST", path);
                        d.set_header("authorization", bearer);
                        d
                    }
                    _ => {
                        let mut d = Draft::new(ep, "POST", path);
                        d.form_body = true;
                        d.content_type = Some(b"application/x-www-form-urlencoded".to_vec());
                        d.body = vec![pair("access_token", &token)];
                        d
                    }
                };
                maybe_origin(rng, &mut d, kind);
                d
            }
            Endpoint::Connections => {
                let token = self.material(rng, Material::AccessToken, kind, 0.3).await;
                let method = if path.contains("/connections/") {
                    "DELETE"
                } else {
                    "GET"
                };
                let mut d = Draft::new(ep, method, path);
                d.set_header("authorization", format!("Bearer {token}").into_bytes());
                maybe_origin(rng, &mut d, kind);
                d
            }
            Endpoint::ChangePassword => {
                let mut d = Draft::new(ep, "POST", path);
                let (i, name, id, pw) = self.victim(rng);
                let new = format!("Fz-{}", random_alnum(rng, 14));
                self.client_auth(rng, &mut d, kind);
                d.body.extend([
                    pair("userid", if rng.gen_bool(0.7) { &id } else { &name }),
                    pair("password", &pw),
                    pair("newpassword", &new),
                ]);
                d.victim = Some(i);
                d
            }
            Endpoint::Discovery => {
                let method = if rng.gen_bool(0.1) { "HEAD" } else { "GET" };
                Draft::new(ep, method, path)
            }
        }
    }

    /// A request with nothing valid about it.
    fn random_request(&self, rng: &mut StdRng, ep: Endpoint) -> Draft {
        let path = self.route(ep, rng);
        let method = if ep.is_post() { "POST" } else { "GET" };
        let mut d = Draft::new(ep, method, path);
        match rng.gen_range(0..3) {
            0 => {
                let n = rng.gen_range(0..4000);
                d.body_raw = Some(random_bytes(rng, n));
                d.note(format!("random body of {n} bytes"));
            }
            1 => {
                let n = rng.gen_range(1..40);
                let params: Vec<Pair> = (0..n)
                    .map(|_| Pair {
                        k: {
                            let n = rng.gen_range(0..16);
                            random_ascii(rng, n)
                        },
                        v: {
                            let n = rng.gen_range(0..64);
                            random_ascii(rng, n)
                        },
                        raw: rng.gen_bool(0.3),
                    })
                    .collect();
                if ep.is_post() {
                    d.body = params;
                } else {
                    d.query = params;
                }
                d.note(format!("{n} random parameters"));
            }
            _ => {
                let n = rng.gen_range(0..2000);
                let q = random_ascii(rng, n);
                d.query_raw = Some(q);
                d.note(format!("random query of {n} bytes"));
            }
        }
        if rng.gen_bool(0.3) {
            mutate_method(rng, &mut d);
        }
        if rng.gen_bool(0.3) {
            mutate_path(&self.target, rng, &mut d);
        }
        if rng.gen_bool(0.3) {
            mutate_headers(&self.target, rng, &mut d);
        }
        d
    }

    /// A CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-*`) to any endpoint, authorize and callback
    /// included, from a registered, foreign or malformed origin.
    fn preflight(&self, rng: &mut StdRng) -> Draft {
        let ep = Endpoint::ALL[rng.gen_range(0..Endpoint::ALL.len())];
        let path = self.route(ep, rng);
        let mut d = Draft::new(ep, "OPTIONS", path);
        d.content_type = None;
        d.form_body = false;
        let own = self
            .target
            .base("authorize")
            .split('/')
            .take(3)
            .collect::<Vec<_>>()
            .join("/");
        let origins: Vec<Vec<u8>> = vec![
            CONFIDENTIAL_ORIGIN.as_bytes().to_vec(),
            PUBLIC_ORIGIN.as_bytes().to_vec(),
            CONFIDENTIAL_ORIGIN.as_bytes().to_vec(),
            own.into_bytes(),
            b"https://evil.example".to_vec(),
            format!("{CONFIDENTIAL_ORIGIN}.evil.example").into_bytes(),
            b"null".to_vec(),
            Vec::new(),
            b"\xff\xfe".to_vec(),
            random_ascii(rng, 3000),
        ];
        let origin = origins[rng.gen_range(0..origins.len())].clone();
        let mut note = format!("preflight from {}", escape_bytes(&origin, 40));
        if rng.gen_bool(0.92) {
            d.set_header("origin", origin);
        } else {
            note.push_str(" (no Origin)");
        }
        if rng.gen_bool(0.85) {
            let methods: [&[u8]; 8] = [
                b"POST",
                b"POST",
                b"GET",
                b"PUT",
                b"DELETE",
                b"post",
                b"",
                b"GET, POST",
            ];
            d.set_header(
                "access-control-request-method",
                methods[rng.gen_range(0..methods.len())].to_vec(),
            );
        }
        if rng.gen_bool(0.6) {
            let headers: Vec<Vec<u8>> = vec![
                b"authorization".to_vec(),
                b"authorization,content-type".to_vec(),
                b"Content-Type".to_vec(),
                b"x-requested-with, x-custom".to_vec(),
                b"authorization, cookie".to_vec(),
                random_ascii(rng, 4000),
            ];
            d.set_header(
                "access-control-request-headers",
                headers[rng.gen_range(0..headers.len())].clone(),
            );
        }
        d.note(note);
        if rng.gen_bool(0.2) {
            mutate_path(&self.target, rng, &mut d);
        }
        if rng.gen_bool(0.1) {
            mutate_headers(&self.target, rng, &mut d);
        }
        d
    }

    /// Request `i`: random, a preflight, or a baseline with 0-3 mutations.
    pub async fn generate(&self, i: usize) -> FuzzRequest {
        let mut rng = self.rng(i);
        if rng.gen_bool(0.06) {
            return self.preflight(&mut rng).finish(&self.target);
        }
        let ep = {
            let r = rng.gen_range(0..100);
            match r {
                0..14 => Endpoint::Authorize,
                14..28 => Endpoint::Callback,
                28..50 => Endpoint::Token,
                50..58 => Endpoint::Refresh,
                58..67 => Endpoint::ChangePassword,
                67..75 => Endpoint::Discovery,
                75..84 => Endpoint::Introspect,
                84..92 => Endpoint::Revoke,
                92..97 => Endpoint::Userinfo,
                _ => Endpoint::Connections,
            }
        };
        if rng.gen_bool(0.08) {
            return self.random_request(&mut rng, ep).finish(&self.target);
        }
        let mut d = self.baseline(&mut rng, ep).await;
        let n = match rng.gen_range(0..10) {
            0 => 0,
            1..6 => 1,
            6..9 => 2,
            _ => 3,
        };
        let mut ops: Vec<u8> = (0..n).map(|_| rng.gen_range(0..100)).collect();
        // Body-level mutations work on the encoded body: after the others.
        let form_body = d.form_body;
        ops.sort_by_key(|op| (55..67).contains(op) && form_body);
        for op in ops {
            match op {
                0..55 => mutate_params(&self.target, &mut rng, &mut d),
                55..67 if d.form_body => mutate_body(&mut rng, &mut d),
                55..67 => mutate_query(&self.target, &mut rng, &mut d),
                67..79 => mutate_headers(&self.target, &mut rng, &mut d),
                79..85 => mutate_method(&mut rng, &mut d),
                85..94 => mutate_path(&self.target, &mut rng, &mut d),
                _ => mutate_query(&self.target, &mut rng, &mut d),
            }
        }
        if n == 0 {
            d.note("unmutated");
        }
        d.finish(&self.target)
    }
}
