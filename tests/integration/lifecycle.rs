//! The lifecycle CLI (SPEC: Provisioning CLI): read, list, change and remove
//! tenants, clients and users, with immediate effect on the running stack.

use crate::fault_proxy::{Fault, FaultProxy, Ops, Service};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use tollgate::admin::Admin;
use tollgate::admin::clients::ClientUpdate;
use tollgate::admin::tenants::{BrandingUpdate, TenantUpdate};
use tollgate::ports::Directory;

fn ok(args: &[&str]) -> Value {
    admin(args, None).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[tokio::test]
async fn tenant_delete_removes_every_item_and_secret_of_the_tenant_and_nothing_else() {
    let doomed = TestTenant::new().await;
    let kept = TestTenant::new().await;
    for t in [&doomed, &kept] {
        t.user("del", &[]).await;
        let c = t.code_client().await;
        // Hot items: a code, a family and refresh token, a throttle, a login tx.
        let code = t.code(&c, &[], "del").await;
        let (s, _) = t
            .token(
                Some(&c),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let db = db().await;
    let kept_before = db.tenant_items(&kept.tenant_id()).await.unwrap().len();
    assert!(
        !db.tenant_items(&doomed.tenant_id())
            .await
            .unwrap()
            .is_empty()
    );

    let out = ok(&["tenant", "delete", &doomed.alias]);
    assert!(out["deleted_items"].as_u64().unwrap() >= 8, "{out}");
    assert!(out["deleted_secrets"].as_u64().unwrap() >= 2, "{out}");
    assert!(
        db.tenant_items(&doomed.tenant_id())
            .await
            .unwrap()
            .is_empty()
    );
    let secrets = tollgate::store::secrets_manager::SecretsManager::new(
        aws_sdk_secretsmanager::Client::new(&sdk().await),
    );
    use tollgate::store::secrets_manager::SecretSource;
    assert!(
        secrets
            .fetch(&config().signing_key_secret(&doomed.tenant_id()))
            .await
            .unwrap()
            .is_none()
    );
    // The other tenant is whole and still works.
    assert_eq!(
        db.tenant_items(&kept.tenant_id()).await.unwrap().len(),
        kept_before
    );
    assert!(
        secrets
            .fetch(&config().signing_key_secret(&kept.tenant_id()))
            .await
            .unwrap()
            .is_some()
    );
    assert!(admin(&["tenant", "get", &doomed.alias], None).is_err());
    ok(&["tenant", "get", &kept.alias]);
}

#[tokio::test]
async fn lists_paginate_and_never_print_a_secret_or_a_hash() {
    let t = TestTenant::new().await;
    let mut secrets = Vec::new();
    for _ in 0..3 {
        let c = t.client(&["--grant", "client_credentials"]).await;
        secrets.push(c.secret.clone().unwrap());
    }
    for u in ["la", "lb", "lc"] {
        t.user(u, &[]).await;
    }
    let first = ok(&["client", "list", "--tenant", &t.alias, "--limit", "2"]);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().expect("a next page").to_owned();
    let second = ok(&[
        "client", "list", "--tenant", &t.alias, "--limit", "2", "--next", &next,
    ]);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    let users = ok(&["user", "list", "--tenant", &t.alias]);
    let names: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["la", "lb", "lc"]);
    let everything = format!("{first}{second}{users}");
    for s in &secrets {
        assert!(!everything.contains(s.as_str()));
    }
    assert!(!everything.contains("sha256:"));
    assert!(!everything.contains("$argon2"));
    assert!(!everything.contains("password_hash"));
}

#[tokio::test]
async fn a_disabled_client_can_no_longer_authenticate() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let (s, _) = t
        .token(Some(&c), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(s, StatusCode::OK);
    ok(&[
        "client",
        "disable",
        "--tenant",
        &t.alias,
        "--client-id",
        &c.id,
    ]);
    assert_eq!(
        ok(&["client", "get", "--tenant", &t.alias, "--client-id", &c.id])["enabled"],
        false
    );
    ok(&[
        "client",
        "enable",
        "--tenant",
        &t.alias,
        "--client-id",
        &c.id,
    ]);
    assert_eq!(
        ok(&["client", "get", "--tenant", &t.alias, "--client-id", &c.id])["enabled"],
        true
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_revoke_tokens_ends_every_session() {
    let t = TestTenant::new().await;
    let user_id = t.user("dis", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = t.password_grant(&c, "dis", Some("api")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    ok(&[
        "user",
        "revoke-tokens",
        "--tenant",
        &t.alias,
        "--user-id",
        &user_id,
    ]);
    let (s, _) = t.refresh(&c, &rt).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the session is gone");
    ok(&[
        "user",
        "disable",
        "--tenant",
        &t.alias,
        "--user-id",
        &user_id,
    ]);
    let (s, _) = t.password_grant(&c, "dis", Some("api")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a disabled user cannot sign in");
    ok(&[
        "user",
        "enable",
        "--tenant",
        &t.alias,
        "--user-id",
        &user_id,
    ]);
    let (s, _) = t.password_grant(&c, "dis", Some("api")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_secret_keeps_the_old_one_only_for_the_grace_period() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let rotated = ok(&[
        "client",
        "rotate-secret",
        "--tenant",
        &t.alias,
        "--client-id",
        &c.id,
        "--grace",
        "3600",
    ]);
    let new = TestClient {
        id: c.id.clone(),
        secret: Some(rotated["client_secret"].as_str().unwrap().to_owned()),
    };
    assert_ne!(new.secret, c.secret);
    // Wait out the functions' 5 s re-read guard for a freshly cached secret.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    for who in [&c, &new] {
        let (s, v) = t
            .token(Some(who), &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // Without grace the old one stops at once.
    let again = ok(&[
        "client",
        "rotate-secret",
        "--tenant",
        &t.alias,
        "--client-id",
        &c.id,
    ]);
    let newest = TestClient {
        id: c.id.clone(),
        secret: Some(again["client_secret"].as_str().unwrap().to_owned()),
    };
    // The new one works at once (a mismatch re-reads a copy over 5 s old)…
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let (s, _) = t
        .token(Some(&newest), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(s, StatusCode::OK);
    // …and the ended one stops within the 30 s the functions keep a copy.
    tokio::time::sleep(std::time::Duration::from_secs(26)).await;
    let (s, _) = t
        .token(Some(&new), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = t
        .token(Some(&newest), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn unlock_lifts_the_throttle_and_set_password_ends_sessions() {
    let t = TestTenant::new().await;
    let user_id = t.user("lock", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (_, v) = t.password_grant(&c, "lock", Some("api")).await;
    let rt = v["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        t.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "lock"),
                ("password", "nope"),
            ],
        )
        .await;
    }
    let (s, _) = t.password_grant(&c, "lock", Some("api")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    ok(&[
        "user",
        "unlock",
        "--tenant",
        &t.alias,
        "--user-id",
        &user_id,
    ]);
    let (s, _) = t.password_grant(&c, "lock", Some("api")).await;
    assert_eq!(s, StatusCode::OK);
    admin(
        &[
            "user",
            "set-password",
            "--tenant",
            &t.alias,
            "--user-id",
            &user_id,
        ],
        Some("a completely new passphrase"),
    )
    .unwrap();
    let (s, _) = t.refresh(&c, &rt).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "set-password ends every session"
    );
    let (s, _) = t.password_grant(&c, "lock", Some("api")).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "the old password no longer works"
    );
}

#[tokio::test]
async fn user_update_and_delete() {
    let t = TestTenant::new().await;
    let user_id = t.user("upd", &["--email", "old@example.com"]).await;
    let v = ok(&[
        "user",
        "update",
        "--tenant",
        &t.alias,
        "--user-id",
        &user_id,
        "--email",
        "new@example.com",
        "--attr",
        "tier=gold",
    ]);
    assert_eq!(v["email"], "new@example.com");
    assert_eq!(v["attrs"]["tier"], "gold");
    ok(&[
        "user",
        "delete",
        "--tenant",
        &t.alias,
        "--user-id",
        &user_id,
    ]);
    assert!(
        admin(
            &["user", "get", "--tenant", &t.alias, "--user-id", &user_id],
            None
        )
        .is_err()
    );
    // The username is free again.
    t.user("upd", &[]).await;
}

#[tokio::test]
async fn bootstrap_makes_tenant_client_and_user_or_nothing() {
    let alias = random_alias();
    let out = admin(
        &[
            "tenant",
            "bootstrap",
            &alias,
            "--client-name",
            "App",
            "--grant",
            "password",
            "--scope",
            "api",
            "--username",
            "first",
        ],
        Some(PASSWORD),
    )
    .unwrap();
    let client_id = out["client"]["client_id"].as_str().unwrap();
    assert_eq!(out["client"]["client_secret"].as_str().unwrap().len(), 64);
    ok(&[
        "client",
        "get",
        "--tenant",
        &alias,
        "--client-id",
        client_id,
    ]);
    let users = ok(&["user", "list", "--tenant", &alias]);
    assert_eq!(users["items"][0]["username"], "first");
    // A step that fails leaves nothing behind.
    let broken = random_alias();
    let err = admin(
        &[
            "tenant",
            "bootstrap",
            &broken,
            "--client-name",
            "App",
            "--grant",
            "authorization_code",
            "--username",
            "first",
        ],
        Some(PASSWORD),
    )
    .unwrap_err();
    assert!(err.contains("redirect-uri"), "{err}");
    assert!(admin(&["tenant", "get", &broken], None).is_err());
}

#[tokio::test]
async fn every_change_made_with_the_cli_is_an_audit_line_without_secrets() {
    let t = TestTenant::new().await;
    let (ok_, stdout, stderr) = admin_raw(
        &[
            "client",
            "create",
            "--tenant",
            &t.alias,
            "--name",
            "A",
            "--grant",
            "client_credentials",
        ],
        None,
    );
    assert!(ok_);
    let created: Value = serde_json::from_str(stdout.trim()).unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let audit: Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(audit["event"], "admin_change");
    assert_eq!(audit["command"], "client create");
    assert_eq!(audit["tenant"], t.alias.as_str());
    assert!(!stderr.contains(secret), "no secret in the audit line");
    let (_, _, stderr) = admin_raw(&["client", "list", "--tenant", &t.alias], None);
    assert!(stderr.is_empty(), "reads are not changes: {stderr}");
}

// ---- updates change only what they name (SPEC: Provisioning CLI) ----------

/// An admin talking to DynamoDB through `proxy` (its requests can be held).
async fn admin_via(proxy: &FaultProxy) -> Admin {
    crate::helpers::admin_over(config(), &proxy.sdk_config().await)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Runs `update` (an in-process admin call through `proxy`) with its first
/// DynamoDB write held at the proxy until `meanwhile` has finished: changes
/// that land between the update's reads and its write, deterministically.
async fn with_write_held<T>(
    proxy: &FaultProxy,
    update: impl Future<Output = T>,
    meanwhile: impl Future<Output = ()>,
) -> T {
    proxy.plan(Service::DynamoDb, Ops::Writes, 0, Fault::Hold);
    let mut update = std::pin::pin!(update);
    tokio::select! {
        _ = &mut update => panic!("the update finished without writing"),
        () = proxy.until_held(1) => {}
    }
    meanwhile.await;
    proxy.release();
    update.await
}

#[tokio::test]
async fn client_update_never_undoes_a_concurrent_disable() {
    let t = TestTenant::new().await;
    let c = t.client(&["--grant", "client_credentials"]).await;
    let proxy = FaultProxy::start().await;
    let via_proxy = admin_via(&proxy).await;
    let update = via_proxy.update_client(ClientUpdate {
        tenant: t.alias.clone(),
        client_id: c.id.clone(),
        name: Some("Renamed".into()),
        redirect_uris: None,
        scopes: None,
        web_origins: None,
        introspect: None,
    });
    let disable = async {
        let args = [
            "client",
            "disable",
            "--tenant",
            &t.alias,
            "--client-id",
            &c.id,
        ];
        admin_async(strings(&args), None).await.unwrap();
    };
    let v = with_write_held(&proxy, update, disable).await.unwrap();
    assert_eq!(v["name"], "Renamed");
    let stored = ok(&["client", "get", "--tenant", &t.alias, "--client-id", &c.id]);
    assert_eq!(stored["name"], "Renamed");
    assert_eq!(stored["enabled"], false, "the disable stays: {stored}");
}

#[tokio::test]
async fn user_update_changes_only_the_fields_it_names() {
    let t = TestTenant::new().await;
    let user_id = t.user("named", &["--attr", "tier=gold"]).await;
    let proxy = FaultProxy::start().await;
    let via_proxy = admin_via(&proxy).await;
    let update = via_proxy.update_user(
        &t.alias,
        &user_id,
        Some("new@example.com".into()),
        None,
        vec!["team=blue".into()],
        None,
    );
    let meanwhile = async {
        let u = ["--tenant", t.alias.as_str(), "--user-id", user_id.as_str()];
        let mut other = strings(&["user", "update"]);
        other.extend(strings(&u));
        other.extend(strings(&["--attr", "plan=pro", "--name", "Named"]));
        admin_async(other, None).await.unwrap();
        let mut disable = strings(&["user", "disable"]);
        disable.extend(strings(&u));
        admin_async(disable, None).await.unwrap();
        let mut set = strings(&["user", "set-password", "--require-password-change"]);
        set.extend(strings(&u));
        admin_async(set, Some("another password".into()))
            .await
            .unwrap();
    };
    with_write_held(&proxy, update, meanwhile).await.unwrap();
    let v = ok(&["user", "get", "--tenant", &t.alias, "--user-id", &user_id]);
    assert_eq!(v["email"], "new@example.com");
    assert_eq!(v["name"], "Named", "{v}");
    assert_eq!(
        v["attrs"],
        serde_json::json!({"tier": "gold", "plan": "pro", "team": "blue"}),
        "{v}"
    );
    assert_eq!(v["enabled"], false, "{v}");
    assert_eq!(v["require_password_change"], true, "{v}");
}

/// `tenant update` never writes the keys, so a key rotation that publishes
/// between its read and its write stays; a concurrent edit of the scope
/// descriptions it also edits is read again, not overwritten.
#[tokio::test]
async fn tenant_update_never_undoes_a_key_rotation_or_another_update() {
    let t = TestTenant::new().await;
    let before = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    let proxy = FaultProxy::start().await;
    let via_proxy = admin_via(&proxy).await;
    let update = via_proxy.update_tenant(
        &t.alias,
        TenantUpdate {
            name: Some("Renamed".into()),
            access_token_ttl: None,
            refresh_token_ttl: None,
            audiences: None,
            sliding_max: None,
            key_rotation_days: None,
            branding: BrandingUpdate {
                scope_descriptions: vec!["api=Use the API".into()],
                ..BrandingUpdate::default()
            },
        },
    );
    let meanwhile = async {
        admin_async(strings(&["key", "rotate", "--tenant", &t.alias]), None)
            .await
            .unwrap();
        let other = [
            "tenant",
            "update",
            &t.alias,
            "--display-name",
            "Acme",
            "--scope-description",
            "read=Read your data",
        ];
        admin_async(strings(&other), None).await.unwrap();
    };
    with_write_held(&proxy, update, meanwhile).await.unwrap();
    let after = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    assert_eq!(after.name, "Renamed");
    assert_ne!(
        after.public_jwks, before.public_jwks,
        "the rotation's JWKS stays"
    );
    assert_eq!(after.branding.display_name.as_deref(), Some("Acme"));
    assert_eq!(
        after.branding.scope_descriptions,
        std::collections::BTreeMap::from([
            ("api".to_owned(), "Use the API".to_owned()),
            ("read".to_owned(), "Read your data".to_owned()),
        ])
    );
}

/// The access-token lifetime and the sliding maximum are checked together
/// (`access <= sliding`): each update names one, and a concurrent update of
/// the other is read again, never overwritten, never left inconsistent.
#[tokio::test]
async fn tenant_update_keeps_sliding_max_consistent_with_a_concurrent_update() {
    let t = TestTenant::new().await;
    let proxy = FaultProxy::start().await;
    let via_proxy = admin_via(&proxy).await;
    let update = via_proxy.update_tenant(
        &t.alias,
        TenantUpdate {
            name: None,
            access_token_ttl: Some(3600),
            refresh_token_ttl: None,
            audiences: None,
            sliding_max: None,
            key_rotation_days: None,
            branding: BrandingUpdate::default(),
        },
    );
    let meanwhile = async {
        let other = ["tenant", "update", &t.alias, "--sliding-max", "1200"];
        admin_async(strings(&other), None).await.unwrap();
    };
    let e = with_write_held(&proxy, update, meanwhile)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--sliding-max"), "{e}");
    let after = db().await.tenant(&t.tenant_id()).await.unwrap().unwrap();
    assert_eq!(
        (after.access_token_ttl, after.sliding_max),
        (600, Some(1200))
    );
}
