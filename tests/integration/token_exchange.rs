//! Token exchange (RFC 8693) against the real stack (SPEC: Token → token
//! exchange, Trusted issuers): delegation with a local subject, and external
//! subjects from a real OpenID provider — node-oidc-provider, started and
//! stopped here on 127.0.0.1 (`tests/idp/server.mjs`) — and from another
//! Tollgate tenant, found through their discovery documents and JWKS.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tollgate::crypto::b64url;
use tollgate::ports::FederationStore;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const IDP_SECRET: &str = "idp-secret-idp-secret-idp-secret-idp-secret-0000";
/// The `aud` of the provider's JWT access tokens.
const IDP_API: &str = "https://api.partner.example";

// ---- the external provider ---------------------------------------------------

/// node-oidc-provider on 127.0.0.1, stopped on drop.
pub(crate) struct Idp {
    child: Option<Child>,
    port: u16,
    keys: std::path::PathBuf,
    /// More environment for `server.mjs` (kept across a rotation).
    env: Vec<(String, String)>,
    pub(crate) issuer: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_idp(port: u16, keys: &std::path::Path, rotate: bool, env: &[(String, String)]) -> Child {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("idp");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "tests/idp/node_modules is missing: run `make deps` (make test does)"
    );
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .env("IDP_PORT", port.to_string())
        .env("IDP_KEYS", keys)
        .env("IDP_ROTATE", if rotate { "1" } else { "0" })
        .env("IDP_AUDIENCE", IDP_API)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node (Node.js 20) must be on PATH");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("ready"),
        "the provider did not start: {line:?}"
    );
    // Keep draining its stdout: a closed pipe would kill it at its next notice.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    child
}

impl Idp {
    pub(crate) fn start() -> Idp {
        Idp::start_with(&[])
    }

    /// Started with more environment (`IDP_REDIRECT_URIS`, `IDP_AT_TTL`: see
    /// `tests/idp/server.mjs`).
    pub(crate) fn start_with(env: &[(&str, &str)]) -> Idp {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let port = free_port();
        let keys =
            std::env::temp_dir().join(format!("tollgate-idp-{}-{port}.json", random_alias()));
        let child = spawn_idp(port, &keys, false, &env);
        Idp {
            child: Some(child),
            port,
            keys,
            env,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Restarts the provider with a new signing key in front; the old one
    /// stays published.
    fn rotate(&mut self) {
        self.stop();
        self.child = Some(spawn_idp(self.port, &self.keys, true, &self.env));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn post(&self, client: &str, form: &[(&str, &str)]) -> Value {
        let r = stack()
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(IDP_SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    /// An id_token for `sub`, minted by the provider for `client` (its `aud`).
    async fn id_token(&self, client: &str, sub: &str, extra: &[(&str, &str)]) -> String {
        let mut form = vec![
            ("grant_type", "urn:tollgate:test:id-token"),
            ("sub", sub),
            ("name", "Pat Partner"),
            ("email", "pat@partner.example"),
        ];
        form.extend_from_slice(extra);
        self.post(client, &form).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An RFC 9068 JWT access token (client_credentials: `sub` is `client`).
    async fn access_token(&self, client: &str) -> String {
        self.post(
            client,
            &[("grant_type", "client_credentials"), ("scope", "api")],
        )
        .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        stack()
            .http
            .get(format!("{}{path}", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn jwks_fetches(&self) -> u64 {
        self.get("/test/stats").await["jwks_fetches"]
            .as_u64()
            .unwrap()
    }

    async fn public_jwk(&self) -> Value {
        self.get("/jwks").await["keys"][0].clone()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.keys);
    }
}

// ---- helpers -----------------------------------------------------------------

/// `tollgate-admin` arguments as `admin_async` takes them.
fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

async fn exchange(
    t: &TestTenant,
    client: &TestClient,
    subject: &str,
    kind: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", kind),
    ];
    form.extend_from_slice(extra);
    t.token(Some(client), &form).await
}

async fn exchanger(t: &TestTenant) -> TestClient {
    t.client(&[
        "--name",
        "Orders service",
        "--grant",
        "token_exchange",
        "client_credentials",
        "--scope",
        "api",
        "openid",
    ])
    .await
}

fn assert_refused(what: &str, (status, v): &(StatusCode, Value), code: &str) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{what}: {v}");
    assert_eq!(err_code(v), code, "{what}: {v}");
}

async fn trust(t: &TestTenant, issuer: &str, audiences: &[&str], extra: &[&str]) {
    let mut a = vec![
        "issuer".to_owned(),
        "add".to_owned(),
        "--tenant".to_owned(),
        t.alias.clone(),
        "--issuer".to_owned(),
        issuer.to_owned(),
        "--audience".to_owned(),
    ];
    a.extend(audiences.iter().map(|s| s.to_string()));
    a.extend(extra.iter().map(|s| s.to_string()));
    admin_async(a, None).await.unwrap();
}

async fn link(t: &TestTenant, user: &str, issuer: &str, subject: &str) -> Result<Value, String> {
    admin_async(
        args(&[
            "user",
            "link",
            "--tenant",
            &t.alias,
            "--user-id",
            user,
            "--issuer",
            issuer,
            "--subject",
            subject,
        ]),
        None,
    )
    .await
}

// ---- delegation ----------------------------------------------------------------

/// A service holding a user's token gets a down-scoped token for another
/// audience, with itself recorded in `act`.
#[tokio::test]
async fn delegation_gets_a_down_scoped_token_for_another_audience_with_the_caller_in_act() {
    let w = World::new(&[
        "--audience",
        "https://orders.example",
        "--audience",
        "https://billing.example",
    ])
    .await;
    let app =
        w.t.client(&[
            "--name", "App", "--grant", "password", "--scope", "api", "openid", "profile",
        ])
        .await;
    let (subject, refresh) = w.session(&app, "api openid profile").await;
    let svc = exchanger(&w.t).await;
    let (_, cc) =
        w.t.token(
            Some(&svc),
            &[("grant_type", "client_credentials"), ("scope", "api")],
        )
        .await;
    let actor = cc["access_token"].as_str().unwrap();
    let (status, v) = exchange(
        &w.t,
        &svc,
        &subject,
        AT,
        &[
            ("scope", "api"),
            ("audience", "https://billing.example"),
            ("actor_token", actor),
            ("actor_token_type", AT),
            ("requested_token_type", AT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["issued_token_type"], AT);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "api");
    assert!(v["expires_in"].as_u64().unwrap() <= 600);
    assert!(v.get("refresh_token").is_none(), "{v}");
    let token = v["access_token"].as_str().unwrap();
    let (header, c) = w.t.verify(token, Some("https://billing.example")).await;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(c["sub"], w.user_id);
    assert_eq!(c["client_id"], svc.id);
    assert_eq!(c["act"], json!({"sub": svc.id, "client_id": svc.id}));
    assert_eq!(c["scope"], "api");
    assert!(c["exp"].as_u64().unwrap() <= jwt_claims(&subject)["exp"].as_u64().unwrap());
    // Resource servers see it, and it dies with the user's session.
    let seen = w.rs_sees(token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], svc.id);
    let r =
        w.t.client_post(
            &w.t.revoke_url(),
            Auth::of(&app),
            &[("token", &refresh)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(w.rs_sees(token).await, json!({"active": false}));
    // Nor can the revoked subject be exchanged again.
    assert_refused(
        "revoked subject",
        &exchange(&w.t, &svc, &subject, AT, &[]).await,
        "invalid_request",
    );
}

#[tokio::test]
async fn exchange_refusals_by_rule() {
    let w = World::new(&["--audience", "https://orders.example"]).await;
    let (subject, _) = w.session(&w.app, "api").await;
    let svc = exchanger(&w.t).await;
    assert_refused(
        "scope growth",
        &exchange(&w.t, &svc, &subject, AT, &[("scope", "api openid")]).await,
        "invalid_scope",
    );
    assert_refused(
        "an audience the tenant does not serve",
        &exchange(
            &w.t,
            &svc,
            &subject,
            AT,
            &[("audience", "https://evil.example")],
        )
        .await,
        "invalid_target",
    );
    let cc_only =
        w.t.client(&["--grant", "client_credentials", "--scope", "api"])
            .await;
    assert_refused(
        "client not registered for the grant",
        &exchange(&w.t, &cc_only, &subject, AT, &[]).await,
        "unauthorized_client",
    );
    // A public client cannot even be registered for it …
    let e = admin_async(
        args(&[
            "client",
            "create",
            "--tenant",
            &w.t.alias,
            "--name",
            "SPA",
            "--grant",
            "token_exchange",
            "--public",
        ]),
        None,
    )
    .await
    .unwrap_err();
    assert!(e.contains("--public"), "{e}");
    // … and one that sends only its client_id is refused.
    let public =
        w.t.client(&["--grant", "password", "--public", "--scope", "api"])
            .await;
    let (s, v) =
        w.t.token(
            None,
            &[
                ("grant_type", GRANT),
                ("client_id", &public.id),
                ("subject_token", &subject),
                ("subject_token_type", AT),
            ],
        )
        .await;
    assert_refused("public client", &(s, v), "unauthorized_client");
    assert_refused(
        "requested a refresh token",
        &exchange(
            &w.t,
            &svc,
            &subject,
            AT,
            &[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            )],
        )
        .await,
        "invalid_request",
    );
    assert_refused(
        "garbage subject",
        &exchange(&w.t, &svc, "garbage", AT, &[]).await,
        "invalid_request",
    );
}

// ---- another Tollgate tenant as the issuer ------------------------------------

#[tokio::test]
async fn a_token_of_another_tenant_is_exchanged_only_through_trust() {
    let b = World::new(&[]).await;
    let (b_token, _) = b.session(&b.app, "api").await;
    let a = TestTenant::with(&["--audience", "https://a-api.example"]).await;
    let svc = exchanger(&a).await;
    // As this tenant's access token it is someone else's: refused.
    assert_refused(
        "another tenant's token as a local one",
        &exchange(&a, &svc, &b_token, AT, &[]).await,
        "invalid_request",
    );
    // At a tenant that does not trust B: refused. (Another tenant than A:
    // functions cache a trusted-issuer lookup, absent ones too, for 30 s.)
    let c = TestTenant::new().await;
    assert_refused(
        "untrusted tenant",
        &exchange(&c, &exchanger(&c).await, &b_token, JWT, &[]).await,
        "invalid_request",
    );
    // Tenant A trusts tenant B's issuer (its tokens' default aud is that issuer).
    // B's discovery function is warmed first: a cold `cargo lambda watch`
    // sandbox can take longer than Tollgate's 3 s fetch timeout to start.
    for tail in [".well-known/openid-configuration", "jwks.json"] {
        let r = stack()
            .http
            .get(b.t.url("discovery", tail))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    trust(&a, &b.t.issuer(), &[&b.t.issuer()], &["--create-users"]).await;
    let (status, v) = exchange(&a, &svc, &b_token, JWT, &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, c) = a
        .verify(
            v["access_token"].as_str().unwrap(),
            Some("https://a-api.example"),
        )
        .await;
    assert_ne!(c["sub"], b.user_id, "a user of tenant A, not B's id");
    assert_eq!(c["name"], "Alice Liddell", "name copied from B's token");
    // B's tokens do not say the address was verified: it is not copied.
    assert!(c.get("email").is_none(), "{c}");
    // Exchanging again maps to the same user.
    let (_, again) = exchange(&a, &svc, &b_token, JWT, &[]).await;
    assert_eq!(
        jwt_claims(again["access_token"].as_str().unwrap())["sub"],
        c["sub"]
    );
}

// ---- node-oidc-provider -------------------------------------------------------

#[tokio::test]
async fn node_oidc_provider_tokens_are_exchanged_for_linked_users() {
    let idp = Idp::start();
    let t = TestTenant::with(&["--audience", "https://orders.example"]).await;
    let svc = exchanger(&t).await;
    trust(
        &t,
        &idp.issuer,
        &["partner-app", "partner-rs", "partner-ps", IDP_API],
        &[],
    )
    .await;
    let alice = t.user("alice", &["--name", "Alice Local"]).await;
    let robot = t.user("partner-robot", &[]).await;
    link(&t, &alice, &idp.issuer, "ext-alice").await.unwrap();
    link(&t, &robot, &idp.issuer, "partner-app").await.unwrap();
    // id_tokens signed ES256, RS256 and PS256 by the provider.
    for client in ["partner-app", "partner-rs", "partner-ps"] {
        let idt = idp.id_token(client, "ext-alice", &[]).await;
        let (status, v) = exchange(&t, &svc, &idt, ID_TOKEN, &[("scope", "api")]).await;
        assert_eq!(status, StatusCode::OK, "{client}: {v}");
        let (_, c) = t.verify(v["access_token"].as_str().unwrap(), None).await;
        assert_eq!(c["sub"], alice, "{client}");
        assert_eq!(c["name"], "Alice Local", "the local user's claims");
        assert_eq!(c["scope"], "api");
    }
    // The provider's RFC 9068 access token (client_credentials: sub = partner-app).
    let at = idp.access_token("partner-app").await;
    let (status, v) = exchange(&t, &svc, &at, JWT, &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        jwt_claims(v["access_token"].as_str().unwrap())["sub"],
        robot
    );
    // The same subject unlinked, or never linked: refused.
    let e = link(&t, &robot, &idp.issuer, "ext-alice")
        .await
        .unwrap_err();
    assert!(e.contains("already linked"), "{e}");
    admin_async(
        args(&[
            "user",
            "unlink",
            "--tenant",
            &t.alias,
            "--user-id",
            &alice,
            "--issuer",
            &idp.issuer,
            "--subject",
            "ext-alice",
        ]),
        None,
    )
    .await
    .unwrap();
    let idt = idp.id_token("partner-app", "ext-alice", &[]).await;
    assert_refused(
        "unlinked subject",
        &exchange(&t, &svc, &idt, ID_TOKEN, &[]).await,
        "invalid_request",
    );
    // Deleting a user deletes its links.
    admin_async(
        args(&["user", "delete", "--tenant", &t.alias, "--user-id", &robot]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        db().await
            .linked_user(&t.tenant_id(), &idp.issuer, "partner-app")
            .await
            .unwrap(),
        None
    );
    let listed = admin_async(args(&["issuer", "list", "--tenant", &t.alias]), None)
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["issuer"], idp.issuer);
}

#[tokio::test]
async fn create_users_makes_one_user_for_concurrent_first_exchanges() {
    let idp = Idp::start();
    let t = TestTenant::new().await;
    let svc = exchanger(&t).await;
    trust(&t, &idp.issuer, &["partner-app"], &["--create-users"]).await;
    let idt = idp.id_token("partner-app", "newcomer-42", &[]).await;
    let answers =
        futures::future::join_all((0..6).map(|_| exchange(&t, &svc, &idt, ID_TOKEN, &[]))).await;
    let subs: Vec<Value> = answers
        .iter()
        .map(|(s, v)| {
            assert_eq!(*s, StatusCode::OK, "{v}");
            jwt_claims(v["access_token"].as_str().unwrap())["sub"].clone()
        })
        .collect();
    assert!(subs.iter().all(|s| *s == subs[0]), "{subs:?}");
    let users = admin_async(args(&["user", "list", "--tenant", &t.alias]), None)
        .await
        .unwrap();
    let items = users["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{users}");
    let id = subs[0].as_str().unwrap();
    let user = admin_async(
        args(&["user", "get", "--tenant", &t.alias, "--user-id", id]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(user["name"], "Pat Partner");
    assert_eq!(user["email"], "pat@partner.example");
}

/// Every forged or stale token is `invalid_request`, never a 5xx.
#[tokio::test]
async fn forged_and_stale_provider_tokens_are_invalid_request() {
    let idp = Idp::start();
    let other = Idp::start();
    let t = TestTenant::new().await;
    let svc = exchanger(&t).await;
    trust(&t, &idp.issuer, &["partner-app"], &["--create-users"]).await;
    let now = now_secs();
    let good = idp.id_token("partner-app", "victim", &[]).await;
    let claims = jwt_claims(&good);
    let header: Value = serde_json::from_slice(
        &tollgate::crypto::b64url_decode(good.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    let enc = |v: &Value| b64url(v.to_string().as_bytes());
    let hs256 = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let mut h = Header::new(Algorithm::HS256);
        h.kid = header["kid"].as_str().map(str::to_owned);
        let secret = serde_json::to_vec(&idp.public_jwk().await).unwrap();
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret)).unwrap()
    };
    let mut forged_kid = header.clone();
    forged_kid["kid"] = json!("forged-kid");
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered = claims.clone();
    tampered["sub"] = json!("admin");
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            idp.id_token(
                "partner-app",
                "victim",
                &[("expires_at", &(now - 120).to_string())],
            )
            .await,
        ),
        (
            "future nbf",
            idp.id_token(
                "partner-app",
                "victim",
                &[("nbf", &(now + 3600).to_string())],
            )
            .await,
        ),
        (
            "wrong audience",
            idp.id_token("other-app", "victim", &[]).await,
        ),
        (
            "wrong (untrusted) issuer",
            other.id_token("partner-app", "victim", &[]).await,
        ),
        (
            "alg none",
            format!("{}.{}.", enc(&json!({"alg": "none"})), parts[1]),
        ),
        ("HS256 signed with the issuer's public key", hs256),
        (
            "unknown kid",
            format!("{}.{}.{}", enc(&forged_kid), parts[1], parts[2]),
        ),
        (
            "tampered claims",
            format!("{}.{}.{}", parts[0], enc(&tampered), parts[2]),
        ),
    ];
    for (what, token) in &cases {
        assert_refused(
            what,
            &exchange(&t, &svc, token, ID_TOKEN, &[]).await,
            "invalid_request",
        );
    }
    // None of them made a user; the genuine token is accepted.
    let users = admin_async(args(&["user", "list", "--tenant", &t.alias]), None)
        .await
        .unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 0, "{users}");
    let (status, v) = exchange(&t, &svc, &good, ID_TOKEN, &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// The issuer rotates its key: a token with the new `kid` is accepted after
/// (at most) one refetch a minute per sandbox, and a flood of forged kids
/// does not make Tollgate hammer the issuer.
#[tokio::test]
async fn issuer_key_rotation_is_followed_and_forged_kids_do_not_hammer_it() {
    let mut idp = Idp::start();
    let t = TestTenant::new().await;
    let svc = exchanger(&t).await;
    trust(&t, &idp.issuer, &["partner-app"], &["--create-users"]).await;
    let first = idp.id_token("partner-app", "rotating", &[]).await;
    assert_eq!(
        exchange(&t, &svc, &first, ID_TOKEN, &[]).await.0,
        StatusCode::OK
    );
    // 40 tokens with forged kids: each sandbox fetches at most once a minute.
    let before = idp.jwks_fetches().await;
    let parts: Vec<String> = first.split('.').map(str::to_owned).collect();
    for i in 0..40 {
        let h = json!({"alg": "ES256", "kid": format!("forged-{i}")});
        let forged = format!(
            "{}.{}.{}",
            b64url(h.to_string().as_bytes()),
            parts[1],
            parts[2]
        );
        assert_refused(
            "forged kid",
            &exchange(&t, &svc, &forged, ID_TOKEN, &[]).await,
            "invalid_request",
        );
    }
    let during = idp.jwks_fetches().await - before;
    // `cargo lambda watch --concurrency 8`: at most 8 sandboxes, each at most
    // one fetch in this minute (the first exchange's sandbox none at all).
    assert!(during <= 8, "{during} JWKS fetches for 40 forged kids");
    // Rotation: a new key signs; the old one stays published.
    idp.rotate();
    let rotated = idp.id_token("partner-app", "rotating", &[]).await;
    assert_ne!(
        jsonwebtoken::decode_header(&rotated).unwrap().kid,
        jsonwebtoken::decode_header(&first).unwrap().kid
    );
    // Accepted once the sandbox may refetch (within a minute and a bit).
    let deadline = now_secs() + 75;
    loop {
        let (status, v) = exchange(&t, &svc, &rotated, ID_TOKEN, &[]).await;
        if status == StatusCode::OK {
            break;
        }
        assert_refused(
            "new kid before the refetch",
            &(status, v),
            "invalid_request",
        );
        assert!(now_secs() < deadline, "the rotated key was never fetched");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// An issuer that refuses connections, or accepts and never answers: a clear
/// `invalid_request` once Tollgate's fetch times out, never a 5xx or a hang.
#[tokio::test]
async fn an_unreachable_issuer_is_a_clear_invalid_request() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_issuer = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let closed_issuer = format!("http://127.0.0.1:{}", free_port());
    let t = TestTenant::new().await;
    let svc = exchanger(&t).await;
    for issuer in [&closed_issuer, &silent_issuer] {
        trust(&t, issuer, &["app"], &[]).await;
        let claims = json!({"iss": issuer, "aud": "app", "sub": "x", "exp": now_secs() + 300});
        let token = format!(
            "{}.{}.{}",
            b64url(br#"{"alg":"ES256","kid":"k1"}"#),
            b64url(claims.to_string().as_bytes()),
            b64url(&[7u8; 64])
        );
        let resp = stack()
            .http
            .post(t.token_url())
            .basic_auth(&svc.id, svc.secret.as_deref())
            .form(&[
                ("grant_type", GRANT),
                ("subject_token", &token),
                ("subject_token_type", JWT),
            ])
            // Tollgate gives up on the issuer after 3 s; this is only the hang
            // guard (generous: a cold local sandbox starts slowly).
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("no answer: the token endpoint hung on an unreachable issuer");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{issuer}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(err_code(&v), "invalid_request", "{issuer}: {v}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("unavailable"),
            "{v}"
        );
    }
    drop(silent);
}

#[tokio::test]
async fn issuer_cli_validates_and_lists() {
    let t = TestTenant::new().await;
    let bad = |args: &[&str]| {
        let mut a = vec!["issuer", "add", "--tenant", &t.alias];
        a.extend_from_slice(args);
        admin(&a, None).unwrap_err()
    };
    assert!(bad(&["--issuer", "http://idp.example", "--audience", "a"]).contains("https"));
    assert!(bad(&["--issuer", "ftp://idp.example", "--audience", "a"]).contains("https"));
    assert!(
        bad(&[
            "--issuer",
            "https://idp.example",
            "--audience",
            "a",
            "--jwks-uri",
            "http://evil.example/jwks"
        ])
        .contains("https")
    );
    let ok = admin(
        &[
            "issuer",
            "add",
            "--tenant",
            &t.alias,
            "--issuer",
            "https://login.partner.example/tenant-1/v2.0",
            "--audience",
            "api://acme",
            "--create-users",
        ],
        None,
    )
    .unwrap();
    assert_eq!(ok["create_users"], true);
    let listed = admin(&["issuer", "list", "--tenant", &t.alias], None).unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["audiences"], json!(["api://acme"]));
    let remove = [
        "issuer",
        "remove",
        "--tenant",
        &t.alias,
        "--issuer",
        "https://login.partner.example/tenant-1/v2.0",
    ];
    admin(&remove, None).unwrap();
    assert!(admin(&remove, None).is_err());
    let user = t.user("bob", &[]).await;
    let e = admin(
        &[
            "user",
            "link",
            "--tenant",
            &t.alias,
            "--user-id",
            &user,
            "--issuer",
            "https://nobody.example",
            "--subject",
            "s",
        ],
        None,
    )
    .unwrap_err();
    assert!(e.contains("unknown issuer"), "{e}");
}
