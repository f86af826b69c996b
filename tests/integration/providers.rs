//! `tollgate-admin provider add|get|list|update|remove` against the local
//! stack (SPEC: Provisioning CLI, Upstream providers): what it prints (the
//! callback URI, never the secret), the provider as a tenant-level item, its
//! client secret in the Secrets Manager emulator and gone after `remove` and
//! `tenant delete`, bad input and SSRF refused with nothing written, and an
//! `oidc` provider added from node-oidc-provider's real discovery document.

use crate::helpers::*;
use crate::token_exchange::Idp;
use serde_json::Value;
use tollgate::ports::ProviderStore;
use tollgate::store::secrets_manager::{SecretSource, SecretsManager};

const SECRET: &str = "upstream-secret-0123456789-abcdefghij-!#$%&()*+,-./:;<=>?@[]^_{|}~";

async fn sm() -> SecretsManager {
    SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk().await))
}

async fn upstream_secret(t: &TestTenant, name: &str) -> Option<String> {
    sm().await
        .fetch(&config().upstream_secret_name(&t.tenant_id(), name))
        .await
        .unwrap()
}

async fn cli(args: &[&str], stdin: Option<&str>) -> Result<Value, String> {
    admin_async(
        args.iter().map(|s| s.to_string()).collect(),
        stdin.map(str::to_owned),
    )
    .await
}

fn add_maximizer<'a>(t: &'a TestTenant, name: &'a str) -> Vec<&'a str> {
    vec![
        "provider",
        "add",
        "--tenant",
        &t.alias,
        "--name",
        name,
        "--preset",
        "maximizer",
        "--var",
        "region=caw",
        "--var",
        "company_alias=whitecaps",
        "--client-id",
        "abcdefghij0123456789",
        "--client-secret-stdin",
    ]
}

/// A command that must fail: one line on stderr mentioning `needle`,
/// nothing on stdout (`admin` checks that).
async fn refused(args: &[&str], stdin: Option<&str>, needle: &str) {
    let e = cli(args, stdin)
        .await
        .expect_err(&format!("{args:?} should fail"));
    assert_eq!(e.trim_end().lines().count(), 1, "one line on stderr: {e:?}");
    assert!(e.contains(needle), "{e:?} should mention {needle:?}");
    assert!(!e.contains(SECRET), "the secret in an error: {e}");
}

#[tokio::test]
async fn provider_add_prints_the_callback_uri_and_keeps_the_secret_in_secrets_manager() {
    let t = TestTenant::new().await;
    let out = cli(&add_maximizer(&t, "crm"), Some(&format!("{SECRET}\n")))
        .await
        .unwrap();
    assert_eq!(out["name"], "crm");
    assert_eq!(out["preset"], "maximizer");
    assert_eq!(
        out["callback_uri"],
        format!(
            "{}/oauth2/{}/upstream/crm/callback",
            stack().function_base("callback"),
            t.alias
        )
    );
    assert_eq!(
        out["authorize_url"],
        "https://caw.maximizercrmlive.com/OAuth2/whitecaps/Authorize"
    );
    assert_eq!(
        out["token_url"],
        "https://caw.maximizercrmlive.com/OAuth2/whitecaps/Token"
    );
    assert_eq!(out["has_client_secret"], true);
    assert_eq!(out["client_scope"], "upstream:crm");
    assert_eq!(out["display_name"], "Maximizer");
    assert_eq!(out["grant"], "authorization_code");
    assert!(!out.to_string().contains(SECRET), "the secret was printed");
    // The secret is in Secrets Manager, exactly, and nowhere in the table.
    assert_eq!(upstream_secret(&t, "crm").await.as_deref(), Some(SECRET));
    let items = db().await.tenant_items(&t.tenant_id()).await.unwrap();
    let item = items
        .iter()
        .find(|i| i.sort_key == "PROVIDER#crm")
        .expect("the provider item");
    assert_eq!(
        item.partition_key,
        format!("T#{}", t.alias),
        "a tenant-level item"
    );
    assert!(
        items.iter().all(|i| !i.dump.contains(SECRET)),
        "the secret is in the table"
    );
    // The functions' read port sees it.
    let p = db()
        .await
        .provider(&t.tenant_id(), "crm")
        .await
        .unwrap()
        .unwrap();
    assert!(p.has_client_secret && p.quirks().refresh_sends_redirect_uri);
    // get and list print the same, never a secret.
    let got = cli(
        &["provider", "get", "--tenant", &t.alias, "--name", "crm"],
        None,
    )
    .await
    .unwrap();
    assert_eq!(got, out);
    let listed = cli(&["provider", "list", "--tenant", &t.alias], None)
        .await
        .unwrap();
    assert_eq!(listed["items"], serde_json::json!([out]));
    // A second add of the name is refused and changes nothing.
    refused(
        &add_maximizer(&t, "crm"),
        Some("another-secret"),
        "already exists",
    )
    .await;
    assert_eq!(upstream_secret(&t, "crm").await.as_deref(), Some(SECRET));
    // update: the named fields only; a new secret replaces the old.
    let up = cli(
        &[
            "provider",
            "update",
            "--tenant",
            &t.alias,
            "--name",
            "crm",
            "--display-name",
            "Maximizer CRM",
            "--refresh-url",
            "https://proxy.example.com/token",
            "--client-secret-stdin",
        ],
        Some("the-new-secret\n"),
    )
    .await
    .unwrap();
    assert_eq!(up["display_name"], "Maximizer CRM");
    assert_eq!(up["refresh_url"], "https://proxy.example.com/token");
    assert_eq!(up["client_id"], out["client_id"]);
    assert_eq!(up["token_url"], out["token_url"]);
    assert_eq!(
        upstream_secret(&t, "crm").await.as_deref(),
        Some("the-new-secret")
    );
    let update = |flag: &'static str, v: &'static str| {
        let alias = t.alias.clone();
        async move {
            cli(
                &[
                    "provider", "update", "--tenant", &alias, "--name", "crm", flag, v,
                ],
                None,
            )
            .await
        }
    };
    assert!(
        update("--sign-in", "true")
            .await
            .unwrap_err()
            .contains("OpenID")
    );
    assert!(
        update("--token-url", "https://10.0.0.1/token")
            .await
            .is_err()
    );
    assert!(
        update("--revocation-url", "https://169.254.169.254/x")
            .await
            .is_err()
    );
    // remove: the secret goes, then the provider.
    let rm = cli(
        &["provider", "remove", "--tenant", &t.alias, "--name", "crm"],
        None,
    )
    .await
    .unwrap();
    assert_eq!(rm["removed"], true);
    assert_eq!(rm["deleted_secret"], true);
    assert_eq!(upstream_secret(&t, "crm").await, None);
    refused(
        &["provider", "get", "--tenant", &t.alias, "--name", "crm"],
        None,
        "unknown provider",
    )
    .await;
    refused(
        &["provider", "remove", "--tenant", &t.alias, "--name", "crm"],
        None,
        "unknown provider",
    )
    .await;
}

/// SSRF through provider vars and overrides, and every other bad input:
/// refused with one line, nothing written (no item, no secret).
#[tokio::test]
async fn provider_add_refuses_ssrf_and_bad_input_writing_nothing() {
    let t = TestTenant::new().await;
    let s = Some(SECRET);
    let base = |extra: &[&'static str]| {
        let mut a: Vec<String> = ["provider", "add", "--tenant", &t.alias, "--name", "bad"]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        // A var trying to change the host, the port, the userinfo, the path.
        (
            &[
                "--preset",
                "maximizer",
                "--var",
                "region=evil.com#",
                "--var",
                "company_alias=x",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--var region",
        ),
        (
            &[
                "--preset",
                "maximizer",
                "--var",
                "region=caw",
                "--var",
                "company_alias=../../admin",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--var company_alias",
        ),
        (
            &[
                "--preset",
                "maximizer",
                "--var",
                "region=x@evil.com",
                "--var",
                "company_alias=x",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--var region",
        ),
        (
            &[
                "--preset",
                "maximizer-on-premise",
                "--var",
                "server=crm.example.com:8443",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--var server",
        ),
        (
            &[
                "--preset",
                "maximizer-on-premise",
                "--var",
                "server=user@crm.example.com",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--var server",
        ),
        (
            &[
                "--preset",
                "maximizer-on-premise",
                "--var",
                "server=crm.example.com/x?",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--var server",
        ),
        (
            &[
                "--preset",
                "maximizer-on-premise",
                "--var",
                "server=169.254.169.254",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "metadata",
        ),
        (
            &[
                "--preset",
                "maximizer-on-premise",
                "--var",
                "server=10.1.2.3",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "private",
        ),
        (
            &[
                "--preset",
                "b2c-ropc",
                "--var",
                "tenant=evil.com/x",
                "--var",
                "policy=B2C_1_ROPC",
                "--client-id",
                "c",
                "--scope",
                "https://t.onmicrosoft.com/api",
            ],
            None,
            "--var tenant",
        ),
        // Overrides to internal addresses.
        (
            &[
                "--preset",
                "keap",
                "--token-url",
                "https://10.0.0.1/token",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "private",
        ),
        (
            &[
                "--preset",
                "keap",
                "--authorize-url",
                "https://[::ffff:127.0.0.1]/a",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "authorize URL",
        ),
        (
            &[
                "--preset",
                "oauth2",
                "--authorize-url",
                "https://as.example.com/a",
                "--token-url",
                "https://user:pw@as.example.com/t",
                "--client-id",
                "c",
            ],
            None,
            "credentials",
        ),
        (
            &[
                "--preset",
                "keap",
                "--revocation-url",
                "https://169.254.169.254/latest",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "metadata",
        ),
        (
            &[
                "--preset",
                "keap",
                "--refresh-url",
                "https://192.168.0.10/token",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "private",
        ),
        // Other bad input.
        (&["--preset", "nope", "--client-id", "c"], None, "--preset"),
        (
            &[
                "--preset",
                "maximizer",
                "--var",
                "region=caw",
                "--var",
                "company_alias=x",
                "--client-id",
                "c",
            ],
            None,
            "client secret",
        ),
        (
            &[
                "--preset",
                "b2c-ropc",
                "--var",
                "tenant=t",
                "--var",
                "policy=p",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "public client",
        ),
        (
            &[
                "--preset",
                "keap",
                "--client-id",
                "c",
                "--client-secret-stdin",
                "--grant",
                "password",
            ],
            s,
            "--grant",
        ),
        (
            &[
                "--preset",
                "keap",
                "--client-id",
                "c",
                "--client-secret-stdin",
                "--sign-in",
            ],
            s,
            "--sign-in",
        ),
        (&["--preset", "oidc", "--client-id", "c"], None, "--issuer"),
        (
            &[
                "--preset",
                "keap",
                "--issuer",
                "https://idp.example.com",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            s,
            "--issuer",
        ),
        (
            &["--preset", "oauth2", "--client-id", "c"],
            None,
            "--token-url",
        ),
        (
            &[
                "--preset",
                "keap",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ],
            Some(""),
            "client secret",
        ),
        (
            &[
                "--preset",
                "keap",
                "--client-id",
                "c",
                "--client-secret-stdin",
                "--var",
                "region=caw",
            ],
            s,
            "--var region",
        ),
    ];
    for (extra, stdin, needle) in cases {
        let a = base(extra);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(&args, *stdin, needle).await;
    }
    refused(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "https://x",
            "--preset",
            "keap",
            "--client-id",
            "c",
        ],
        None,
        "--name",
    )
    .await;
    let listed = cli(&["provider", "list", "--tenant", &t.alias], None)
        .await
        .unwrap();
    assert_eq!(listed["items"], serde_json::json!([]));
    assert_eq!(upstream_secret(&t, "bad").await, None);
}

#[tokio::test]
async fn an_oidc_provider_takes_its_endpoints_from_the_real_discovery_document() {
    let idp = Idp::start();
    let t = TestTenant::new().await;
    let doc: Value = stack()
        .http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let out = cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "partner",
            "--preset",
            "oidc",
            "--issuer",
            &idp.issuer,
            "--client-id",
            "partner-app",
            "--client-secret-stdin",
            "--scope",
            "openid email",
            "--sign-in",
            "--create-users",
            "--display-name",
            "Partner",
        ],
        Some("idp-secret-idp-secret-idp-secret-idp-secret-0000"),
    )
    .await
    .unwrap();
    assert_eq!(out["issuer"], idp.issuer);
    assert_eq!(out["authorize_url"], doc["authorization_endpoint"]);
    assert_eq!(out["token_url"], doc["token_endpoint"]);
    assert_eq!(out["jwks_uri"], doc["jwks_uri"]);
    assert_eq!(out["revocation_url"], doc["revocation_endpoint"]);
    assert_eq!(out["scopes"], serde_json::json!(["openid", "email"]));
    assert_eq!(out["sign_in"], true);
    assert_eq!(out["create_users"], true);
    // The issuer in the document must be --issuer exactly.
    refused(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "partner2",
            "--preset",
            "oidc",
            "--issuer",
            &format!("{}/", idp.issuer),
            "--client-id",
            "partner-app",
        ],
        None,
        "another issuer",
    )
    .await;
    // An issuer that is not there.
    refused(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "partner3",
            "--preset",
            "oidc",
            "--issuer",
            "http://127.0.0.1:9/nothing",
            "--client-id",
            "partner-app",
        ],
        None,
        "cannot read",
    )
    .await;
}

#[tokio::test]
async fn tenant_delete_removes_the_providers_and_their_secrets() {
    let t = TestTenant::new().await;
    cli(&add_maximizer(&t, "crm"), Some(SECRET)).await.unwrap();
    cli(
        &[
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            "ropc",
            "--preset",
            "b2c-ropc",
            "--var",
            "tenant=maxcustomerportal",
            "--var",
            "policy=B2C_1_ROPC",
            "--client-id",
            "74c72ab2-3ade-45fe-83e0-cd5b90704539",
            "--scope",
            "https://maxcustomerportal.onmicrosoft.com/ea/api",
        ],
        None,
    )
    .await
    .map(|o| {
        assert_eq!(o["grant"], "password");
        assert_eq!(o["has_client_secret"], false);
        assert_eq!(
            o["scopes"],
            serde_json::json!([
                "https://maxcustomerportal.onmicrosoft.com/ea/api",
                "offline_access"
            ])
        );
    })
    .unwrap();
    assert!(upstream_secret(&t, "crm").await.is_some());
    cli(&["tenant", "delete", &t.alias], None).await.unwrap();
    assert_eq!(upstream_secret(&t, "crm").await, None);
    assert!(
        db().await
            .providers(&t.tenant_id())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_client_may_be_registered_for_a_provider_with_its_upstream_scope() {
    let t = TestTenant::new().await;
    cli(&add_maximizer(&t, "crm"), Some(SECRET)).await.unwrap();
    let c = t
        .client(&[
            "--grant",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid upstream:crm",
        ])
        .await;
    let got = cli(
        &["client", "get", "--tenant", &t.alias, "--client-id", &c.id],
        None,
    )
    .await
    .unwrap();
    assert_eq!(got["scopes"], serde_json::json!(["openid", "upstream:crm"]));
    let up = cli(
        &[
            "client",
            "update",
            "--tenant",
            &t.alias,
            "--client-id",
            &c.id,
            "--scope",
            "upstream:crm",
            "upstream:other",
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        up["scopes"],
        serde_json::json!(["upstream:crm", "upstream:other"])
    );
}

#[tokio::test]
async fn the_first_provider_of_a_tenant_made_before_the_vault_gives_it_vault_keys() {
    let t = TestTenant::new().await;
    let name = config().vault_key_secret(&t.tenant_id());
    // As if the tenant predated the vault.
    sm().await.delete_now(&name).await.unwrap();
    assert!(sm().await.fetch(&name).await.unwrap().is_none());
    cli(&add_maximizer(&t, "max"), Some(SECRET)).await.unwrap();
    let keys = sm().await.fetch(&name).await.unwrap();
    assert!(
        keys.is_some_and(|k| tollgate::tokens::vault::VaultKeys::parse(&k).is_ok()),
        "provider add made no vault key set"
    );
}
