//! `provider connect` over the fakes (FakeUpstream, the fake connection
//! store): what is sent, what is stored (sealed, under the service owner),
//! what is printed, and every refusal stores nothing and echoes nothing.

use super::*;
use crate::domain::connections::{Connection, Field};
use crate::domain::providers::{Overrides, Preset, resolve_endpoints};
use crate::ids::TenantId;
use crate::testing::fakes::{Fakes, Fault};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;

const SECRET: &str = "upstream-client-secret-!#";
const USER: &str = "svc-account@acme";
const PASS: &str = "current pass\u{e9}word";
const NEW: &str = "the new passw0rd!";

struct World {
    fakes: Fakes,
    vault: Vault,
    secret: SecretString,
}

impl World {
    fn new() -> World {
        World {
            fakes: Fakes::new(1_000),
            vault: VaultKeys::generate().vault().unwrap(),
            secret: SecretString::from(SECRET.to_owned()),
        }
    }

    async fn connect(
        &self,
        p: &Provider,
        login: Option<UpstreamLogin>,
    ) -> Result<Value, AdminError> {
        let ctx = ConnectCtx {
            provider: p,
            client_secret: p.has_client_secret.then_some(&self.secret),
            upstream: &*self.fakes.upstream,
            connections: &*self.fakes.store,
            vault: &self.vault,
            now: Now(1_000),
        };
        connect_service(&ctx, login.as_ref()).await
    }

    fn stored(&self, p: &Provider) -> Option<Connection> {
        self.fakes.store.connection_raw(&key(p))
    }

    fn access_token(&self, p: &Provider) -> String {
        let c = self.stored(p).expect("a stored connection");
        let at = c.access_token.expect("a cached access token");
        self.vault
            .open(&key(p), Field::AccessToken, &at.sealed)
            .unwrap()
            .expose_secret()
            .to_owned()
    }
}

fn key(p: &Provider) -> ConnectionKey {
    ConnectionKey {
        tenant: p.tenant.clone(),
        owner: Owner::Service,
        provider: ProviderName::parse(&p.name).unwrap(),
    }
}

fn provider(preset: Preset, grant: UpstreamGrant, secret: bool) -> Provider {
    let overrides = Overrides {
        authorize: Some("https://up.example.com/authorize".into()),
        token: Some("https://up.example.com/token".into()),
        ..Overrides::default()
    };
    let mut vars = BTreeMap::new();
    if preset == Preset::B2cRopc {
        vars.insert("tenant".to_owned(), "maxcp".to_owned());
        vars.insert("policy".to_owned(), "B2C_1_ROPC".to_owned());
    }
    let endpoints = resolve_endpoints(
        preset,
        grant,
        &vars,
        &overrides,
        None,
        OutboundPolicy::PUBLIC,
    )
    .unwrap();
    Provider {
        tenant: TenantId::parse("acme").unwrap(),
        name: "svc".into(),
        preset,
        vars,
        endpoints,
        client_id: "client-1".into(),
        has_client_secret: secret,
        scopes: vec![],
        grant,
        display_name: "Svc".into(),
        sign_in: false,
        create_users: false,
        created_at: 0,
    }
}

fn profix() -> Provider {
    provider(Preset::Profix, UpstreamGrant::Password, true)
}

fn login(change: bool) -> UpstreamLogin {
    let input = if change {
        format!("{USER}\n{PASS}\n{NEW}\n")
    } else {
        format!("{USER}\r\n{PASS}\r\n")
    };
    UpstreamLogin::from_lines(&input, change).unwrap()
}

/// Tollgate's own answer for a user who must change the password (SPEC:
/// Token, password), which Profix's seed shows without a status.
fn require_change() -> Fault {
    Fault::Answer(
        400,
        r#"{"error":"invalid_grant","error_description":"password change required","userid":"u_42","RequireChangePassword":true}"#.into(),
        None,
    )
}

/// Neither the credentials nor anything the upstream issued.
fn assert_clean(text: &str) {
    for secret in [PASS, NEW, SECRET, "at-", "rt-"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}

#[tokio::test]
async fn a_client_credentials_connection_reads_nothing_and_stores_the_sealed_token() {
    let w = World::new();
    let p = provider(Preset::OAuth2, UpstreamGrant::ClientCredentials, true);
    let out = w.connect(&p, None).await.unwrap();
    assert_eq!(out["provider"], "svc");
    assert_eq!(out["status"], "active");
    assert_eq!(out["expires_in"], 600);
    assert_eq!(out["has_refresh_token"], false);
    assert_eq!(out["replaced"], false);
    assert!(out.get("password_changed").is_none());
    assert_clean(&out.to_string());
    let posts = w.fakes.upstream.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].url, "https://up.example.com/token");
    assert_eq!(posts[0].field("grant_type"), Some("client_credentials"));
    // oauth2: the client authenticates in the body.
    assert_eq!(posts[0].field("client_secret"), Some(SECRET));
    assert!(!posts[0].basic);
    let c = w.stored(&p).unwrap();
    assert_eq!(c.key.owner, Owner::Service);
    assert!(c.refresh_token.is_none());
    assert_eq!(c.access_token.as_ref().unwrap().expires_at, 1_600);
    assert!(w.access_token(&p).starts_with("at-"));
    // Credentials for a client_credentials provider are refused, unsent.
    let e = w.connect(&p, Some(login(false))).await.unwrap_err();
    assert!(e.0.contains("client_credentials"), "{e}");
    assert_eq!(w.fakes.upstream.posts().len(), 1);
    // Connecting again replaces the one service connection.
    let again = w.connect(&p, None).await.unwrap();
    assert_eq!(again["replaced"], true);
    assert_eq!(w.stored(&p).unwrap().generation, 2);
}

#[tokio::test]
async fn a_password_connection_sends_the_credentials_once_and_stores_both_tokens() {
    let w = World::new();
    let p = profix();
    let out = w.connect(&p, Some(login(false))).await.unwrap();
    assert_eq!(out["has_refresh_token"], true);
    assert_clean(&out.to_string());
    let posts = w.fakes.upstream.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].field("grant_type"), Some("password"));
    assert_eq!(posts[0].field("username"), Some(USER));
    assert_eq!(posts[0].field("password"), Some(PASS));
    assert_eq!(posts[0].field("client_id"), Some("client-1"));
    let c = w.stored(&p).unwrap();
    let rt = w
        .vault
        .open(
            &key(&p),
            Field::RefreshToken,
            c.refresh_token.as_ref().unwrap(),
        )
        .unwrap();
    assert_eq!(
        Some(rt.expose_secret().to_owned()),
        w.fakes.upstream.current_refresh_token()
    );
    // Nothing of the password is in the stored record.
    assert!(!format!("{c:?}").contains(PASS));
    // Without credentials a password provider refuses, unsent.
    let e = w.connect(&p, None).await.unwrap_err();
    assert!(e.0.contains("stdin"), "{e}");
    assert_eq!(w.fakes.upstream.posts().len(), 1);
}

#[tokio::test]
async fn an_authorization_code_provider_is_refused_without_a_call() {
    let w = World::new();
    let p = provider(Preset::OAuth2, UpstreamGrant::AuthorizationCode, true);
    for l in [None, Some(login(false))] {
        let e = w.connect(&p, l).await.unwrap_err();
        assert!(e.0.contains("browser"), "{e}");
    }
    assert!(w.fakes.upstream.posts().is_empty());
    assert!(w.stored(&p).is_none());
}

#[tokio::test]
async fn require_change_password_is_reported_and_nothing_is_stored() {
    let w = World::new();
    let p = profix();
    w.fakes.upstream.push_fault(require_change());
    let e = w.connect(&p, Some(login(false))).await.unwrap_err();
    assert!(e.0.contains("must change its password"), "{e}");
    assert!(e.0.contains("--change-password"), "{e}");
    assert_clean(&e.0);
    assert_eq!(w.fakes.upstream.posts().len(), 1);
    assert!(w.stored(&p).is_none());
}

#[tokio::test]
async fn change_password_takes_the_step_with_the_upstream_userid_then_connects() {
    let w = World::new();
    let p = profix();
    w.fakes.upstream.push_fault(require_change());
    w.fakes.upstream.push_fault(Fault::Answer(
        200,
        r#"{"success": true, "message": "You can now login"}"#.into(),
        None,
    ));
    let out = w.connect(&p, Some(login(true))).await.unwrap();
    assert_eq!(out["password_changed"], true);
    assert_eq!(out["has_refresh_token"], true);
    assert_clean(&out.to_string());
    let posts = w.fakes.upstream.posts();
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert_eq!(posts[0].field("password"), Some(PASS));
    assert_eq!(posts[1].url, "https://up.example.com/token/ChangePassword");
    assert_eq!(posts[1].field("userid"), Some("u_42"));
    assert_eq!(posts[1].field("password"), Some(PASS));
    assert_eq!(posts[1].field("newpassword"), Some(NEW));
    assert_eq!(posts[1].field("client_secret"), Some(SECRET));
    assert_eq!(posts[2].field("grant_type"), Some("password"));
    assert_eq!(posts[2].field("password"), Some(NEW));
    assert!(w.stored(&p).is_some());
}

#[tokio::test]
async fn change_password_when_none_was_asked_connects_and_says_so() {
    let w = World::new();
    let p = profix();
    let out = w.connect(&p, Some(login(true))).await.unwrap();
    assert_eq!(out["password_changed"], false);
    assert_eq!(w.fakes.upstream.posts().len(), 1);
    assert!(w.stored(&p).is_some());
}

#[tokio::test]
async fn a_refused_password_change_reports_a_bounded_message_and_stores_nothing() {
    let w = World::new();
    let p = profix();
    w.fakes.upstream.push_fault(require_change());
    let message = format!("Password\ntoo\u{202e} weak {}", "x".repeat(1000));
    w.fakes.upstream.push_fault(Fault::Answer(
        400,
        serde_json::json!({"success": false, "message": message}).to_string(),
        None,
    ));
    let e = w.connect(&p, Some(login(true))).await.unwrap_err();
    assert!(
        e.0.contains("refused the password change: Password too weak x"),
        "{e}"
    );
    assert!(!e.0.contains('\n') && !e.0.contains('\u{202e}'), "{e:?}");
    assert!(e.0.len() < 500, "unbounded: {}", e.0.len());
    assert_clean(&e.0);
    assert_eq!(
        w.fakes.upstream.posts().len(),
        2,
        "no grant after a refusal"
    );
    assert!(w.stored(&p).is_none());
    // A ChangePassword that answers HTML is no success either.
    w.fakes.upstream.push_fault(require_change());
    w.fakes
        .upstream
        .push_fault(Fault::Answer(500, "<html>oops</html>".into(), None));
    let e = w.connect(&p, Some(login(true))).await.unwrap_err();
    assert!(e.0.contains("server error") && !e.0.contains("oops"), "{e}");
    assert!(w.stored(&p).is_none());
}

#[tokio::test]
async fn dead_and_transient_refusals_exit_with_one_clean_line_and_store_nothing() {
    let w = World::new();
    let p = profix();
    let cases: Vec<(Fault, &str)> = vec![
        (
            Fault::Answer(
                400,
                r#"{"error":"invalid_grant","error_description":"bad password rt-9"}"#.into(),
                None,
            ),
            "refused the password grant (invalid_grant)",
        ),
        (
            Fault::Answer(
                500,
                "<html><body>at-secret stack trace</body></html>".into(),
                Some(30),
            ),
            "server error, retry after 30 s",
        ),
        (
            Fault::Answer(429, "slow down".into(), Some(12)),
            "rate limited, retry after 12 s",
        ),
        (
            Fault::Answer(302, String::new(), None),
            "redirect, which is never followed",
        ),
        (
            Fault::Answer(401, r#"{"error":"invalid_client"}"#.into(), None),
            "check the client id and secret",
        ),
        (Fault::LoseAnswerAfterRotating, "no answer from svc"),
        (Fault::NotSent, "cannot reach svc"),
    ];
    for (fault, needle) in cases {
        w.fakes.upstream.push_fault(fault.clone());
        let e = w.connect(&p, Some(login(false))).await.unwrap_err();
        assert!(e.0.contains(needle), "{fault:?}: {e}");
        assert!(!e.0.contains('\n'), "{e:?}");
        assert!(
            !e.0.contains("stack trace") && !e.0.contains("bad password"),
            "{e}"
        );
        assert_clean(&e.0);
        assert!(w.stored(&p).is_none(), "{fault:?} stored a connection");
    }
}

#[tokio::test]
async fn expires_in_as_a_string_or_missing_is_stored_sensibly() {
    let w = World::new();
    let p = provider(Preset::OAuth2, UpstreamGrant::Password, false);
    w.fakes
        .upstream
        .set_expires_in(Some(serde_json::json!("3600")));
    let out = w.connect(&p, Some(login(false))).await.unwrap();
    assert_eq!(out["expires_in"], 3600);
    assert_eq!(
        w.stored(&p).unwrap().access_token.unwrap().expires_at,
        4_600
    );
    // A public client sends its client_id only.
    assert_eq!(w.fakes.upstream.posts()[0].field("client_secret"), None);
    w.fakes
        .upstream
        .set_expires_in(Some(serde_json::Value::Null));
    let out = w.connect(&p, Some(login(false))).await.unwrap();
    // oauth2's default.
    assert_eq!(out["expires_in"], 3600);
    let b2c = provider(Preset::B2cRopc, UpstreamGrant::Password, false);
    w.fakes
        .upstream
        .set_expires_in(Some(serde_json::json!("12")));
    let out = w.connect(&b2c, Some(login(false))).await.unwrap();
    assert_eq!(out["expires_in"], 12);
}

#[test]
fn stdin_must_hold_exactly_the_lines_asked_for() {
    for (input, change) in [
        ("", false),
        ("user\n", false),
        ("user\npass\nextra\n", false),
        ("user\npass\n", true),
        ("\npass\n", false),
        (" user\npass\n", false),
        ("user\n\n", false),
        ("user\nsame\nsame\n", true),
        ("user\np\u{7}ss\n", false),
    ] {
        let e = match UpstreamLogin::from_lines(input, change) {
            Err(e) => e,
            Ok(_) => panic!("{input:?} accepted"),
        };
        assert!(!e.0.contains("pass") || e.0.contains("password"), "{e}");
        assert!(!e.0.contains("same") && !e.0.contains("extra"), "{e}");
    }
    let l = UpstreamLogin::from_lines("u\np\nq", true).unwrap();
    assert_eq!(l.username.as_str(), "u");
    assert_eq!(l.new_password.unwrap().expose_secret(), "q");
    let long = format!("u\n{}\n", "p".repeat(MAX_PASSWORD + 1));
    assert!(UpstreamLogin::from_lines(&long, false).is_err());
}
