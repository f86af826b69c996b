//! The ports' contract (`tollgate::contract`) against the real adapters:
//! DynamoDB Local for every storage port and the Secrets Manager emulator for
//! the secret source. The same functions run against the in-memory fakes in
//! the library's unit tests, so a difference between the two shows up here.

use crate::helpers::*;
use tollgate::TenantId;
use tollgate::clock::Now;
use tollgate::store::secrets_manager::SecretsManager;
use tollgate::testing::contract::{self, Outcome, Stores};

/// A tenant alias nobody has provisioned (the contract creates what it needs).
fn fresh_tenant() -> TenantId {
    TenantId::parse(&random_alias()).unwrap()
}

fn check(r: Outcome) {
    if let Err(v) = r {
        panic!("DynamoDB adapter: {v}");
    }
}

#[tokio::test]
async fn dynamodb_directory_keeps_the_contract() {
    let db = db().await;
    check(contract::directory_contract(&db, &db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_users_keep_the_contract() {
    let db = db().await;
    check(contract::users_contract(&db, &db, &fresh_tenant()).await);
}

#[tokio::test]
async fn dynamodb_codes_keep_the_contract() {
    let db = db().await;
    check(contract::codes_contract(&db, &db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_refresh_tokens_keep_the_contract() {
    let db = db().await;
    check(contract::refresh_contract(&db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_throttle_keeps_the_contract() {
    let db = db().await;
    check(contract::throttle_contract(&db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_federation_keeps_the_contract() {
    let db = db().await;
    check(contract::federation_contract(&db, &db, &db, &db, &fresh_tenant()).await);
}

#[tokio::test]
async fn dynamodb_connections_keep_the_contract() {
    let db = db().await;
    check(contract::connections_contract(&db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_providers_keep_the_contract() {
    let db = db().await;
    check(contract::providers_contract(&db, &fresh_tenant()).await);
}

#[tokio::test]
async fn dynamodb_upstream_txs_keep_the_contract() {
    let db = db().await;
    check(contract::upstream_tx_contract(&db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_login_txs_keep_the_contract() {
    let db = db().await;
    check(contract::login_tx_contract(&db, &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn dynamodb_keeps_the_whole_storage_contract_on_one_tenant() {
    let db = db().await;
    check(contract::storage_contract(&Stores::of(&db), &fresh_tenant(), Now::system()).await);
}

#[tokio::test]
async fn secrets_manager_keeps_the_secret_source_contract() {
    let sm = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk().await));
    let prefix = format!("{}/{}", config().secret_prefix, random_alias());
    let present = format!("{prefix}/present");
    sm.create(&present, "s3cr3t value").await.unwrap();
    let r = contract::secrets_contract(&sm, &present, "s3cr3t value", &format!("{prefix}/absent"))
        .await;
    sm.delete_now(&present).await.unwrap();
    check(r);
}
