//! The CLI's connection commands over the fakes (`admin::connections`):
//! `connection list|get|remove` and the purges of `user delete`, `provider
//! remove` and `tenant delete` — every connection named is removed, its
//! refresh token revoked at the provider where it can, and nothing printed
//! is a token or a ciphertext. The real CLI against DynamoDB Local and a real
//! provider: `tests/integration/vault_connections.rs`.

use crate::admin::connections::{ConnectionOps, Purge, Purged};
use crate::clock::Now;
use crate::config::Config;
use crate::domain::connections::{ConnectionKey, Owner};
use crate::domain::providers::engine::TokenAnswer;
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::ids::{ProviderName, TenantId, UserId};
use crate::ports::{ConnectionStore, ProviderStore};
use crate::testing::fakes::{Fakes, Fault};
use crate::tokens::vault::{Vault, VaultKeys};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::collections::BTreeMap;

const T0: u64 = 1_700_000_000;
const REVOKE_URL: &str = "https://crm.example/revoke";

struct Setup {
    fakes: Fakes,
    config: Config,
    tenant: TenantId,
    vault: Vault,
}

impl Setup {
    /// Tenant `acme` with its vault keys and two providers: `crm` (with a
    /// revocation endpoint and a client secret) and `keap` (without one).
    async fn new() -> Setup {
        let fakes = Fakes::new(T0);
        let config = Config::from_lookup(|_| None);
        let tenant = TenantId::parse("acme").unwrap();
        let keys = VaultKeys::generate();
        fakes.secrets.put(
            config.vault_key_secret(&tenant),
            keys.to_json().unwrap().expose_secret(),
        );
        for (name, revocation) in [("crm", Some(REVOKE_URL)), ("keap", None)] {
            let p = Provider {
                tenant: tenant.clone(),
                name: name.into(),
                preset: Preset::OAuth2,
                vars: Default::default(),
                endpoints: Endpoints {
                    token: format!("https://{name}.example/token"),
                    revocation: revocation.map(str::to_owned),
                    ..Endpoints::default()
                },
                client_id: format!("{name}-client"),
                has_client_secret: true,
                scopes: vec![],
                grant: UpstreamGrant::AuthorizationCode,
                display_name: name.into(),
                sign_in: false,
                create_users: false,
                created_at: T0,
            };
            fakes.store.create_provider(&p).await.unwrap();
            fakes.secrets.put(
                config.upstream_secret_name(&tenant, name),
                format!("{name}-secret"),
            );
        }
        Setup {
            vault: keys.vault().unwrap(),
            fakes,
            config,
            tenant,
        }
    }

    fn ops(&self) -> ConnectionOps<'_> {
        ConnectionOps {
            config: &self.config,
            connections: self.fakes.store.as_ref(),
            providers: self.fakes.store.as_ref(),
            secrets: self.fakes.secrets.as_ref(),
            upstream: self.fakes.upstream.as_ref(),
        }
    }

    fn key(&self, owner: &Owner, provider: &str) -> ConnectionKey {
        ConnectionKey {
            tenant: self.tenant.clone(),
            owner: owner.clone(),
            provider: ProviderName::parse(provider).unwrap(),
        }
    }

    /// A connection with a fresh grant of the fake provider; its refresh token.
    async fn connect(&self, owner: &Owner, provider: &str) -> String {
        let rt = self.fakes.upstream.grant();
        let answer = TokenAnswer {
            access_token: SecretString::from(format!("at-of-{rt}")),
            refresh_token: Some(SecretString::from(rt.clone())),
            expires_in: 600,
            scope: None,
            id_token: None,
        };
        let new = crate::tokens::upstream::new_connection(
            &self.vault,
            self.key(owner, provider),
            Preset::OAuth2.quirks(),
            &answer,
            Some("acct".into()),
            Now(T0),
        )
        .unwrap();
        self.fakes.store.connect(&new, Now(T0)).await.unwrap();
        rt
    }

    async fn exists(&self, owner: &Owner, provider: &str) -> bool {
        ConnectionStore::get(self.fakes.store.as_ref(), &self.key(owner, provider))
            .await
            .unwrap()
            .is_some()
    }
}

fn user(id: &str) -> Owner {
    Owner::User(UserId::parse(id).unwrap())
}

#[tokio::test]
async fn connection_list_and_get_show_health_and_never_a_token() {
    let s = Setup::new().await;
    let rt = s.connect(&user("alice"), "crm").await;
    s.connect(&user("bob"), "keap").await;
    s.connect(&Owner::Service, "crm").await;
    let ops = s.ops();

    let all = ops.list(&s.tenant, None, None).await.unwrap();
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{all}");
    let text = all.to_string();
    assert!(!text.contains(&rt) && !text.contains("v1."), "{text}");
    let crm = ops.list(&s.tenant, None, Some("crm")).await.unwrap();
    let owners: Vec<_> = crm["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["owner"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&"service".to_owned()) && owners.contains(&"user".to_owned()));
    let bobs = ops.list(&s.tenant, Some("bob"), None).await.unwrap();
    assert_eq!(bobs["items"][0]["provider"], "keap");
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);
    let none = ops.list(&s.tenant, Some("bob"), Some("crm")).await.unwrap();
    assert_eq!(none, json!({"items": []}));

    let one = ops.get(&s.tenant, "crm", Some("alice")).await.unwrap();
    assert_eq!(one["user_id"], "alice");
    assert_eq!(one["owner"], "user");
    assert_eq!(one["status"], "active");
    assert_eq!(one["account"], "acct");
    assert_eq!(one["failures"], 0);
    assert_eq!(one["connected_at"], T0);
    assert_eq!(one["has_refresh_token"], true);
    assert!(!one.to_string().contains(&rt));
    let service = ops.get(&s.tenant, "crm", None).await.unwrap();
    assert_eq!(service["owner"], "service");
    assert_eq!(service["user_id"], json!(null));

    let e = ops.get(&s.tenant, "keap", None).await.unwrap_err();
    assert!(e.0.contains("no service connection"), "{e}");
    assert!(ops.get(&s.tenant, "Not A Name", None).await.is_err());
    assert!(ops.list(&s.tenant, Some("a#b"), None).await.is_err());
}

#[tokio::test]
async fn connection_remove_revokes_at_the_provider_and_reports_it() {
    let s = Setup::new().await;
    let rt = s.connect(&user("alice"), "crm").await;
    let out = s
        .ops()
        .remove(&s.tenant, "crm", Some("alice"))
        .await
        .unwrap();
    assert_eq!(out["removed"], true);
    assert_eq!(out["revoked"], true);
    assert_eq!(out["revocation"], "revoked");
    assert!(!s.exists(&user("alice"), "crm").await);
    let sent = s.fakes.upstream.posts();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url, REVOKE_URL);
    let form: BTreeMap<_, _> = sent[0].form.iter().cloned().collect();
    assert_eq!(form.get("token"), Some(&rt));
    assert_eq!(form.get("client_id").unwrap(), "crm-client");
    assert_eq!(form.get("client_secret").unwrap(), "crm-secret");
    assert!(s.fakes.upstream.is_dead());

    // Gone: removing it again is an error, and calls nobody.
    let e = s
        .ops()
        .remove(&s.tenant, "crm", Some("alice"))
        .await
        .unwrap_err();
    assert!(e.0.contains("no connection"), "{e}");
    assert_eq!(s.fakes.upstream.posts().len(), 1);

    // No revocation endpoint: removed, not revoked.
    s.connect(&Owner::Service, "keap").await;
    let out = s.ops().remove(&s.tenant, "keap", None).await.unwrap();
    assert_eq!(out["removed"], true);
    assert_eq!(out["revoked"], false);
    assert_eq!(out["revocation"], "no_revocation_endpoint");
    assert!(!s.exists(&Owner::Service, "keap").await);

    // The provider refusing: removed all the same, reported.
    s.connect(&Owner::Service, "crm").await;
    s.fakes
        .upstream
        .push_fault(Fault::Answer(500, "oops".into(), None));
    let out = s.ops().remove(&s.tenant, "crm", None).await.unwrap();
    assert_eq!(
        (out["removed"].clone(), out["revoked"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(out["revocation"], "revocation_refused");
    assert!(!s.exists(&Owner::Service, "crm").await);
}

#[tokio::test]
async fn purges_remove_and_revoke_exactly_the_connections_they_name() {
    let s = Setup::new().await;
    // More than one listing page of crm connections.
    for i in 0..130 {
        s.connect(&user(&format!("u{i:03}")), "crm").await;
    }
    s.connect(&user("alice"), "keap").await;
    s.connect(&user("alice"), "crm").await;
    s.connect(&Owner::Service, "keap").await;

    // user delete: only that user's, each revoked where it can be.
    let p = s
        .ops()
        .purge(&s.tenant, &Purge::User(UserId::parse("alice").unwrap()))
        .await
        .unwrap();
    assert_eq!(
        p,
        Purged {
            removed: 2,
            revoked: 1
        }
    );
    assert!(!s.exists(&user("alice"), "crm").await && !s.exists(&user("alice"), "keap").await);
    assert!(s.exists(&user("u000"), "crm").await);

    // provider remove: every page of the provider's, no other provider's.
    let p = s
        .ops()
        .purge(
            &s.tenant,
            &Purge::Provider(ProviderName::parse("crm").unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(p.removed, 130);
    assert_eq!(p.revoked, 130);
    let left = s.ops().list(&s.tenant, None, None).await.unwrap();
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["items"][0]["provider"], "keap");
    let revocations = s
        .fakes
        .upstream
        .posts()
        .iter()
        .filter(|r| r.url == REVOKE_URL)
        .count();
    assert_eq!(revocations, 131);

    // tenant delete: the rest.
    let p = s.ops().purge(&s.tenant, &Purge::Tenant).await.unwrap();
    assert_eq!(p.removed, 1);
    assert_eq!(
        s.ops().list(&s.tenant, None, None).await.unwrap(),
        json!({"items": []})
    );
}

#[tokio::test]
async fn a_purge_without_the_vault_keys_still_removes_everything() {
    let s = Setup::new().await;
    s.connect(&user("alice"), "crm").await;
    s.fakes
        .secrets
        .remove(&s.config.vault_key_secret(&s.tenant));
    let p = s.ops().purge(&s.tenant, &Purge::Tenant).await.unwrap();
    assert_eq!(
        p,
        Purged {
            removed: 1,
            revoked: 0
        }
    );
    assert!(s.fakes.upstream.posts().is_empty());
}
