//! The token vault's key set on the real stack (SPEC: Upstream providers —
//! "At rest"): made by `tenant create`, read and cached by the functions'
//! state (never created by it), made idempotently for tenants created before
//! the vault, and removed by `tenant delete` with the tenant's connections.

use crate::helpers::*;
use secrecy::{ExposeSecret, SecretString};
use tollgate::AppState;
use tollgate::domain::connections::{ConnectionKey, Field, NewConnection, Owner};
use tollgate::ids::{ProviderName, UserId};
use tollgate::store::secrets_manager::{SecretSource, SecretsManager};
use tollgate::tokens::vault::VaultKeys;

const RT: &str = "upstream!refresh-token-of-the-vault-test";

async fn secrets() -> SecretsManager {
    SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk().await))
}

#[tokio::test]
async fn tenant_create_makes_the_vault_keys_and_tenant_delete_removes_them() {
    let t = TestTenant::new().await;
    let id = t.tenant_id();
    let name = config().vault_key_secret(&id);
    let sm = secrets().await;
    let raw = sm
        .fetch(&name)
        .await
        .unwrap()
        .expect("vault keys after tenant create");
    let keys = VaultKeys::parse(&raw).unwrap();

    // Seal through the functions' state, store in DynamoDB, read back, open.
    let sdk = sdk().await;
    let state = AppState::new(config(), &sdk);
    let vault = state.vault(&id).await.unwrap();
    let key = ConnectionKey {
        tenant: id.clone(),
        owner: Owner::User(UserId::parse("vault-user").unwrap()),
        provider: ProviderName::parse("maximizer").unwrap(),
    };
    let sealed = vault
        .seal(
            &key,
            Field::RefreshToken,
            &SecretString::from(RT.to_owned()),
        )
        .unwrap();
    assert!(
        sealed
            .as_str()
            .starts_with(&format!("v1.{}.", keys.current_kid()))
    );
    let connections = state.ports().connections.clone();
    let new = NewConnection {
        key: key.clone(),
        refresh_token: Some(sealed),
        access_token: None,
        scope: String::new(),
        account: None,
        refresh_due_at: None,
    };
    connections.connect(&new, state.now()).await.unwrap();
    let stored = connections.get(&key).await.unwrap().unwrap();
    let opened = vault
        .open(
            &key,
            Field::RefreshToken,
            stored.refresh_token.as_ref().unwrap(),
        )
        .unwrap();
    assert_eq!(opened.expose_secret(), RT);
    // Nothing of the token is stored in the clear.
    let db = db().await;
    let items = db.tenant_items(&id).await.unwrap();
    assert!(
        items.iter().any(|i| i.partition_key.contains("#UC#")),
        "{items:?}"
    );
    assert!(items.iter().all(|i| !i.dump.contains(RT)));

    // Idempotent for tenants that already have one: the keys stay.
    let admin = admin_over(config(), &sdk);
    assert!(!admin.ensure_vault_keys(&id).await.unwrap());
    assert_eq!(
        sm.fetch(&name).await.unwrap().as_deref(),
        Some(raw.as_str())
    );

    let out = admin_async(
        vec!["tenant".into(), "delete".into(), t.alias.clone()],
        None,
    )
    .await
    .unwrap();
    assert!(out["deleted_secrets"].as_u64().unwrap() >= 2, "{out}");
    assert!(
        sm.fetch(&name).await.unwrap().is_none(),
        "vault keys outlived the tenant"
    );
    assert!(
        db.tenant_items(&id).await.unwrap().is_empty(),
        "connections outlived the tenant"
    );
}

#[tokio::test]
async fn a_tenant_created_before_the_vault_gets_keys_only_from_the_cli() {
    let t = TestTenant::new().await;
    let id = t.tenant_id();
    let name = config().vault_key_secret(&id);
    let sm = secrets().await;
    // As if the tenant predated the vault.
    sm.delete_now(&name).await.unwrap();

    let sdk = sdk().await;
    let state = AppState::new(config(), &sdk);
    let err = state.vault(&id).await.unwrap_err();
    assert!(
        err.to_string().contains("vault key secret missing"),
        "{err}"
    );
    assert!(
        sm.fetch(&name).await.unwrap().is_none(),
        "the functions created a key set"
    );

    let admin = admin_over(config(), &sdk);
    assert!(admin.ensure_vault_keys(&id).await.unwrap());
    assert!(!admin.ensure_vault_keys(&id).await.unwrap());
    VaultKeys::parse(&sm.fetch(&name).await.unwrap().unwrap()).unwrap();
    // A fresh state (the missing set was not cached) opens what it seals.
    let vault = AppState::new(config(), &sdk).vault(&id).await.unwrap();
    let key = ConnectionKey {
        tenant: id.clone(),
        owner: Owner::Service,
        provider: ProviderName::parse("profix").unwrap(),
    };
    let s = vault
        .seal(&key, Field::AccessToken, &SecretString::from(RT.to_owned()))
        .unwrap();
    assert_eq!(
        vault
            .open(&key, Field::AccessToken, &s)
            .unwrap()
            .expose_secret(),
        RT
    );
    admin_async(
        vec!["tenant".into(), "delete".into(), t.alias.clone()],
        None,
    )
    .await
    .unwrap();
}
