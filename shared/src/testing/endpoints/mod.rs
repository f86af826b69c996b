//! Fast tests of every grant and endpoint over the in-memory fakes
//! (`crate::fakes`), with a clock the tests control. Each test provisions its
//! own tenant as `tollgate-admin` would (signing key set and login key in the
//! secrets, client-secret hashes, the tenant, client and user records), then
//! drives the real handlers with `lambda_http` requests and asserts on the
//! responses and on what was stored.
//!
//! Argon2 is the one slow thing (~25 ms a check, serialised by the crate's
//! shared buffer): every user shares one password hash computed once, codes
//! and refresh tokens are planted or obtained without a login where the test
//! is not about the login. Each test is named after the behaviour whose
//! failure it catches.

mod authorize;
mod callback;
mod change_password;
mod client_credentials;
mod code_grant;
mod connect;
mod connections;
mod discovery;
mod introspect;
mod password;
mod refresh;
mod signin;
mod signin_page;
mod tenant_lifecycle;
mod token_exchange;
mod token_input;
mod upstream_token;

use crate::AppState;
use crate::config::Config;
use crate::crypto::{
    client_secret_hash, hash_password, random_alphanumeric, random_token, token_hash,
};
use crate::domain::code_lifetime::CODE_TTL;
use crate::domain::records::{
    AuthCode, Client, DEFAULT_REFRESH_TOKEN_TTL, Grant, SigningAlg, Tenant, User,
};
use crate::ids::{ClientId, TenantId, UserId};
use crate::ports::CodeStore;
use crate::testing::fakes::Fakes;
use crate::tokens::keys::{self, KeySet};
use crate::web::handlers;
use crate::web::handlers::token::Endpoint;
use base64::Engine;
use lambda_http::Body;
use lambda_http::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The fake clock's start.
pub const T0: u64 = 1_700_000_000;
pub const TENANT: &str = "acme";
pub const PASSWORD: &str = "correct horse battery";
pub const REDIRECT: &str = "https://client.example/cb";
pub const AUDIENCE: &str = "https://api.acme.example";
pub const ISSUER: &str = "https://fn.example/discovery/oauth2/acme";
/// The authorize endpoint's origin (login CSRF).
pub const ORIGIN: &str = "https://fn.example";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The tests' one Argon2 hash: every user's password is [`PASSWORD`].
pub fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).unwrap())
        .clone()
}

/// One signing key set for every test's tenant (as `tenant create` makes it).
fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| KeySet::new(keys::generate(SigningAlg::ES256).unwrap(), 0))
}

/// A registered client and, when confidential, its secret.
#[derive(Clone)]
pub struct App {
    pub id: ClientId,
    pub secret: Option<String>,
}

/// A provisioned tenant over fresh fakes, and the state the handlers run on.
pub struct World {
    pub state: AppState,
    pub fakes: Fakes,
    pub tenant: TenantId,
}

impl World {
    /// Tenant `acme` (audience [`AUDIENCE`], 600 s access tokens), its signing
    /// key set and the stack's login key in the secrets; the clock at [`T0`].
    pub fn new() -> World {
        Self::new_with(|_| {})
    }

    /// [`World::new`] with the tenant edited first (e.g. `--sliding-max`).
    pub fn new_with(edit: impl FnOnce(&mut Tenant)) -> World {
        let fakes = Fakes::new(T0);
        let config = Config::from_lookup(|k| match k {
            "TOLLGATE_FUNCTION_URL_TEMPLATE" => Some("https://fn.example/{function}".into()),
            _ => None,
        });
        let tenant = TenantId::parse(TENANT).unwrap();
        let set = key_set();
        fakes.secrets.put(
            config.signing_key_secret(&tenant),
            serde_json::to_string(set).unwrap(),
        );
        fakes
            .secrets
            .put(config.login_key_secret(), random_token(48));
        let mut record = Tenant {
            id: tenant.clone(),
            name: "Acme Inc".into(),
            access_token_ttl: 600,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            audiences: vec![AUDIENCE.into()],
            signing_alg: SigningAlg::ES256,
            public_jwks: set.public_jwks(),
            current_kid: set.current.kid.clone(),
            sliding_max: None,
            key_rotation_days: None,
            branding: Default::default(),
            created_at: T0,
            keys: Default::default(),
            deleting: false,
        };
        edit(&mut record);
        fakes.store.create_tenant(&record).unwrap();
        World {
            state: AppState::with_ports(config, fakes.ports()),
            fakes,
            tenant,
        }
    }

    pub fn now(&self) -> u64 {
        crate::ports::Clock::now(self.fakes.clock.as_ref()).secs()
    }

    pub fn advance(&self, secs: u64) {
        self.fakes.clock.advance(secs);
    }

    /// A client as `client create` writes it: scope `api`, redirect
    /// [`REDIRECT`], confidential unless `edit` makes it public (then PKCE is
    /// required, as the CLI does), its secret's hash in the secrets.
    pub fn client(&self, grants: &[Grant], edit: impl FnOnce(&mut Client)) -> App {
        let id = ClientId::parse(&random_alphanumeric(ClientId::LEN)).unwrap();
        let mut c = Client {
            tenant: self.tenant.clone(),
            client_id: id.clone(),
            name: "Test App".into(),
            grants: grants.to_vec(),
            redirect_uris: vec![REDIRECT.into()],
            scopes: vec!["api".into()],
            public: false,
            require_pkce: false,
            require_offline_access: false,
            web_origins: Vec::new(),
            introspect: false,
            enabled: true,
            created_at: T0,
        };
        edit(&mut c);
        c.require_pkce |= c.public;
        let secret = (!c.public).then(|| random_alphanumeric(64));
        if let Some(s) = &secret {
            self.fakes.secrets.put(
                self.state.config.client_secret_name(&self.tenant, &id),
                client_secret_hash(s),
            );
        }
        self.fakes.store.create_client(&c).unwrap();
        App { id, secret }
    }

    /// A confidential authorization_code client.
    pub fn code_client(&self) -> App {
        self.client(&[Grant::AuthorizationCode], |_| {})
    }

    /// A confidential password-grant client.
    pub fn password_client(&self) -> App {
        self.client(&[Grant::Password], |_| {})
    }

    /// A user with password [`PASSWORD`].
    pub fn user(&self, username: &str, edit: impl FnOnce(&mut User)) -> UserId {
        let id = UserId::parse(&random_token(16)).unwrap();
        let mut u = User {
            tenant: self.tenant.clone(),
            user_id: id.clone(),
            username: username.into(),
            password_hash: password_hash(),
            email: Some(format!("{username}@acme.example")),
            name: Some("Alice Example".into()),
            attrs: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
            require_password_change: false,
            pwd_version: 0,
            enabled: true,
            created_at: T0,
        };
        edit(&mut u);
        self.fakes.store.create_user(&u).unwrap();
        id
    }

    pub fn alice(&self) -> UserId {
        self.user("alice", |_| {})
    }

    pub fn stored_user(&self, id: &UserId) -> User {
        self.fakes.store.user_raw(&self.tenant, id).unwrap()
    }

    /// A code as the callback stores it (60 s from now), for `app` and `user`.
    pub async fn plant_code(
        &self,
        app: &App,
        user: &UserId,
        scope: &str,
        challenge: Option<&str>,
    ) -> String {
        let code = random_token(32);
        let record = AuthCode {
            tenant: self.tenant.clone(),
            code_hash: token_hash(&code),
            client_id: app.id.clone(),
            redirect_uri: REDIRECT.into(),
            redirect_uri_in_request: true,
            scope: scope.into(),
            code_challenge: challenge.map(str::to_owned),
            nonce: Some("n-0S6".into()),
            user_id: user.clone(),
            auth_time: self.now(),
            expires_at: self.now() + CODE_TTL,
            family_id: None,
        };
        self.fakes.store.put(&record).await.unwrap();
        code
    }

    /// A planted code (with PKCE) exchanged: the token response's body.
    pub async fn code_tokens(&self, app: &App, user: &UserId, scope: &str) -> Value {
        let code = self.plant_code(app, user, scope, Some(CHALLENGE)).await;
        let r = self
            .token(
                app,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()
    }

    /// A refresh token from a code exchange.
    pub async fn refresh_token(&self, app: &App, user: &UserId, scope: &str) -> String {
        self.code_tokens(app, user, scope).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    // ---- requests -----------------------------------------------------------

    /// POST to the token endpoint as `app`: Basic for a confidential client,
    /// `client_id` in the body for a public one.
    pub async fn token(&self, app: &App, form: &[(&str, &str)]) -> Resp {
        self.token_at(Endpoint::Token, app, form).await
    }

    pub async fn token_at(&self, endpoint: Endpoint, app: &App, form: &[(&str, &str)]) -> Resp {
        self.token_from(SOURCE_IP, endpoint, app, form).await
    }

    /// [`World::token_at`] from the source address `ip`.
    pub async fn token_from(
        &self,
        ip: &str,
        endpoint: Endpoint,
        app: &App,
        form: &[(&str, &str)],
    ) -> Resp {
        let path = match endpoint {
            Endpoint::Token => "/oauth2/acme/token",
            Endpoint::Refresh => "/oauth2/acme/refresh",
        };
        let mut form = form.to_vec();
        let mut headers = Vec::new();
        let basic;
        match &app.secret {
            Some(s) => {
                basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{}:{s}", app.id))
                );
                headers.push(("authorization", basic.as_str()));
            }
            None => form.push(("client_id", app.id.as_str())),
        }
        let req = form_request_from(ip, path, &form, &headers);
        Resp::from(handlers::token::handle(&self.state, req, endpoint).await)
    }

    /// POST to the token endpoint with exactly these headers and form.
    pub async fn token_raw(&self, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Resp {
        let req = form_request("/oauth2/acme/token", form, headers);
        Resp::from(handlers::token::handle(&self.state, req, Endpoint::Token).await)
    }

    /// Profix change password: client_id and client_secret in the form.
    pub async fn change_password(&self, app: &App, userid: &str, old: &str, new: &str) -> Resp {
        self.change_password_from(SOURCE_IP, app, userid, old, new)
            .await
    }

    /// [`World::change_password`] from the source address `ip`.
    pub async fn change_password_from(
        &self,
        ip: &str,
        app: &App,
        userid: &str,
        old: &str,
        new: &str,
    ) -> Resp {
        let mut form = vec![
            ("client_id", app.id.as_str()),
            ("userid", userid),
            ("password", old),
            ("newpassword", new),
        ];
        if let Some(s) = &app.secret {
            form.push(("client_secret", s));
        }
        let req = form_request_from(ip, "/oauth2/acme/token/changepassword", &form, &[]);
        Resp::from(handlers::change_password::handle(&self.state, req).await)
    }

    /// Password grant for `username` with `password`.
    pub async fn password_grant(&self, app: &App, username: &str, password: &str) -> Resp {
        self.password_grant_from(SOURCE_IP, app, username, password)
            .await
    }

    /// [`World::password_grant`] from the source address `ip`.
    pub async fn password_grant_from(
        &self,
        ip: &str,
        app: &App,
        username: &str,
        password: &str,
    ) -> Resp {
        let form = [
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        self.token_from(ip, Endpoint::Token, app, &form).await
    }

    pub async fn refresh(&self, app: &App, rt: &str, scope: Option<&str>) -> Resp {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token(app, &form).await
    }

    /// GET /oauth2/acme/authorize with this query.
    pub async fn authorize(&self, query: &[(&str, &str)]) -> Resp {
        let uri = format!(
            "/oauth2/acme/authorize?{}",
            crate::web::response::encode_pairs(query)
        );
        let req = lambda_http::http::Request::builder()
            .method("GET")
            .uri(uri)
            .body(Body::Empty)
            .unwrap();
        Resp::from(handlers::authorize::handle(&self.state, req).await)
    }

    /// A code authorization request for `app` (PKCE, state `st-1`): the page.
    pub async fn login_page(&self, app: &App, extra: &[(&str, &str)]) -> Resp {
        let mut q = code_request(app);
        q.extend_from_slice(extra);
        let r = self.authorize(&q).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r
    }

    /// POST the login form, from the login page's origin.
    pub async fn callback(&self, form: &[(&str, &str)]) -> Resp {
        self.callback_from(Some(ORIGIN), form).await
    }

    pub async fn callback_from(&self, origin: Option<&str>, form: &[(&str, &str)]) -> Resp {
        self.callback_from_ip(SOURCE_IP, origin, form).await
    }

    /// [`World::callback_from`] from the source address `ip`.
    pub async fn callback_from_ip(
        &self,
        ip: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> Resp {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        let req = form_request_from(ip, "/oauth2/acme/callback", form, &headers);
        Resp::from(handlers::callback::handle(&self.state, req).await)
    }

    /// Submits the login form of `page` as `username` / `password`.
    pub async fn sign_in(
        &self,
        page: &Resp,
        username: &str,
        password: &str,
        decision: &str,
    ) -> Resp {
        let tx = page.form_tx();
        self.callback(&[
            ("tx", &tx),
            ("username", username),
            ("password", password),
            ("decision", decision),
        ])
        .await
    }

    /// POST `form` to one of the client-authenticated endpoints as `app`
    /// (Basic for a confidential client, `client_id` for a public one).
    pub async fn post_as(&self, path: &str, app: &App, form: &[(&str, &str)]) -> Resp {
        let mut form = form.to_vec();
        let basic;
        let mut headers = Vec::new();
        match &app.secret {
            Some(s) => {
                basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{}:{s}", app.id))
                );
                headers.push(("authorization", basic.as_str()));
            }
            None => form.push(("client_id", app.id.as_str())),
        }
        let req = form_request(path, &form, &headers);
        let resp = if path.ends_with("/introspect") {
            handlers::introspect::handle(&self.state, req).await
        } else if path.ends_with("/revoke") {
            handlers::revoke::handle(&self.state, req).await
        } else {
            handlers::token::handle(&self.state, req, Endpoint::Token).await
        };
        Resp::from(resp)
    }

    /// Introspects `token` as `app`.
    pub async fn introspect(&self, app: &App, token: &str) -> Resp {
        self.post_as("/oauth2/acme/introspect", app, &[("token", token)])
            .await
    }

    /// Revokes `token` as `app`.
    pub async fn revoke(&self, app: &App, token: &str) -> Resp {
        self.post_as("/oauth2/acme/revoke", app, &[("token", token)])
            .await
    }

    /// GET userinfo with `Authorization: Bearer token`.
    pub async fn userinfo(&self, token: &str) -> Resp {
        let req = lambda_http::http::Request::builder()
            .method("GET")
            .uri("/oauth2/acme/userinfo")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::Empty)
            .unwrap();
        Resp::from(handlers::userinfo::handle(&self.state, req).await)
    }

    pub async fn get(&self, path: &str) -> Resp {
        let req = lambda_http::http::Request::builder()
            .method("GET")
            .uri(path)
            .body(Body::Empty)
            .unwrap();
        Resp::from(handlers::discovery::handle(&self.state, req).await)
    }

    /// Verifies a JWT against the tenant's published key; its claims.
    pub fn verify_jwt(&self, jwt: &str) -> Value {
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key_set().current.kid.as_str()));
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(key_set().current.public_jwk.clone()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_issuer(&[ISSUER]);
        v.validate_aud = false;
        // The fake clock is in the past; expiry is checked against it by hand.
        v.validate_exp = false;
        jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
    }
}

/// The source address of the tests' requests unless a test names another
/// (`requestContext.http.sourceIp`, as a function URL reports it).
pub const SOURCE_IP: &str = "192.0.2.10";

fn form_request(
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> lambda_http::Request {
    form_request_from(SOURCE_IP, path, form, headers)
}

/// A form POST as a function URL event from `ip` delivers it.
fn form_request_from(
    ip: &str,
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
    };
    use lambda_http::request::RequestContext;
    let mut b = lambda_http::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.source_ip = Some(ip.to_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    b.body(Body::Text(crate::web::response::encode_pairs(form)))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
}

/// A response, read.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl From<crate::web::response::Response> for Resp {
    fn from(r: crate::web::response::Response) -> Resp {
        let (parts, body) = r.into_parts();
        let body = match body {
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8(b).unwrap(),
            _ => String::new(),
        };
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    pub fn location(&self) -> url::Url {
        let l = self
            .header("location")
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body));
        url::Url::parse(l).unwrap()
    }

    /// A parameter of the Location's query (or fragment).
    pub fn param(&self, name: &str) -> Option<String> {
        let loc = self.location();
        let raw = loc
            .query()
            .or(loc.fragment())
            .unwrap_or_default()
            .to_owned();
        url::form_urlencoded::parse(raw.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The login form's signed transaction.
    pub fn form_tx(&self) -> String {
        let start = self
            .body
            .find("name=\"tx\" value=\"")
            .unwrap_or_else(|| panic!("no tx field: {}", self.body))
            + "name=\"tx\" value=\"".len();
        let len = self.body[start..].find('"').unwrap();
        self.body[start..start + len].to_owned()
    }
}

/// The query of a code authorization request for `app` (PKCE, state `st-1`).
pub fn code_request(app: &App) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", app.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}
