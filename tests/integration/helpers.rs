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
