//! Service connections (`tollgate-admin provider connect`; SPEC: Upstream
//! providers — Service connections) against real upstreams:
//!
//! - a tenant of the same local stack configured Profix-style (a confidential
//!   client with the password grant, a user created with
//!   `--require-password-change`): `provider connect` meets the real
//!   `RequireChangePassword` answer, and with `--change-password` completes
//!   through the stack's real `…/token/changepassword`, then stores the
//!   connection, read back here through the DynamoDB adapter and opened with
//!   the tenant's vault;
//! - the scripted misbehaving upstream (`upstream_script.rs`): `expires_in`
//!   as a string or missing, a 302 never followed, HTML 500 and 429 reported
//!   as transient, client authentication in the body, tokens with `!`, and
//!   SSRF refused at `provider add` with the server never called.

use crate::helpers::*;
use crate::upstream_script::{ExpiresIn, ScriptedUpstream, Step};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use tollgate::AppState;
use tollgate::domain::connections::{Connection, ConnectionKey, Field, Owner};
use tollgate::ids::ProviderName;
use tollgate::ports::ConnectionStore;

const NEW_PASSWORD: &str = "a brand new upstream pass";

async fn cli(args: &[&str], stdin: Option<&str>) -> Result<Value, String> {
    admin_async(
        args.iter().map(|s| s.to_string()).collect(),
        stdin.map(str::to_owned),
    )
    .await
}

/// (success, stdout, stderr) of a CLI run.
async fn cli_raw(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        admin_raw(&a, stdin.as_deref())
    })
    .await
    .unwrap()
}

fn service_key(t: &TestTenant, provider: &str) -> ConnectionKey {
    ConnectionKey {
        tenant: t.tenant_id(),
        owner: Owner::Service,
        provider: ProviderName::parse(provider).unwrap(),
    }
}

/// The tenant's service connection, through the DynamoDB adapter.
async fn stored(t: &TestTenant, provider: &str) -> Option<Connection> {
    db().await.get(&service_key(t, provider)).await.unwrap()
}

/// The stored tokens, opened with the tenant's vault: (access, refresh).
async fn opened(t: &TestTenant, provider: &str) -> (String, Option<String>) {
    let c = stored(t, provider)
        .await
        .expect("a stored service connection");
    let state = AppState::new(config(), &sdk().await);
    let vault = state.vault(&t.tenant_id()).await.unwrap();
    let key = service_key(t, provider);
    let at = vault
        .open(&key, Field::AccessToken, &c.access_token.unwrap().sealed)
        .unwrap();
    let rt = c
        .refresh_token
        .map(|s| vault.open(&key, Field::RefreshToken, &s).unwrap());
    (
        at.expose_secret().to_owned(),
        rt.map(|r| r.expose_secret().to_owned()),
    )
}

/// A failed command: one line on stderr containing `needle`, and none of `secrets`.
fn one_line_error(e: &str, needle: &str, secrets: &[&str]) {
    assert_eq!(e.trim_end().lines().count(), 1, "one line on stderr: {e:?}");
    assert!(e.contains(needle), "{e:?} should mention {needle:?}");
    for s in secrets {
        assert!(!e.contains(s), "{s:?} in {e}");
    }
}

/// The upstream side: a Profix-style tenant with a confidential
/// password-grant client and a user who must change the password.
struct ProfixUpstream {
    t: TestTenant,
    client: TestClient,
    user_id: String,
}

impl ProfixUpstream {
    async fn new() -> ProfixUpstream {
        let t = TestTenant::new().await;
        let user_id = t.user("svc", &["--require-password-change"]).await;
        let client = t.client(&["--grant", "password", "--scope", "api"]).await;
        ProfixUpstream { t, client, user_id }
    }
}

#[tokio::test]
async fn profix_require_change_password_is_reported_then_changed_and_connected() {
    let up = ProfixUpstream::new().await;
    let t = TestTenant::new().await;
    let secret = format!("{}\n", up.client.secret());
    let token_url = up.t.token_url();
    // The preset's ChangePassword sits next to a given token URL …
    let derived = cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "pfx-default",
            "--preset",
            "profix",
            "--grant",
            "password",
            "--token-url",
            &token_url,
            "--client-id",
            &up.client.id,
            "--client-secret-stdin",
        ],
        Some(&secret),
    )
    .await
    .unwrap();
    assert_eq!(
        derived["password_change_url"],
        format!("{token_url}/ChangePassword")
    );
    // … but the local stack's change-password is a function of its own.
    let cp_url = up.t.url("change-password", "token/changepassword");
    let added = cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "profix",
            "--preset",
            "profix",
            "--grant",
            "password",
            "--token-url",
            &token_url,
            "--password-change-url",
            &cp_url,
            "--client-id",
            &up.client.id,
            "--client-secret-stdin",
        ],
        Some(&secret),
    )
    .await
    .unwrap();
    assert_eq!(added["password_change_url"], cp_url.as_str());
    let connect = [
        "provider", "connect", "--tenant", &t.alias, "--name", "profix",
    ];
    let secrets = [PASSWORD, NEW_PASSWORD, up.client.secret()];

    // The real RequireChangePassword answer: reported, nothing stored.
    let e = cli(&connect, Some(&format!("svc\n{PASSWORD}\n")))
        .await
        .unwrap_err();
    one_line_error(&e, "must change its password", &secrets);
    assert!(e.contains("--change-password"), "{e}");
    assert!(stored(&t, "profix").await.is_none());

    // --change-password: the real ChangePassword, then the grant with the new one.
    let mut with_change = connect.to_vec();
    with_change.push("--change-password");
    let (ok, out, err) = cli_raw(
        &with_change,
        Some(&format!("svc\n{PASSWORD}\n{NEW_PASSWORD}\n")),
    )
    .await;
    assert!(ok, "{err}");
    for s in secrets {
        assert!(
            !out.contains(s) && !err.contains(s),
            "{s:?} printed: {out} {err}"
        );
    }
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["provider"], "profix");
    assert_eq!(v["status"], "active");
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v["has_refresh_token"], true);
    assert_eq!(v["password_changed"], true);
    assert_eq!(v["replaced"], false);
    assert!(err.contains(r#""command":"provider connect""#), "{err}");

    // Stored, sealed, under the service owner; the tokens are the upstream's.
    let c = stored(&t, "profix").await.unwrap();
    assert_eq!(c.key.owner, Owner::Service);
    assert_eq!(c.status.as_str(), "active");
    let items = db().await.tenant_items(&t.tenant_id()).await.unwrap();
    let (at, rt) = opened(&t, "profix").await;
    assert!(
        items.iter().all(|i| !i.dump.contains(&at)),
        "a token in the clear"
    );
    assert!(!v.to_string().contains(&at));
    let (_, claims) = up.t.verify(&at, None).await;
    assert_eq!(claims["sub"], up.user_id.as_str());
    assert_eq!(claims["client_id"], up.client.id.as_str());
    // The upstream password really changed.
    let (s, _) = up.t.password_grant(&up.client, "svc", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the old password still works");
    // The stored refresh token is live at the upstream (and single use).
    let (s, body) = up.t.refresh(&up.client, &rt.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Connecting again with the new password replaces the one connection.
    let v = cli(&connect, Some(&format!("svc\n{NEW_PASSWORD}\n")))
        .await
        .unwrap();
    assert_eq!(
        (v["replaced"].clone(), v["status"].clone()),
        (true.into(), "active".into())
    );
    assert_eq!(
        stored(&t, "profix").await.unwrap().generation,
        c.generation + 1
    );
    // A wrong password is the upstream's refusal: one line, nothing echoed.
    let e = cli(&connect, Some("svc\nnot the password\n"))
        .await
        .unwrap_err();
    one_line_error(
        &e,
        "refused the password grant (invalid_grant)",
        &["not the password"],
    );
}

#[tokio::test]
async fn a_refused_change_password_reports_the_upstream_message_and_stores_nothing() {
    let up = ProfixUpstream::new().await;
    let t = TestTenant::new().await;
    cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "profix",
            "--preset",
            "profix",
            "--grant",
            "password",
            "--token-url",
            &up.t.token_url(),
            "--password-change-url",
            &up.t.url("change-password", "token/changepassword"),
            "--client-id",
            &up.client.id,
            "--client-secret-stdin",
        ],
        Some(&format!("{}\n", up.client.secret())),
    )
    .await
    .unwrap();
    // The stack's password policy refuses a too short new password: its
    // message reaches the operator, bounded, on the one line.
    let e = cli(
        &[
            "provider",
            "connect",
            "--tenant",
            &t.alias,
            "--name",
            "profix",
            "--change-password",
        ],
        Some(&format!("svc\n{PASSWORD}\nshort\n")),
    )
    .await
    .unwrap_err();
    one_line_error(
        &e,
        "refused the password change: The new password is too short",
        &[PASSWORD, up.client.secret()],
    );
    assert!(stored(&t, "profix").await.is_none());
}

#[tokio::test]
async fn a_client_credentials_connection_reads_no_stdin_and_a_code_provider_is_refused() {
    let up = TestTenant::new().await;
    let c = up
        .client(&["--grant", "client_credentials", "--scope", "api"])
        .await;
    let t = TestTenant::new().await;
    cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "daemon",
            "--preset",
            "oauth2",
            "--grant",
            "client_credentials",
            "--token-url",
            &up.token_url(),
            "--client-id",
            &c.id,
            "--client-secret-stdin",
        ],
        Some(&format!("{}\n", c.secret())),
    )
    .await
    .unwrap();
    // Nothing on stdin is needed (the helper closes it at once).
    let v = cli(
        &[
            "provider", "connect", "--tenant", &t.alias, "--name", "daemon",
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(v["has_refresh_token"], false);
    assert_eq!(v["scope"], "api");
    let (at, rt) = opened(&t, "daemon").await;
    assert!(rt.is_none());
    assert_eq!(up.verify(&at, None).await.1["sub"], c.id.as_str());
    let e = cli(
        &[
            "provider",
            "connect",
            "--tenant",
            &t.alias,
            "--name",
            "daemon",
            "--change-password",
        ],
        None,
    )
    .await
    .unwrap_err();
    one_line_error(&e, "--change-password is for password providers", &[]);

    // An authorization-code provider: refused before anything is read or called.
    cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "crm",
            "--preset",
            "maximizer",
            "--var",
            "region=caw",
            "--var",
            "company_alias=whitecaps",
            "--client-id",
            "abcdefghij0123456789",
            "--client-secret-stdin",
        ],
        Some("x\n"),
    )
    .await
    .unwrap();
    let e = cli(
        &["provider", "connect", "--tenant", &t.alias, "--name", "crm"],
        Some("user\npw-zebra\n"),
    )
    .await
    .unwrap_err();
    one_line_error(&e, "connect it in the browser", &["pw-zebra"]);
    let e = cli(
        &[
            "provider", "connect", "--tenant", &t.alias, "--name", "nope",
        ],
        None,
    )
    .await
    .unwrap_err();
    one_line_error(&e, "unknown provider: nope", &[]);
}

// ---------------------------------------------------------------------------
// Against the scripted misbehaving upstream.
// ---------------------------------------------------------------------------

const SCRIPT_SECRET: &str = "scripted-client-secret";

/// An oauth2 provider with the password grant at the scripted server.
async fn scripted_password_provider(
    t: &TestTenant,
    s: &ScriptedUpstream,
    name: &str,
    preset: &str,
) {
    cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            name,
            "--preset",
            preset,
            "--grant",
            "password",
            "--token-url",
            &s.token_url(),
            "--client-id",
            "scripted-client",
            "--client-secret-stdin",
        ],
        Some(&format!("{SCRIPT_SECRET}\n")),
    )
    .await
    .unwrap();
}

async fn connect(t: &TestTenant, name: &str) -> Result<Value, String> {
    cli(
        &["provider", "connect", "--tenant", &t.alias, "--name", name],
        Some("svc-user\nsvc password\n"),
    )
    .await
}

#[tokio::test]
async fn scripted_expires_in_as_a_string_or_missing_is_stored_sensibly() {
    let s = ScriptedUpstream::start().await;
    let t = TestTenant::new().await;
    scripted_password_provider(&t, &s, "svc", "oauth2").await;
    s.set_expires_in(ExpiresIn::Text("1234".into()));
    let before = now_secs();
    let v = connect(&t, "svc").await.unwrap();
    assert_eq!(v["expires_in"], 1234);
    let at = stored(&t, "svc").await.unwrap().access_token.unwrap();
    assert_eq!(at.expires_at - at.issued_at, 1234);
    assert!(at.issued_at >= before);
    // Missing: the preset's default (oauth2: an hour).
    s.set_expires_in(ExpiresIn::Missing);
    let v = connect(&t, "svc").await.unwrap();
    assert_eq!(v["expires_in"], 3600);
    // Client authentication in the body (oauth2), never Basic; the
    // credentials sent once per connect.
    let reqs = s.requests();
    assert_eq!(s.count("password"), 2);
    let r = &reqs[0];
    assert!(r.basic.is_none());
    assert_eq!(r.field("client_id"), Some("scripted-client"));
    assert_eq!(r.field("client_secret"), Some(SCRIPT_SECRET));
    assert_eq!(r.field("username"), Some("svc-user"));
    assert_eq!(r.field("password"), Some("svc password"));
}

#[tokio::test]
async fn scripted_redirect_is_never_followed_and_html_500_and_429_are_transient() {
    let s = ScriptedUpstream::start().await;
    let t = TestTenant::new().await;
    scripted_password_provider(&t, &s, "svc", "oauth2").await;
    s.script([Step::Redirect]);
    let e = connect(&t, "svc").await.unwrap_err();
    one_line_error(
        &e,
        "redirect, which is never followed",
        &["svc password", SCRIPT_SECRET],
    );
    assert_eq!(s.hits("/elsewhere"), 0, "the redirect was followed");
    s.script([Step::Html500]);
    let e = connect(&t, "svc").await.unwrap_err();
    one_line_error(&e, "server error", &["Internal Server Error", "<html"]);
    s.script([Step::TooMany(17)]);
    let e = connect(&t, "svc").await.unwrap_err();
    one_line_error(&e, "rate limited, retry after 17 s", &["Too Many"]);
    s.script([Step::Drop]);
    let e = connect(&t, "svc").await.unwrap_err();
    one_line_error(&e, "no answer from svc", &[SCRIPT_SECRET]);
    s.script([Step::Raw(
        400,
        r#"{"error":"invalid_grant","error_description":"rt-secret-detail"}"#.into(),
    )]);
    let e = connect(&t, "svc").await.unwrap_err();
    one_line_error(
        &e,
        "refused the password grant (invalid_grant)",
        &["rt-secret-detail"],
    );
    assert_eq!(s.count("password"), 5);
    assert!(
        stored(&t, "svc").await.is_none(),
        "a failed connect stored something"
    );
}

#[tokio::test]
async fn scripted_profix_tokens_with_bangs_round_trip_through_the_vault() {
    let s = ScriptedUpstream::start().await;
    s.set_bang(true);
    let t = TestTenant::new().await;
    scripted_password_provider(&t, &s, "pfx", "profix").await;
    let v = connect(&t, "pfx").await.unwrap();
    assert_eq!(v["expires_in"], 600);
    let (at, rt) = opened(&t, "pfx").await;
    assert!(at.contains('!'), "{at}");
    assert_eq!(rt, s.current_refresh_token());
    assert!(rt.unwrap().contains('!'));
}

#[tokio::test]
async fn ssrf_through_provider_vars_or_urls_is_refused_at_add_and_never_called() {
    let s = ScriptedUpstream::start().await;
    let t = TestTenant::new().await;
    let port = s.port();
    let path = crate::upstream_script::TOKEN_PATH;
    let bad_urls = [
        format!("http://0.0.0.0:{port}{path}"),
        format!("http://[::ffff:127.0.0.1]:{port}{path}"),
        format!("http://[::]:{port}{path}"),
        format!("http://10.0.0.1:{port}{path}"),
        format!("http://169.254.169.254{path}"),
        format!("http://user:pw@127.0.0.1:{port}{path}"),
        format!("ftp://127.0.0.1:{port}{path}"),
    ];
    for url in &bad_urls {
        let e = cli(
            &[
                "provider",
                "add",
                "--tenant",
                &t.alias,
                "--name",
                "svc",
                "--preset",
                "oauth2",
                "--grant",
                "password",
                "--token-url",
                url,
                "--client-id",
                "c",
            ],
            None,
        )
        .await
        .expect_err(url);
        assert_eq!(e.trim_end().lines().count(), 1, "{url}: {e}");
    }
    // A Profix ChangePassword URL and preset vars go through the same check.
    let e = cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "svc",
            "--preset",
            "profix",
            "--grant",
            "password",
            "--token-url",
            &s.token_url(),
            "--password-change-url",
            &format!("http://0.0.0.0:{port}/cp"),
            "--client-id",
            "c",
            "--client-secret-stdin",
        ],
        Some("x\n"),
    )
    .await
    .unwrap_err();
    assert!(e.contains("password change URL"), "{e}");
    for var in [
        "server=169.254.169.254",
        "server=127.0.0.1:9",
        "server=10.0.0.1",
    ] {
        cli(
            &[
                "provider",
                "add",
                "--tenant",
                &t.alias,
                "--name",
                "svc",
                "--preset",
                "maximizer-on-premise",
                "--var",
                var,
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            Some("x\n"),
        )
        .await
        .expect_err(var);
    }
    // Nothing was added, so nothing can be connected; the server saw nothing.
    let e = connect(&t, "svc").await.unwrap_err();
    assert!(e.contains("unknown provider"), "{e}");
    assert!(s.requests().is_empty(), "{:?}", s.requests());
}
