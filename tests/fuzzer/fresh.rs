//! Fresh material from the stack (valid, unmutated requests): login
//! transactions, codes, refresh and access tokens, handed out by
//! [`Fuzzer::material`].

use super::check::{extract_tx, location_param};
use super::mutate_http::basic;
use super::request::{Draft, Pair, pair};
use super::values::random_token;
use super::{Endpoint, Fuzzer, Kind, Material, PKCE_CHALLENGE, REDIRECT};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

impl Fuzzer {
    pub(super) fn authorize_query(&self, kind: Kind, state: &str) -> Vec<Pair> {
        let t = &self.target;
        match kind {
            Kind::Confidential => vec![
                pair("response_type", "code"),
                pair("client_id", &t.confidential_id),
                pair("redirect_uri", REDIRECT),
                pair("scope", "api openid profile email offline_access"),
                pair("state", state),
                pair("nonce", "n-0S6_WzA2Mj"),
            ],
            Kind::Public => vec![
                pair("response_type", "code"),
                pair("client_id", &t.public_id),
                pair("redirect_uri", REDIRECT),
                pair("scope", "api offline_access"),
                pair("state", state),
                pair("code_challenge", PKCE_CHALLENGE),
                pair("code_challenge_method", "S256"),
            ],
        }
    }

    pub(super) fn route(&self, ep: Endpoint, rng: &mut StdRng) -> String {
        let t = &self.target.tenant;
        match ep {
            Endpoint::Authorize => format!("/oauth2/{t}/authorize"),
            Endpoint::Callback => format!("/oauth2/{t}/callback"),
            Endpoint::Token => format!("/oauth2/{t}/token"),
            Endpoint::Refresh => format!("/oauth2/{t}/refresh"),
            Endpoint::ChangePassword => format!("/oauth2/{t}/token/changepassword"),
            Endpoint::Discovery => match rng.gen_range(0..3) {
                0 => format!("/oauth2/{t}/.well-known/openid-configuration"),
                1 => format!("/.well-known/oauth-authorization-server/oauth2/{t}"),
                _ => format!("/oauth2/{t}/jwks.json"),
            },
            Endpoint::Introspect => format!("/oauth2/{t}/introspect"),
            Endpoint::Revoke => format!("/oauth2/{t}/revoke"),
            Endpoint::Userinfo => format!("/oauth2/{t}/userinfo"),
            // The fuzzed tenant has no connections: a DELETE finds none.
            Endpoint::Connections => match rng.gen_range(0..4) {
                0 | 1 => format!("/oauth2/{t}/connections"),
                2 => format!("/oauth2/{t}/connections/crm"),
                _ => format!("/oauth2/{t}/connections/Not_A-name"),
            },
        }
    }

    async fn fresh_tx(&self, kind: Kind) -> Option<String> {
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Authorize,
            "GET",
            self.route(Endpoint::Authorize, &mut rng),
        );
        d.query = self.authorize_query(kind, &random_token(&mut rng, 12));
        let o = self.exec(d.finish(&self.target), true).await;
        let tx = extract_tx(&String::from_utf8_lossy(&o.body))?;
        self.fresh_lock()
            .tx
            .insert(kind == Kind::Public, tx.clone());
        Some(tx)
    }

    async fn fresh_code(&self, kind: Kind) -> Option<String> {
        let tx = self.fresh_tx(kind).await?;
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Callback,
            "POST",
            self.route(Endpoint::Callback, &mut rng),
        );
        d.body = vec![
            pair("tx", &tx),
            pair("username", &self.target.main_user.0),
            pair("password", &self.target.password),
            pair("decision", "allow"),
        ];
        let o = self.exec(d.finish(&self.target), true).await;
        let code = location_param(&o, "code")?;
        self.fresh_lock()
            .code
            .insert(kind == Kind::Public, code.clone());
        Some(code)
    }

    async fn fresh_refresh(&self, kind: Kind) -> Option<String> {
        let t = &self.target;
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Token,
            "POST",
            self.route(Endpoint::Token, &mut rng),
        );
        d.body = vec![
            pair("grant_type", "password"),
            pair("username", &t.main_user.0),
            pair("password", &t.password),
        ];
        match kind {
            Kind::Confidential => {
                d.body.push(pair("scope", "api openid offline_access"));
                d.set_header(
                    "authorization",
                    basic(&t.confidential_id, &t.confidential_secret),
                );
            }
            Kind::Public => {
                d.body.push(pair("scope", "api offline_access"));
                d.body.push(pair("client_id", &t.public_id));
            }
        }
        let o = self.exec(d.finish(&self.target), true).await;
        let v: Value = serde_json::from_slice(&o.body).ok()?;
        let rt = v.get("refresh_token")?.as_str()?.to_owned();
        let mut f = self.fresh_lock();
        f.refresh.insert(kind == Kind::Public, rt.clone());
        if let Some(at) = v.get("access_token").and_then(Value::as_str) {
            f.access.insert(kind == Kind::Public, at.to_owned());
        }
        Some(rt)
    }

    /// A token request of `kind`'s client, unmutated: `Ok((access, refresh))`,
    /// or `Err(refused)`: `true` when the server answered with a 4xx (the
    /// grant is dead), `false` when it did not answer usefully (try again).
    async fn token_request(
        &self,
        kind: Kind,
        body: Vec<Pair>,
    ) -> Result<(String, Option<String>), bool> {
        let t = &self.target;
        let mut rng = StdRng::from_entropy();
        let mut d = Draft::new(
            Endpoint::Token,
            "POST",
            self.route(Endpoint::Token, &mut rng),
        );
        d.body = body;
        match kind {
            Kind::Confidential => d.set_header(
                "authorization",
                basic(&t.confidential_id, &t.confidential_secret),
            ),
            Kind::Public => d.body.push(pair("client_id", &t.public_id)),
        }
        let o = self.exec(d.finish(&self.target), true).await;
        let refused = o.status.is_some_and(|s| (400..500).contains(&s));
        let v: Value = serde_json::from_slice(&o.body).map_err(|_| refused)?;
        let at = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or(refused)?
            .to_owned();
        let rt = v
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((at, rt))
    }

    /// A fresh user access token (scope with `openid`) from `kind`'s private
    /// session: one rotation of its refresh token; the session starts (a
    /// password grant) when there is none or it died.
    pub(super) async fn fresh_access(&self, kind: Kind) -> Option<String> {
        let t = &self.target;
        let mut session = self.sessions[usize::from(kind == Kind::Public)]
            .lock()
            .await;
        let mut minted = None;
        if let Some(rt) = session.take() {
            match self
                .token_request(
                    kind,
                    vec![
                        pair("grant_type", "refresh_token"),
                        pair("refresh_token", &rt),
                    ],
                )
                .await
            {
                Ok(m) => minted = Some(m),
                // The session is over: start another below.
                Err(true) => {}
                // No answer: the same token again next time (an exact retry
                // within 10 s gets the same successor).
                Err(false) => {
                    *session = Some(rt);
                    return None;
                }
            }
        }
        if minted.is_none() {
            let scope = match kind {
                Kind::Confidential => "api openid profile email offline_access",
                Kind::Public => "api openid offline_access",
            };
            minted = self
                .token_request(
                    kind,
                    vec![
                        pair("grant_type", "password"),
                        pair("username", &t.main_user.0),
                        pair("password", &t.password),
                        pair("scope", scope),
                    ],
                )
                .await
                .ok();
        }
        let (at, rt) = minted?;
        *session = rt;
        drop(session);
        self.fresh_lock()
            .access
            .insert(kind == Kind::Public, at.clone());
        Some(at)
    }

    /// A client_credentials token of the confidential client.
    async fn fresh_client_token(&self) -> Option<String> {
        let (at, _) = self
            .token_request(
                Kind::Confidential,
                vec![
                    pair("grant_type", "client_credentials"),
                    pair("scope", "api"),
                ],
            )
            .await
            .ok()?;
        self.fresh_lock().client_token.insert(false, at.clone());
        Some(at)
    }

    /// A fresh value with probability `p` (or when none is cached), else the
    /// cached one (often already used: replays reach deep code too).
    pub(super) async fn material(
        &self,
        rng: &mut StdRng,
        what: Material,
        kind: Kind,
        p: f64,
    ) -> String {
        // Only the confidential client has client_credentials tokens.
        let kind = if what == Material::ClientToken {
            Kind::Confidential
        } else {
            kind
        };
        let fresh = rng.gen_bool(p);
        let cached = {
            let f = self.fresh_lock();
            let m = match what {
                Material::LoginTx => &f.tx,
                Material::Code => &f.code,
                Material::RefreshToken => &f.refresh,
                Material::AccessToken => &f.access,
                Material::ClientToken => &f.client_token,
            };
            m.get(&(kind == Kind::Public)).cloned()
        };
        if !fresh && let Some(c) = cached {
            return c;
        }
        let got = match what {
            Material::LoginTx => self.fresh_tx(kind).await,
            Material::Code => self.fresh_code(kind).await,
            Material::RefreshToken => self.fresh_refresh(kind).await,
            Material::AccessToken => self.fresh_access(kind).await,
            Material::ClientToken => self.fresh_client_token().await,
        };
        got.or(cached).unwrap_or_else(|| random_token(rng, 43))
    }
}
