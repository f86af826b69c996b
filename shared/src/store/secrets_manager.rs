//! Secrets Manager adapter with an in-memory TTL cache.
//!
//! Values: client-secret hashes (`sha256:…`), per-tenant signing keys (JSON, see
//! `keys`), and the stack's login-transaction HMAC key.

use crate::cache::TtlCache;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::SdkError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::ports::SecretSource;
use crate::ports::{BoxFuture, SecretError};

#[derive(Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(client: Client) -> Self {
        SecretsManager { client }
    }

    /// Creates a secret; fails with `AlreadyExists` if the name is taken.
    pub async fn create(&self, name: &str, value: &str) -> Result<(), SecretError> {
        match self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_resource_exists_exception() => Err(SecretError::AlreadyExists),
                _ => Err(backend(e)),
            },
        }
    }

    /// Writes a new version of an existing secret.
    pub async fn put(&self, name: &str, value: &str) -> Result<(), SecretError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    /// Deletes a secret at once (used to undo a half-done provisioning step).
    pub async fn delete_now(&self, name: &str) -> Result<(), SecretError> {
        self.client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> SecretError {
    SecretError::Backend(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
}

impl SecretsManager {
    async fn get_secret(&self, name: &str) -> Result<Option<String>, SecretError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => Ok(out.secret_string().map(str::to_owned)),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_resource_not_found_exception() => Ok(None),
                _ => Err(backend(e)),
            },
        }
    }
}

impl SecretSource for SecretsManager {
    fn fetch<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, SecretError>> {
        Box::pin(self.get_secret(name))
    }
}

/// Read-through cache: a warm read makes no network call; a miss (or an expired
/// entry) fetches. Absent secrets are cached too, briefly, so a flood of unknown
/// client ids cannot turn into a flood of Secrets Manager calls.
pub struct SecretCache<S: ?Sized> {
    source: Arc<S>,
    cache: TtlCache<String, Option<Arc<str>>>,
    fetches: AtomicU64,
}

impl<S: SecretSource + ?Sized> SecretCache<S> {
    pub fn new(source: Arc<S>, ttl: Duration) -> Self {
        SecretCache {
            source,
            cache: TtlCache::new(ttl, 4096),
            fetches: AtomicU64::new(0),
        }
    }

    pub async fn get(&self, name: &str) -> Result<Option<Arc<str>>, SecretError> {
        if let Some(v) = self.cache.get(&name.to_owned()) {
            return Ok(v);
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let v: Option<Arc<str>> = self.source.fetch(name).await?.map(Arc::from);
        self.cache.insert(name.to_owned(), v.clone());
        Ok(v)
    }

    /// A fresh read when the cached entry is older than `min_age`, else `None`
    /// (nothing new to learn yet).
    pub async fn refetch_if_older(
        &self,
        name: &str,
        min_age: Duration,
    ) -> Result<Option<Arc<str>>, SecretError> {
        if self
            .cache
            .age(&name.to_owned())
            .is_some_and(|age| age < min_age)
        {
            return Ok(None);
        }
        self.cache.remove(&name.to_owned());
        self.get(name).await
    }

    /// Drops a cached entry (after a write through the same process).
    pub fn invalidate(&self, name: &str) {
        self.cache.remove(&name.to_owned());
    }

    /// How many times the backend was asked (for tests and benchmarks).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}
