//! The ports a state runs on: the AWS adapters in a function, the fakes in
//! tests (`AppState::with_ports`).

use crate::config::Config;
use crate::ports::{
    AccessTokenStore, Clock, CodeStore, ConnectionStore, Directory, FederationStore, JsonFetcher,
    LoginTxStore, NoUpstream, ProviderStore, RefreshStore, SecretSource, SystemClock,
    ThrottleStore, UpstreamHttp, UpstreamTxStore, UserStore,
};
use std::sync::Arc;

/// Every capability the flows use, each behind its narrow port.
#[derive(Clone)]
pub struct Ports {
    pub directory: Arc<dyn Directory>,
    pub users: Arc<dyn UserStore>,
    pub codes: Arc<dyn CodeStore>,
    pub refresh: Arc<dyn RefreshStore>,
    pub throttle: Arc<dyn ThrottleStore>,
    pub login_txs: Arc<dyn LoginTxStore>,
    pub access_tokens: Arc<dyn AccessTokenStore>,
    pub federation: Arc<dyn FederationStore>,
    /// Upstream connections (the token vault).
    pub connections: Arc<dyn ConnectionStore>,
    /// Upstream providers (the token vault).
    pub providers: Arc<dyn ProviderStore>,
    /// The connect flow's upstream transactions.
    pub upstream_txs: Arc<dyn UpstreamTxStore>,
    /// Trusted issuers' discovery documents and JWKS (token exchange).
    pub fetcher: Arc<dyn JsonFetcher>,
    /// Upstream providers' token endpoints (the token vault): installed by the
    /// functions that call them (`AppState::with_upstream`).
    pub upstream: Arc<dyn UpstreamHttp>,
    pub secrets: Arc<dyn SecretSource>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// DynamoDB and Secrets Manager from one SDK configuration, with explicit
    /// timeouts; the system clock.
    pub fn aws(config: &Config, sdk: &aws_config::SdkConfig) -> Ports {
        let clients = crate::store::aws::Clients::new(sdk, &config.table);
        let db = Arc::new(clients.db);
        Ports {
            directory: db.clone(),
            users: db.clone(),
            codes: db.clone(),
            refresh: db.clone(),
            throttle: db.clone(),
            login_txs: db.clone(),
            access_tokens: db.clone(),
            federation: db.clone(),
            connections: db.clone(),
            upstream_txs: db.clone(),
            providers: db,
            // Only the token function fetches issuers' keys; it installs the
            // reqwest fetcher (`with_fetcher`), so no other binary links reqwest.
            fetcher: Arc::new(crate::tokens::trusted_issuers::NoFetcher),
            upstream: Arc::new(NoUpstream),
            secrets: Arc::new(clients.secrets),
            clock: Arc::new(SystemClock),
        }
    }
}
