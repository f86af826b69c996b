//! What a warm Lambda keeps between invocations: the ports (storage, secrets,
//! clock) and short-TTL caches of tenants, clients, secrets and parsed keys.
//!
//! `from_env` does the CPU-heavy set-up in Lambda's init phase, which runs with
//! a full CPU burst, instead of in the first request, which runs at the CPU
//! share of the function's memory: it loads the SDK configuration (credentials
//! chain), builds the DynamoDB and Secrets Manager clients, then warms them
//! (`warm_up`): one cheap call to each builds the HTTPS connector (TLS
//! configuration, the system's trust store), resolves, connects and completes
//! the TLS handshake, and reads the stack secret the function needs anyway.
//! `with_ports` builds the same state over any implementation of the ports (the
//! in-memory fakes in tests).

mod ports;
mod signin_providers;
pub use ports::Ports;

use crate::cache::{RecordCache, TtlCache};
use crate::clock::Now;
use crate::config::Config;
use crate::domain::providers::Provider;
use crate::domain::records::{Client, Tenant, TrustedIssuer};
use crate::ids::{ClientId, TenantId};
use crate::ports::SecretError;
use crate::ports::StoreError;
use crate::ports::{
    AccessTokenStore, CodeStore, FederationStore, JsonFetcher, LoginTxStore, RefreshStore,
    SecretSource, ThrottleStore, UserStore,
};
use crate::store::secrets_manager::SecretCache;
use crate::tokens::signer::Signer;
use crate::tokens::vault::{Vault, VaultKeys};
use std::sync::Arc;
use std::time::Duration;

/// Records change rarely and only through the CLI; a short TTL bounds staleness.
/// Both TTLs are part of the key-rotation rule (`domain::key_rotation`).
const RECORD_TTL: Duration = Duration::from_secs(crate::domain::key_rotation::RECORD_CACHE);
const SECRET_TTL: Duration = Duration::from_secs(crate::domain::key_rotation::KEY_SET_CACHE);

/// Why the state could not provide what a request needs; the protocol layer
/// maps each to its answer (`oauth::error`: 503 for an outage or a tenant
/// being re-created, 500 for a stack that was never initialised).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The URL document is not readable yet (right after a first deploy).
    #[error("the server is starting; retry shortly")]
    Starting,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Key(#[from] crate::tokens::keys::KeyError),
}

pub struct AppState {
    /// Table, secret prefix and (unless `urls_secret` is set) the public URLs.
    pub config: Config,
    /// The configuration completed by the URL document, loaded on first use.
    urls: tokio::sync::OnceCell<Config>,
    ports: Ports,
    secrets: SecretCache<dyn SecretSource>,
    /// Client-secret hashes: kept only as long as records, so a secret that
    /// `client rotate-secret` ended stops working within 30 s everywhere.
    client_secrets: SecretCache<dyn SecretSource>,
    /// Records by keys a caller chose: absent ones are cached apart, so no
    /// number of made-up aliases or ids evicts a real record.
    tenants: RecordCache<TenantId, Arc<Tenant>>,
    clients: RecordCache<(TenantId, ClientId), Arc<Client>>,
    /// A tenant's web origins; an empty list is cached as absent.
    web_origins: RecordCache<TenantId, Arc<Vec<String>>>,
    signers: TtlCache<TenantId, Arc<Signer>>,
    /// Each tenant's vault keys, parsed (cached like the signing keys).
    vaults: TtlCache<TenantId, Arc<Vault>>,
    /// Trusted issuers by (tenant, issuer), absent ones included.
    issuers: RecordCache<(TenantId, String), Arc<TrustedIssuer>>,
    /// Upstream providers by (tenant, name), absent ones included.
    providers: RecordCache<(TenantId, String), Arc<Provider>>,
    /// Each trusted issuer's public keys (their own refetch rules).
    issuer_keys: crate::tokens::trusted_issuers::KeyCache,
    /// Each (existing) tenant's sign-in providers: (name, display name).
    sign_in_providers: TtlCache<TenantId, signin_providers::SignInList>,
}

impl AppState {
    /// For a function's init phase: the environment, the SDK configuration and
    /// the clients (see the module comment for why this belongs in init).
    pub async fn from_env() -> AppState {
        let config = Config::from_env();
        let sdk = crate::store::aws::load().await;
        let state = Self::new(config, &sdk);
        state.warm_up().await;
        state
    }

    /// Init-phase warm-up: one cheap call to DynamoDB (a GetItem of a tenant
    /// that does not exist, ½ read unit) and one to Secrets Manager (the URL
    /// document when the stack has one, else the login-transaction key; either
    /// is then cached), concurrently and bounded to 3 s. What they leave behind
    /// is what the first request would otherwise pay for at its CPU share:
    /// the connectors' TLS set-up and trust store, open (TLS) connections in
    /// the clients' pools, the SDK's lazily built state (endpoint resolution,
    /// credentials, signing), the OS RNG's first use and the crypto library's
    /// one-time set-up (`keys::warm_up`: about 40 ms of CPU, measured, that
    /// the first signature paid before). A failure (an outage, a refused read)
    /// does not fail init: the connection set-up it did still counts, and the
    /// first request simply tries again.
    pub async fn warm_up(&self) {
        let ddb = async {
            // Never a real tenant's alias: those are chosen by the CLI, and a
            // hit would be harmless anyway (the port is read, not the cache).
            if let Ok(id) = TenantId::parse("tollgate-init-warm-up")
                && let Err(e) = self.ports.directory.tenant(&id).await
            {
                tracing::debug!(error = %e, "init warm-up: DynamoDB call failed");
            }
        };
        let sm = async {
            if self.config.urls_secret.is_some() {
                // Logs and does not cache a failure; the first request retries.
                let _ = self.urls().await;
            } else if let Err(e) = self.secrets().get(&self.config.login_key_secret()).await {
                tracing::debug!(error = %e, "init warm-up: Secrets Manager call failed");
            }
        };
        let rng = async {
            let _ = crate::crypto::random_bytes::<16>();
            crate::tokens::signer::warm_up();
        };
        let warm = async { tokio::join!(ddb, sm, rng) };
        if tokio::time::timeout(Duration::from_secs(3), warm)
            .await
            .is_err()
        {
            tracing::warn!("init warm-up: no answer within 3 s; continuing");
        }
    }

    /// With an SDK config already loaded (the CLI, tests).
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> AppState {
        let ports = Ports::aws(&config, sdk);
        Self::with_ports(config, ports)
    }

    /// Over any implementation of the ports (the in-memory fakes in tests).
    /// The same state with another fetcher of trusted issuers' documents
    /// (the token function: `federation::http::ReqwestFetcher`).
    pub fn with_fetcher(mut self, fetcher: Arc<dyn JsonFetcher>) -> AppState {
        self.ports.fetcher = fetcher;
        self
    }

    /// The same state calling upstream providers through `upstream` (the
    /// functions of the token vault: `store::upstream_http::ReqwestUpstream`).
    pub fn with_upstream(mut self, upstream: Arc<dyn crate::ports::UpstreamHttp>) -> AppState {
        self.ports.upstream = upstream;
        self
    }

    pub fn with_ports(config: Config, ports: Ports) -> AppState {
        AppState {
            config,
            urls: tokio::sync::OnceCell::new(),
            secrets: SecretCache::new(ports.secrets.clone(), SECRET_TTL),
            client_secrets: SecretCache::new(ports.secrets.clone(), RECORD_TTL),
            ports,
            tenants: RecordCache::new(RECORD_TTL, 1024, 256),
            clients: RecordCache::new(RECORD_TTL, 4096, 1024),
            web_origins: RecordCache::new(RECORD_TTL, 1024, 256),
            signers: TtlCache::new(SECRET_TTL, 1024),
            vaults: TtlCache::new(SECRET_TTL, 1024),
            issuers: RecordCache::new(RECORD_TTL, 1024, 256),
            providers: RecordCache::new(RECORD_TTL, 1024, 256),
            issuer_keys: crate::tokens::trusted_issuers::KeyCache::new(),
            sign_in_providers: TtlCache::new(RECORD_TTL, 1024),
        }
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    pub fn users(&self) -> &dyn UserStore {
        self.ports.users.as_ref()
    }

    pub fn codes(&self) -> &dyn CodeStore {
        self.ports.codes.as_ref()
    }

    pub fn refresh_tokens(&self) -> &dyn RefreshStore {
        self.ports.refresh.as_ref()
    }

    pub fn throttle(&self) -> &dyn ThrottleStore {
        self.ports.throttle.as_ref()
    }

    pub fn login_txs(&self) -> &dyn LoginTxStore {
        self.ports.login_txs.as_ref()
    }

    pub fn access_tokens(&self) -> &dyn AccessTokenStore {
        self.ports.access_tokens.as_ref()
    }

    pub fn federation(&self) -> &dyn FederationStore {
        self.ports.federation.as_ref()
    }

    pub fn fetcher(&self) -> &dyn JsonFetcher {
        self.ports.fetcher.as_ref()
    }

    pub fn issuer_keys(&self) -> &crate::tokens::trusted_issuers::KeyCache {
        &self.issuer_keys
    }

    /// The tenant's trusted issuer named exactly `issuer` (cached like the
    /// records, absent ones too).
    pub async fn trusted_issuer(
        &self,
        tenant: &TenantId,
        issuer: &str,
    ) -> Result<Option<Arc<TrustedIssuer>>, StoreError> {
        let k = (tenant.clone(), issuer.to_owned());
        if let Some(t) = self.issuers.get(&k) {
            return Ok(t);
        }
        let t = self
            .ports
            .federation
            .trusted_issuer(tenant, issuer)
            .await?
            .map(Arc::new);
        self.issuers.insert(k, t.clone());
        Ok(t)
    }

    /// The tenant's provider named `name` (a name a caller sent, e.g. an
    /// exchange's `audience`): cached like the records, absent ones too; a
    /// name that is not a provider name is unknown without a read.
    pub async fn provider(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<Arc<Provider>>, StoreError> {
        if crate::domain::providers::check_name(name).is_err() {
            return Ok(None);
        }
        let k = (tenant.clone(), name.to_owned());
        if let Some(p) = self.providers.get(&k) {
            return Ok(p);
        }
        let p = self
            .ports
            .providers
            .provider(tenant, name)
            .await?
            .map(Arc::new);
        self.providers.insert(k, p.clone());
        Ok(p)
    }

    /// The time now (the edge of a request reads it once and passes it down).
    pub fn now(&self) -> Now {
        self.ports.clock.now()
    }

    pub fn secrets(&self) -> &SecretCache<dyn SecretSource> {
        &self.secrets
    }

    /// The public URLs (issuer, endpoints). Without `TOLLGATE_URLS_SECRET` they
    /// come from the environment; with it, from that secret, read once (by the
    /// init warm-up, else by the first request that needs a URL) and kept.
    pub async fn urls(&self) -> Result<&Config, StateError> {
        let Some(name) = &self.config.urls_secret else {
            return Ok(&self.config);
        };
        self.urls
            .get_or_try_init(|| async {
                let doc = match self.secrets().get(name).await {
                    Ok(Some(raw)) => {
                        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&raw)
                            .map_err(|e| e.to_string())
                    }
                    Ok(None) => Err("missing".to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                match doc {
                    Ok(doc) => Ok(self.config.with_url_document(&doc)),
                    Err(why) => {
                        // Not cached: right after a first deploy the document may
                        // not exist yet, and the next request should look again.
                        self.secrets().invalidate(name);
                        tracing::error!(secret = %name, error = %why, "URL document unavailable");
                        Err(StateError::Starting)
                    }
                }
            })
            .await
    }

    /// The tenant's record; a tenant being deleted is absent.
    pub async fn tenant(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(t) = self.tenants.get(id) {
            return Ok(t);
        }
        let t = self
            .ports
            .directory
            .tenant(id)
            .await?
            .filter(|t| !t.deleting)
            .map(Arc::new);
        self.tenants.insert(id.clone(), t.clone());
        Ok(t)
    }

    pub async fn client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        let k = (tenant.clone(), id.clone());
        if let Some(c) = self.clients.get(&k) {
            return Ok(c);
        }
        let c = self.ports.directory.client(tenant, id).await?.map(Arc::new);
        self.clients.insert(k, c.clone());
        Ok(c)
    }

    /// A client that exists and is enabled, by the id a request sent (an id
    /// that does not parse is simply unknown). Every endpoint looks clients
    /// up through here.
    pub async fn enabled_client(
        &self,
        tenant: &TenantId,
        raw_id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        let Ok(id) = ClientId::parse(raw_id) else {
            return Ok(None);
        };
        Ok(self.client(tenant, &id).await?.filter(|c| c.enabled))
    }

    /// The web origins registered for any enabled client of the tenant
    /// (cached like the records).
    pub async fn tenant_web_origins(
        &self,
        tenant: &TenantId,
    ) -> Result<Arc<Vec<String>>, StoreError> {
        if let Some(o) = self.web_origins.get(tenant) {
            return Ok(o.unwrap_or_default());
        }
        let o = Arc::new(self.ports.directory.web_origins(tenant).await?);
        self.web_origins
            .insert(tenant.clone(), (!o.is_empty()).then(|| o.clone()));
        Ok(o)
    }

    /// Tollgate's client secret at an upstream provider (`None`: a public
    /// upstream client, or the provider has none stored). Cached as long as
    /// the records (a `provider update --client-secret-stdin` reaches every
    /// function within 30 s).
    pub async fn upstream_client_secret(
        &self,
        provider: &Provider,
    ) -> Result<Option<secrecy::SecretString>, SecretError> {
        if !provider.has_client_secret {
            return Ok(None);
        }
        let name = self
            .config
            .upstream_secret_name(&provider.tenant, &provider.name);
        Ok(self
            .client_secrets
            .get(&name)
            .await?
            .map(|s| secrecy::SecretString::from(s.to_string())))
    }

    /// The stored hash of a client's secret.
    pub async fn client_secret_hash(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<str>>, SecretError> {
        self.client_secrets
            .get(&self.config.client_secret_name(tenant, id))
            .await
    }

    /// The client's secret record read again if the cached one is older than
    /// 5 s (after a `client rotate-secret`); `None` when it is fresher.
    pub async fn client_secret_hash_if_stale(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<str>>, SecretError> {
        self.client_secrets
            .refetch_if_older(
                &self.config.client_secret_name(tenant, id),
                Duration::from_secs(5),
            )
            .await
    }

    /// The tenant's signing keys, parsed once per cache period — and only
    /// ever keys the tenant's record publishes: a cached key set that signs
    /// with no key of `tenant`'s JWKS (the alias was deleted and re-created,
    /// or this copy predates a key change) is read again, and one that still
    /// does not match signs nothing (503: the tenant is being deleted or
    /// re-created). A missing key set is 503 too: `tenant delete` removes it
    /// while warm functions may still hold the tenant's record.
    pub async fn signer(&self, tenant: &Tenant) -> Result<Arc<Signer>, StateError> {
        let now = self.now().secs();
        if let Some(s) = self.signers.get(&tenant.id) {
            if s.publishes_under(now, &tenant.public_jwks) {
                return Ok(s);
            }
            self.signers.remove(&tenant.id);
        }
        let name = self.config.signing_key_secret(&tenant.id);
        // A fresh read: the signer's own cache period is the key-set cache
        // the rotation rule counts on, not that plus the secret cache's.
        self.secrets().invalidate(&name);
        let Some(raw) = self.secrets().get(&name).await? else {
            return Err(StateError::Unavailable(format!(
                "signing key secret missing for tenant {} (being deleted?)",
                tenant.id
            )));
        };
        let signer = Arc::new(Signer::from_secret(&raw)?);
        if !signer.publishes_under(now, &tenant.public_jwks) {
            return Err(StateError::Key(crate::tokens::keys::KeyError::Unpublished));
        }
        self.signers.insert(tenant.id.clone(), signer.clone());
        Ok(signer)
    }

    /// The tenant's vault (upstream tokens at rest), parsed once per cache
    /// period like the signing keys (a new kid is published that long before
    /// it is used: `tokens::vault`). A missing set is 503: it is never created
    /// here (`tenant create` and `provider add` make it).
    pub async fn vault(&self, tenant: &TenantId) -> Result<Arc<Vault>, StateError> {
        if let Some(v) = self.vaults.get(tenant) {
            return Ok(v);
        }
        let name = self.config.vault_key_secret(tenant);
        self.secrets().invalidate(&name);
        let Some(raw) = self.secrets().get(&name).await? else {
            return Err(StateError::Unavailable(format!(
                "vault key secret missing for tenant {tenant}"
            )));
        };
        let vault = VaultKeys::parse(&raw)
            .and_then(|k| k.vault())
            .map_err(|e| StateError::Internal(format!("tenant {tenant}: {e}")))?;
        let vault = Arc::new(vault);
        self.vaults.insert(tenant.clone(), vault.clone());
        Ok(vault)
    }

    /// Test aid: forgets the cached records (tenants, clients, web origins,
    /// trusted issuers), as their 30 s cache period passing would; the key
    /// sets stay cached.
    #[cfg(any(test, feature = "test-support"))]
    pub fn expire_records(&self) {
        self.tenants.clear();
        self.clients.clear();
        self.web_origins.clear();
        self.issuers.clear();
    }

    /// The stack's login-transaction HMAC key.
    pub async fn login_key(&self) -> Result<Vec<u8>, StateError> {
        let name = self.config.login_key_secret();
        match self.secrets().get(&name).await? {
            Some(k) if k.len() >= 32 => Ok(k.as_bytes().to_vec()),
            _ => Err(StateError::Internal(
                "login transaction key secret missing; run `tollgate-admin init`".to_owned(),
            )),
        }
    }
}
