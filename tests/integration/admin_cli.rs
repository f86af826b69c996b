//! `tollgate-admin` round trips: what it prints, what it stores, and that bad
//! input fails with one line on stderr, a non-zero exit and nothing written.

use crate::helpers::*;
use tollgate::crypto::verify_client_secret;
use tollgate::ports::{Directory, UserStore};
use tollgate::store::secrets_manager::{SecretSource, SecretsManager};
use tollgate::{ClientId, UserId};

async fn sm() -> SecretsManager {
    SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk().await))
}

fn fails_with(args: &[&str], stdin: Option<&str>, needle: &str) {
    let (ok, stdout, stderr) = admin_raw(args, stdin);
    assert!(!ok, "{args:?} should fail");
    assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line on stderr: {stderr:?}"
    );
    assert!(
        stderr.contains(needle),
        "{stderr:?} should mention {needle:?}"
    );
}

#[tokio::test]
async fn tenant_create_stores_tenant_and_signing_key() {
    let alias = random_alias();
    let out = admin_async(
        vec![
            "tenant".into(),
            "create".into(),
            alias.clone(),
            "--name".into(),
            "Acme Inc".into(),
            "--access-token-ttl".into(),
            "900".into(),
            "--audience".into(),
            "https://api.acme.example".into(),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(out["tenant"], alias);
    let tenant = db()
        .await
        .tenant(&tollgate::TenantId::parse(&alias).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.name, "Acme Inc");
    assert_eq!(tenant.access_token_ttl, 900);
    assert_eq!(tenant.refresh_token_ttl, 180 * 24 * 3600);
    assert_eq!(tenant.audiences, vec!["https://api.acme.example"]);
    assert_eq!(tenant.current_kid, out["kid"].as_str().unwrap());
    let secret = sm()
        .await
        .fetch(&config().signing_key_secret(&tenant.id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        secret.contains("PRIVATE KEY"),
        "private key is in Secrets Manager"
    );
    assert!(
        !tenant.public_jwks.contains("PRIVATE"),
        "only public keys in the table"
    );
}

#[tokio::test]
async fn client_create_prints_secret_once_and_stores_only_its_hash() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--grant",
            "client_credentials",
            "--redirect-uri",
            REDIRECT,
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "api",
            "--scope",
            "read write",
        ])
        .await;
    assert_eq!(c.id.len(), 20);
    assert!(c.id.chars().all(|ch| ch.is_ascii_alphanumeric()));
    let secret = c.secret();
    assert_eq!(secret.len(), 64);
    let cid = ClientId::parse(&c.id).unwrap();
    let record = db()
        .await
        .client(&t.tenant_id(), &cid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.redirect_uris, vec![REDIRECT, "http://127.0.0.1/cb"]);
    assert_eq!(record.scopes, vec!["api", "read", "write"]);
    assert!(!record.public);
    let stored = sm()
        .await
        .fetch(&config().client_secret_name(&t.tenant_id(), &cid))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored, secret, "the secret itself is never stored");
    assert!(!stored.contains(secret));
    assert!(verify_client_secret(secret, &stored));
}

#[tokio::test]
async fn public_client_has_no_secret_anywhere() {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "password", "--public", "--scope", "api"])
        .await;
    assert!(c.secret.is_none());
    let cid = ClientId::parse(&c.id).unwrap();
    assert!(
        sm().await
            .fetch(&config().client_secret_name(&t.tenant_id(), &cid))
            .await
            .unwrap()
            .is_none()
    );
    let record = db()
        .await
        .client(&t.tenant_id(), &cid)
        .await
        .unwrap()
        .unwrap();
    assert!(record.public && record.require_pkce);
}

#[tokio::test]
async fn user_create_hashes_the_password_with_argon2id() {
    let t = TestTenant::new().await;
    let id = t
        .user(
            "Alice",
            &[
                "--email",
                "alice@example.com",
                "--name",
                "Alice A",
                "--attr",
                "tier=gold",
                "--require-password-change",
            ],
        )
        .await;
    let user = db()
        .await
        .user(&t.tenant_id(), &UserId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(user.password_hash.starts_with("$argon2id$"));
    assert!(!user.password_hash.contains(PASSWORD));
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(user.attrs.get("tier").map(String::as_str), Some("gold"));
    assert!(user.require_password_change);
    let by_name = db()
        .await
        .user_by_username(&t.tenant_id(), "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        by_name.user_id.as_str(),
        id,
        "usernames match without regard to case"
    );
}

#[tokio::test]
async fn duplicate_alias_is_rejected_and_keeps_the_original_key() {
    let t = TestTenant::new().await;
    let before = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    fails_with(&["tenant", "create", &t.alias], None, "already exists");
    let after = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    assert_eq!(before.current_kid, after.current_kid);
}

#[tokio::test]
async fn malformed_alias_is_rejected() {
    fails_with(&["tenant", "create", "Bad_Alias"], None, "tenant alias");
    fails_with(&["tenant", "create", "-x"], None, "");
}

#[tokio::test]
async fn unknown_tenant_is_rejected() {
    let alias = random_alias();
    fails_with(
        &[
            "client", "create", "--tenant", &alias, "--name", "x", "--grant", "password",
        ],
        None,
        "unknown tenant",
    );
    fails_with(
        &["user", "create", "--tenant", &alias, "--username", "u"],
        Some("pw"),
        "unknown tenant",
    );
    fails_with(
        &["key", "rotate", "--tenant", &alias],
        None,
        "unknown tenant",
    );
}

#[tokio::test]
async fn non_https_non_loopback_redirect_uri_is_rejected() {
    let t = TestTenant::new().await;
    fails_with(
        &[
            "client",
            "create",
            "--tenant",
            &t.alias,
            "--name",
            "x",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://app.example/cb",
        ],
        None,
        "https",
    );
    fails_with(
        &[
            "client",
            "create",
            "--tenant",
            &t.alias,
            "--name",
            "x",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "https://app.example/cb#frag",
        ],
        None,
        "fragment",
    );
}

#[tokio::test]
async fn unknown_grant_is_rejected() {
    let t = TestTenant::new().await;
    fails_with(
        &[
            "client",
            "create",
            "--tenant",
            &t.alias,
            "--name",
            "x",
            "--grant",
            "device_code",
        ],
        None,
        "unknown grant",
    );
}

#[tokio::test]
async fn empty_password_is_rejected_and_no_user_is_created() {
    let t = TestTenant::new().await;
    fails_with(
        &[
            "user",
            "create",
            "--tenant",
            &t.alias,
            "--username",
            "nopass",
        ],
        Some(""),
        "password",
    );
    fails_with(
        &[
            "user",
            "create",
            "--tenant",
            &t.alias,
            "--username",
            "nopass",
        ],
        Some("\n"),
        "password",
    );
    assert!(
        db().await
            .user_by_username(&t.tenant_id(), "nopass")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn duplicate_username_is_rejected() {
    let t = TestTenant::new().await;
    t.user("bob", &[]).await;
    fails_with(
        &["user", "create", "--tenant", &t.alias, "--username", "BOB"],
        Some("pw"),
        "already exists",
    );
}

#[tokio::test]
async fn key_rotate_keeps_previous_key_published() {
    let t = TestTenant::new().await;
    let before = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    let out = admin_async(
        vec![
            "key".into(),
            "rotate".into(),
            "--tenant".into(),
            t.alias.clone(),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(out["previous_kid"], before.current_kid);
    let jwks = t.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        vec![out["kid"].as_str().unwrap(), before.current_kid.as_str()]
    );
}

#[tokio::test]
async fn rs256_tenant_publishes_an_rsa_key() {
    let t = TestTenant::with(&["--signing-alg", "RS256"]).await;
    let jwks = t.jwks().await;
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    fails_with(
        &[
            "tenant",
            "create",
            &random_alias(),
            "--signing-alg",
            "HS256",
        ],
        None,
        "ES256 or RS256",
    );
}

// ---- tenant update: the sign-in page's branding -----------------------------

const LOGO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/logo.png");

#[tokio::test]
async fn tenant_branding_is_set_shown_stored_and_cleared() {
    let t = TestTenant::new().await;
    let a = t.alias.as_str();
    let v = admin(
        &[
            "tenant",
            "update",
            a,
            "--display-name",
            "Acme <Group>",
            "--logo",
            LOGO,
            "--primary-color",
            "#0B3D91",
            "--scope-description",
            "api=Read your orders",
            "--scope-description",
            "billing=See your invoices",
        ],
        None,
    )
    .unwrap();
    let png = std::fs::read(LOGO).unwrap();
    let expected = serde_json::json!({
        "display_name": "Acme <Group>",
        "logo_bytes": png.len(),
        "primary_color": "#0b3d91",
        "scope_descriptions": {"api": "Read your orders", "billing": "See your invoices"},
    });
    assert_eq!(v["branding"], expected);
    assert_eq!(
        admin(&["tenant", "get", a], None).unwrap()["branding"],
        expected
    );
    let stored = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    assert_eq!(stored.branding.logo.unwrap().bytes(), png.as_slice());

    // The page shows it (escaped), the logo inline.
    let client = t.code_client().await;
    let page = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("scope", "api"),
            ("state", "s"),
        ])
        .await;
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in to Acme &lt;Group&gt;"), "{html}");
    assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgo"));
    assert!(html.contains("--p:#0b3d91;--pt:#ffffff"));
    assert!(html.contains("<li data-scope=\"api\">Read your orders</li>"));

    // One at a time: empty removes.
    let v = admin(
        &[
            "tenant",
            "update",
            a,
            "--display-name",
            "",
            "--no-logo",
            "--scope-description",
            "api=",
        ],
        None,
    )
    .unwrap();
    assert_eq!(
        v["branding"],
        serde_json::json!({
            "display_name": null,
            "logo_bytes": null,
            "primary_color": "#0b3d91",
            "scope_descriptions": {"billing": "See your invoices"},
        })
    );
    // All at once.
    let v = admin(&["tenant", "update", a, "--clear-branding"], None).unwrap();
    assert_eq!(
        v["branding"],
        serde_json::json!({
            "display_name": null,
            "logo_bytes": null,
            "primary_color": null,
            "scope_descriptions": {},
        })
    );
}

#[tokio::test]
async fn bad_branding_is_rejected_and_nothing_is_written() {
    let t = TestTenant::new().await;
    let a = t.alias.as_str();
    admin(&["tenant", "update", a, "--display-name", "Kept"], None).unwrap();
    let dir = std::env::temp_dir().join(format!("tollgate-branding-{}", random_alias()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("logo.svg");
    std::fs::write(&svg, "<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap();
    let big = dir.join("big.png");
    let mut bytes = std::fs::read(LOGO).unwrap();
    bytes.resize(32 * 1024 + 1, 0);
    std::fs::write(&big, bytes).unwrap();
    let svg = svg.to_str().unwrap();
    let big = big.to_str().unwrap();
    for (args, needle) in [
        (vec!["--primary-color", "red"], "--primary-color"),
        (vec!["--primary-color", "#12345"], "#RRGGBB"),
        (vec!["--primary-color", "#123456;}"], "#RRGGBB"),
        (vec!["--logo", svg], "PNG"),
        (vec!["--logo", big], "at most 32768"),
        (vec!["--logo", "/nonexistent/logo.png"], "--logo"),
        (vec!["--logo", LOGO, "--no-logo"], "cannot be used together"),
        (vec!["--display-name", "two\nlines"], "--display-name"),
        (vec!["--scope-description", "api"], "SCOPE=TEXT"),
        (vec!["--scope-description", "a b=text"], "not a scope name"),
        (
            vec!["--display-name", "New", "--primary-color", "blue"],
            "--primary-color",
        ),
    ] {
        let mut all = vec!["tenant", "update", a];
        all.extend(args);
        fails_with(&all, None, needle);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let got = admin(&["tenant", "get", a], None).unwrap();
    assert_eq!(got["branding"]["display_name"], "Kept");
    assert_eq!(got["branding"]["primary_color"], serde_json::Value::Null);
}
