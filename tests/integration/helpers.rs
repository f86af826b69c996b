//! The harness: the real local stack (`make test` starts it): DynamoDB Local,
//! the Secrets Manager emulator and the functions behind `cargo lambda watch`.
//! Every test provisions its own fresh tenant with the real `tollgate-admin`.

use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use tollgate::store::Db;

pub struct Stack {
    /// `http://127.0.0.1:9000/lambda-url/{function}`
    template: String,
    pub http: reqwest::Client,
    admin_bin: PathBuf,
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let template = std::env::var("TOLLGATE_FUNCTION_URL_TEMPLATE").expect(
            "the local stack's environment is missing: run `make test` (or source .local/env)",
        );
        // target/debug/deps/integration-… → target/debug/tollgate-admin
        let exe = std::env::current_exe().unwrap();
        let admin_bin = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("tollgate-admin");
        assert!(
            admin_bin.exists(),
            "{} is missing: run `cargo build --workspace` first (make test does)",
            admin_bin.display()
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Each #[tokio::test] has its own runtime: a pooled connection
            // would outlive the runtime that opened it.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Stack {
            template,
            http,
            admin_bin,
        }
    })
}

impl Stack {
    pub fn function_base(&self, f: &str) -> String {
        self.template.replace("{function}", f)
    }
}

/// Runs `tollgate-admin` with the stack's environment; `Ok(stdout JSON)` or
/// `Err(stderr)` for a non-zero exit.
pub fn admin(args: &[&str], stdin: Option<&str>) -> Result<Value, String> {
    let out = admin_raw(args, stdin);
    if out.0 {
        Ok(serde_json::from_str(out.1.trim())
            .unwrap_or_else(|e| panic!("stdout not JSON ({e}): {}", out.1)))
    } else {
        assert!(
            out.1.is_empty(),
            "a failed command printed to stdout: {}",
            out.1
        );
        Err(out.2)
    }
}

/// (success, stdout, stderr)
pub fn admin_raw(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(&stack().admin_bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut sin = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            sin.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub async fn admin_async(args: Vec<String>, stdin: Option<String>) -> Result<Value, String> {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        admin(&a, stdin.as_deref())
    })
    .await
    .unwrap()
}

pub fn random_alias() -> String {
    let mut r = rand::thread_rng();
    let s: String = (0..12)
        .map(|_| (b'a' + r.gen_range(0..26)) as char)
        .collect();
    format!("t-{s}")
}

pub async fn db() -> Db {
    Db::new(
        aws_sdk_dynamodb::Client::new(&sdk().await),
        std::env::var("TOLLGATE_TABLE").unwrap(),
    )
}

/// The admin library over `sdk` (as the CLI builds it).
pub fn admin_over(config: tollgate::Config, sdk: &aws_config::SdkConfig) -> tollgate::admin::Admin {
    let clients = tollgate::store::aws::Clients::new(sdk, &config.table);
    tollgate::admin::Admin::new(config, clients)
}

pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

pub fn config() -> tollgate::Config {
    tollgate::Config::from_env()
}

#[derive(Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestClient {
    pub fn secret(&self) -> &str {
        self.secret.as_deref().unwrap()
    }
}

pub struct TestTenant {
    pub alias: String,
}

pub const REDIRECT: &str = "https://client.example/cb";
pub const PASSWORD: &str = "correct horse battery";

impl TestTenant {
    pub async fn new() -> TestTenant {
        Self::with(&[]).await
    }

    pub async fn with(extra: &[&str]) -> TestTenant {
        let alias = random_alias();
        let mut args = vec!["tenant".to_owned(), "create".to_owned(), alias.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        admin_async(args, None).await.unwrap();
        TestTenant { alias }
    }

    pub fn tenant_id(&self) -> tollgate::TenantId {
        tollgate::TenantId::parse(&self.alias).unwrap()
    }

    pub fn issuer(&self) -> String {
        format!(
            "{}/oauth2/{}",
            stack().function_base("discovery"),
            self.alias
        )
    }

    /// `function` base + `/oauth2/{alias}/{tail}`
    pub fn url(&self, function: &str, tail: &str) -> String {
        format!(
            "{}/oauth2/{}/{}",
            stack().function_base(function),
            self.alias,
            tail
        )
    }

    pub fn token_url(&self) -> String {
        self.url("token", "token")
    }

    pub async fn client(&self, args: &[&str]) -> TestClient {
        let mut a: Vec<String> = ["client", "create", "--tenant", &self.alias]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !args.contains(&"--name") {
            a.extend(["--name".to_owned(), "Test App".to_owned()]);
        }
        a.extend(args.iter().map(|s| s.to_string()));
        let v = admin_async(a, None).await.unwrap();
        TestClient {
            id: v["client_id"].as_str().unwrap().to_owned(),
            secret: v["client_secret"].as_str().map(str::to_owned),
        }
    }

    /// A confidential authorization_code client with `REDIRECT` and scope `api`.
    pub async fn code_client(&self) -> TestClient {
        self.client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "api",
        ])
        .await
    }

    pub async fn user(&self, username: &str, extra: &[&str]) -> String {
        let mut a: Vec<String> = [
            "user",
            "create",
            "--tenant",
            &self.alias,
            "--username",
            username,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        let v = admin_async(a, Some(PASSWORD.to_owned())).await.unwrap();
        v["user_id"].as_str().unwrap().to_owned()
    }

    pub async fn authorize(&self, query: &[(&str, &str)]) -> reqwest::Response {
        stack()
            .http
            .get(self.url("authorize", "authorize"))
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// Posts the login form for a page returned by authorize.
    pub async fn submit(
        &self,
        page_html: &str,
        username: &str,
        password: &str,
        decision: &str,
    ) -> reqwest::Response {
        let tx = form_tx(page_html);
        self.callback(&[
            ("tx", &tx),
            ("username", username),
            ("password", password),
            ("decision", decision),
        ])
        .await
    }

    pub async fn callback(&self, form: &[(&str, &str)]) -> reqwest::Response {
        stack()
            .http
            .post(self.url("callback", "callback"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Authorize + login with `allow`: the redirect's query parameters.
    pub async fn login(
        &self,
        client: &TestClient,
        extra: &[(&str, &str)],
        username: &str,
    ) -> Vec<(String, String)> {
        let mut q = vec![("response_type", "code"), ("client_id", client.id.as_str())];
        q.extend_from_slice(extra);
        if !extra.iter().any(|(k, _)| *k == "redirect_uri") {
            q.push(("redirect_uri", REDIRECT));
        }
        let page = self.authorize(&q).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let resp = self.submit(&html, username, PASSWORD, "allow").await;
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "{}",
            resp.text().await.unwrap()
        );
        query_of(location(&resp).as_str())
    }

    /// Login and return just the code.
    pub async fn code(
        &self,
        client: &TestClient,
        extra: &[(&str, &str)],
        username: &str,
    ) -> String {
        param(&self.login(client, extra, username).await, "code").unwrap()
    }

    /// POST to the token endpoint, Basic auth when `basic` is given.
    pub async fn token(
        &self,
        basic: Option<&TestClient>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.post_form(&self.token_url(), basic, form).await
    }

    pub async fn post_form(
        &self,
        url: &str,
        basic: Option<&TestClient>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = stack().http.post(url).form(form);
        if let Some(c) = basic {
            req = req.basic_auth(&c.id, c.secret.as_deref());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if status != StatusCode::NOT_FOUND {
            assert_eq!(
                resp.headers()
                    .get("cache-control")
                    .map(|v| v.to_str().unwrap()),
                Some("no-store"),
                "token responses must not be cached"
            );
        }
        let body = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")),
        )
    }

    /// Password grant for `username` with `PASSWORD`.
    pub async fn password_grant(
        &self,
        client: &TestClient,
        username: &str,
        scope: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", PASSWORD),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        if client.secret.is_some() {
            self.token(Some(client), &form).await
        } else {
            form.push(("client_id", &client.id));
            self.token(None, &form).await
        }
    }

    pub async fn refresh(&self, client: &TestClient, rt: &str) -> (StatusCode, Value) {
        self.token(
            Some(client),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await
    }

    pub async fn jwks(&self) -> Value {
        let r = stack()
            .http
            .get(self.url("discovery", "jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Verifies a JWT against the tenant's published JWKS; returns (header, claims).
    pub async fn verify(&self, jwt: &str, audience: Option<&str>) -> (jsonwebtoken::Header, Value) {
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(self.jwks().await).unwrap();
        let kid = header.kid.clone().expect("kid in header");
        let jwk = jwks.find(&kid).expect("kid published in the JWKS");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.set_issuer(&[self.issuer()]);
        match audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&["exp", "iss", "sub", "iat"]);
        let data = jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap();
        (header, data.claims)
    }
}

pub fn form_tx(html: &str) -> String {
    let marker = "name=\"tx\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no tx field in: {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header (status {})", resp.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query (or, for `#`, the fragment) of a URL as decoded pairs.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    let u = url::Url::parse(url).unwrap();
    let raw = u.fragment().or(u.query()).unwrap_or("");
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

pub fn param(pairs: &[(String, String)], k: &str) -> Option<String> {
    pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
}

pub fn err_code(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("<none>")
}

/// PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    use base64::Engine;
    let verifier = tollgate::crypto::random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(tollgate::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

// ---------------------------------------------------------------------------
// Introspection, revocation, userinfo and CORS (the endpoints' tests share
// these; everything above is untouched).
// ---------------------------------------------------------------------------

/// The time now, as the functions read it (seconds since the epoch).
pub fn now_secs() -> u64 {
    tollgate::Now::system().secs()
}

/// Sleeps until the clock reads at least `secs` (tests that must see a use
/// land in a later second than the token's `iat`). Bounded: never more than
/// 3 s, so a mistake cannot make a test slow.
pub async fn wait_until(secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while now_secs() < secs {
        assert!(
            std::time::Instant::now() < deadline,
            "wait_until({secs}) would sleep more than 3 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The claims of a JWT, not verified (for comparing with an answer).
pub fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWT has a claims part");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url claims");
    serde_json::from_slice(&raw).expect("JSON claims")
}

/// An HTTP answer whose body may be empty or not JSON.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub async fn of(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The names of every `access-control-*` header.
    pub fn cors_headers(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k.starts_with("access-control-"))
            .collect()
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {}", self.status, self.headers, self.body)
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    Answer::of(req.send().await.unwrap()).await
}

/// How a request to a client-authenticated endpoint names its client.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// `client_secret_basic` (for a public client: `id:` with an empty secret).
    Basic(&'a TestClient),
    /// `client_secret_post`, or `client_id` alone for a public client.
    Post(&'a TestClient),
    /// No client authentication at all.
    Nobody,
}

impl Auth<'_> {
    /// Basic for a confidential client, `client_id` in the body for a public one.
    pub fn of(c: &TestClient) -> Auth<'_> {
        if c.secret.is_some() {
            Auth::Basic(c)
        } else {
            Auth::Post(c)
        }
    }
}

/// A tenant with a user (`USER`, name, email and an attribute), a confidential
/// password-grant app and a resource server registered with `--introspect`:
/// what the introspection, revocation and userinfo tests start from.
pub struct World {
    pub t: TestTenant,
    pub user_id: String,
    pub app: TestClient,
    pub rs: TestClient,
}

pub const USER: &str = "alice";
/// Everything the app may ask for at the password grant.
pub const FULL_SCOPE: &str = "api openid profile email";

impl World {
    pub async fn new(tenant_args: &[&str]) -> World {
        let t = TestTenant::with(tenant_args).await;
        let user_id = t
            .user(
                USER,
                &[
                    "--email",
                    "alice@example.com",
                    "--name",
                    "Alice Liddell",
                    "--attr",
                    "tier=gold",
                ],
            )
            .await;
        let app = t
            .client(&["--name", "App", "--grant", "password", "--scope", "api"])
            .await;
        let rs = t
            .client(&[
                "--name",
                "Resource server",
                "--grant",
                "client_credentials",
                "--scope",
                "api",
                "--introspect",
            ])
            .await;
        World {
            t,
            user_id,
            app,
            rs,
        }
    }

    /// A fresh session of `USER` at `client` (password grant): (access token,
    /// refresh token).
    pub async fn session(&self, client: &TestClient, scope: &str) -> (String, String) {
        let (s, v) = self.t.password_grant(client, USER, Some(scope)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        (
            v["access_token"].as_str().unwrap().to_owned(),
            v["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
        )
    }

    /// The resource server's introspection answer.
    pub async fn rs_sees(&self, token: &str) -> Value {
        self.t.introspect(&self.rs, token).await
    }
}

impl TestTenant {
    pub fn introspect_url(&self) -> String {
        self.url("introspect", "introspect")
    }

    pub fn revoke_url(&self) -> String {
        self.url("revoke", "revoke")
    }

    pub fn userinfo_url(&self) -> String {
        self.url("userinfo", "userinfo")
    }

    /// A form POST that names its client as `auth` says, with extra headers.
    pub async fn client_post(
        &self,
        url: &str,
        auth: Auth<'_>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut req = stack().http.post(url);
        match auth {
            Auth::Basic(c) => req = req.basic_auth(&c.id, Some(c.secret.as_deref().unwrap_or(""))),
            Auth::Post(c) => {
                form.push(("client_id", &c.id));
                if let Some(s) = &c.secret {
                    form.push(("client_secret", s));
                }
            }
            Auth::Nobody => {}
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        send(req.form(&form)).await
    }

    /// RFC 7662 as `caller`: asserts 200 and `Cache-Control: no-store`.
    pub async fn introspect(&self, caller: &TestClient, token: &str) -> Value {
        let a = self
            .client_post(
                &self.introspect_url(),
                Auth::of(caller),
                &[("token", token)],
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(
            a.header("cache-control"),
            Some("no-store"),
            "introspection answers are never cached: {a:?}"
        );
        a.json()
    }

    /// RFC 7009 as `caller` (Basic, or `client_id` for a public client).
    pub async fn revoke(&self, caller: &TestClient, token: &str) -> Answer {
        self.client_post(
            &self.revoke_url(),
            Auth::of(caller),
            &[("token", token)],
            &[],
        )
        .await
    }

    /// GET userinfo with `Authorization: Bearer`.
    pub async fn userinfo(&self, token: &str) -> Answer {
        send(stack().http.get(self.userinfo_url()).bearer_auth(token)).await
    }

    /// The tenant's current signing key, read from Secrets Manager: tests mint
    /// tokens with it to move time (an `iat` in the past) instead of sleeping.
    pub async fn signer(&self) -> tollgate::tokens::signer::Signer {
        use tollgate::store::secrets_manager::SecretSource;
        let sm = tollgate::store::secrets_manager::SecretsManager::new(
            aws_sdk_secretsmanager::Client::new(&sdk().await),
        );
        let raw = sm
            .fetch(&config().signing_key_secret(&self.tenant_id()))
            .await
            .unwrap()
            .expect("the tenant's signing key");
        tollgate::tokens::signer::Signer::from_secret(&raw).unwrap()
    }

    /// A real access token's claims changed by `edit`, signed again with the
    /// tenant's current key (a token Tollgate could have issued at another time).
    pub async fn resign(
        &self,
        jwt: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> String {
        let mut claims = jwt_claims(jwt).as_object().unwrap().clone();
        edit(&mut claims);
        self.signer()
            .await
            .sign_jwt("at+jwt", &Value::Object(claims), now_secs())
            .unwrap()
    }
}

/// Client authentication at an RFC 7009 / 7662 endpoint fails as at the token
/// endpoint: `invalid_client`, 401, `WWW-Authenticate: Basic` after Basic,
/// `no-store`; both methods at once is `invalid_request`. `good` is a
/// confidential client of `t`, `public` a public one; `form` the endpoint's
/// otherwise valid parameters.
pub async fn assert_client_auth_errors(
    t: &TestTenant,
    url: &str,
    good: &TestClient,
    public: &TestClient,
    form: &[(&str, &str)],
) {
    let wrong = TestClient {
        id: good.id.clone(),
        secret: Some(format!("{}x", good.secret())),
    };
    let unknown = TestClient {
        id: "AAAAAAAAAAAAAAAAAAAA".to_owned(),
        secret: Some("x".repeat(64)),
    };
    let public_with_secret = TestClient {
        id: public.id.clone(),
        secret: Some("x".repeat(64)),
    };
    let without_secret = TestClient {
        id: good.id.clone(),
        secret: None,
    };
    let cases: Vec<(&str, Auth<'_>, bool)> = vec![
        ("wrong secret, Basic", Auth::Basic(&wrong), true),
        ("wrong secret, in the body", Auth::Post(&wrong), false),
        ("unknown client, Basic", Auth::Basic(&unknown), true),
        ("unknown client, in the body", Auth::Post(&unknown), false),
        (
            "public client with a secret, Basic",
            Auth::Basic(&public_with_secret),
            true,
        ),
        (
            "a confidential client_id without its secret",
            Auth::Post(&without_secret),
            false,
        ),
        (
            "a confidential client as `id:` in Basic",
            Auth::Basic(&without_secret),
            true,
        ),
        ("no client authentication", Auth::Nobody, false),
    ];
    for (what, auth, basic) in cases {
        let a = t.client_post(url, auth, form, &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {a:?}");
        assert_eq!(err_code(&a.json()), "invalid_client", "{what}: {a:?}");
        assert_eq!(a.header("cache-control"), Some("no-store"), "{what}: {a:?}");
        if basic {
            let challenge = a.header("www-authenticate").unwrap_or_else(|| {
                panic!("{what}: a 401 after Basic carries WWW-Authenticate: {a:?}")
            });
            assert!(
                challenge.to_ascii_lowercase().starts_with("basic"),
                "{what}: {challenge}"
            );
        }
    }
    // Basic and client_secret in the body at once.
    let mut both: Vec<(&str, &str)> = form.to_vec();
    both.push(("client_secret", good.secret()));
    let a = t.client_post(url, Auth::Basic(good), &both, &[]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "two methods: {a:?}");
    assert_eq!(err_code(&a.json()), "invalid_request", "two methods: {a:?}");
}
