//! The Secrets Manager adapter and its cache, against the emulator.

use crate::helpers::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tollgate::ports::BoxFuture;
use tollgate::ports::SecretError;
use tollgate::store::secrets_manager::{SecretCache, SecretSource, SecretsManager};

/// Counts the calls that reach the real adapter.
struct Counting {
    inner: SecretsManager,
    calls: Arc<AtomicU64>,
}

impl SecretSource for Counting {
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(name)
    }
}

async fn manager() -> SecretsManager {
    SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk().await))
}

#[tokio::test]
async fn warm_read_makes_no_network_call() {
    let sm = manager().await;
    let name = format!("tollgate-test/{}/warm", random_alias());
    sm.create(&name, "v1").await.unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let cache = SecretCache::new(
        Arc::new(Counting {
            inner: sm.clone(),
            calls: calls.clone(),
        }),
        Duration::from_secs(60),
    );
    assert_eq!(cache.get(&name).await.unwrap().as_deref(), Some("v1"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Delete it at the source: a warm read still answers, so it did not ask.
    sm.delete_now(&name).await.unwrap();
    for _ in 0..5 {
        assert_eq!(cache.get(&name).await.unwrap().as_deref(), Some("v1"));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "warm reads are served from memory"
    );
    assert_eq!(cache.fetch_count(), 1);
}

#[tokio::test]
async fn expired_cache_entry_refreshes_on_next_read() {
    let sm = manager().await;
    let name = format!("tollgate-test/{}/ttl", random_alias());
    sm.create(&name, "v1").await.unwrap();
    let cache = SecretCache::new(Arc::new(sm.clone()), Duration::from_millis(200));
    assert_eq!(cache.get(&name).await.unwrap().as_deref(), Some("v1"));
    sm.put(&name, "v2").await.unwrap();
    assert_eq!(cache.get(&name).await.unwrap().as_deref(), Some("v1"));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(cache.get(&name).await.unwrap().as_deref(), Some("v2"));
    assert_eq!(cache.fetch_count(), 2);
}

#[tokio::test]
async fn missing_secret_is_none_not_an_error() {
    let cache = SecretCache::new(Arc::new(manager().await), Duration::from_secs(60));
    let name = format!("tollgate-test/{}/absent", random_alias());
    assert!(cache.get(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn deployed_stack_reads_its_public_urls_from_the_url_document_once() {
    let sm = manager().await;
    let name = format!("tollgate-test/{}/urls", random_alias());
    sm.create(
        &name,
        r#"{"TOLLGATE_ISSUER_BASE":"https://disco.example","TOLLGATE_URL_CALLBACK":"https://cb.example"}"#,
    )
    .await
    .unwrap();
    let table = std::env::var("TOLLGATE_TABLE").unwrap();
    let config = tollgate::Config::from_lookup(|k| match k {
        "TOLLGATE_URLS_SECRET" => Some(name.clone()),
        "TOLLGATE_TABLE" => Some(table.clone()),
        _ => None,
    });
    let state = tollgate::AppState::new(config, &sdk().await);
    assert_eq!(
        state.secrets().fetch_count(),
        0,
        "nothing is read at start-up"
    );
    let t = tollgate::TenantId::parse("acme").unwrap();
    let urls = state.urls().await.unwrap();
    assert_eq!(urls.issuer(&t), "https://disco.example/oauth2/acme");
    assert_eq!(
        urls.endpoint(tollgate::config::Function::Callback, &t),
        "https://cb.example/oauth2/acme/callback"
    );
    state.urls().await.unwrap();
    assert_eq!(state.secrets().fetch_count(), 1, "read once, then kept");
}

#[tokio::test]
async fn missing_url_document_is_temporarily_unavailable_and_not_cached() {
    let name = format!("tollgate-test/{}/urls", random_alias());
    let config = tollgate::Config::from_lookup(|k| match k {
        "TOLLGATE_URLS_SECRET" => Some(name.clone()),
        _ => None,
    });
    let state = tollgate::AppState::new(config, &sdk().await);
    let err =
        tollgate::oauth::error::OAuthError::from(state.urls().await.expect_err("no document yet"));
    assert_eq!(
        err.code,
        tollgate::oauth::error::ErrorCode::TemporarilyUnavailable
    );
    assert_eq!(tollgate::web::respond::status_of(&err).as_u16(), 503);
    assert!(err.retry_after.is_some());
    manager()
        .await
        .create(&name, r#"{"TOLLGATE_ISSUER_BASE":"https://late.example"}"#)
        .await
        .unwrap();
    let t = tollgate::TenantId::parse("acme").unwrap();
    assert_eq!(
        state.urls().await.unwrap().issuer(&t),
        "https://late.example/oauth2/acme"
    );
}
