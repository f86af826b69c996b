//! The AWS SDK clients every Tollgate binary uses, built one way: from one
//! SDK configuration, each with explicit timeouts, so a dependency that hangs
//! becomes a 503 (or a failed CLI command) well inside the functions' 10 s
//! Lambda timeout.

use crate::store::Db;
use crate::store::secrets_manager::SecretsManager;
use std::time::Duration;

/// Each attempt (connection set-up included) gets 3 s, the whole call (with
/// the SDK's standard retries) 6 s.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

/// The SDK configuration from the environment (credentials chain, region,
/// `AWS_ENDPOINT_URL_*`).
pub async fn load() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// The table and Secrets Manager adapters over one SDK configuration.
pub struct Clients {
    pub db: Db,
    pub secrets: SecretsManager,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Clients {
        let ddb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts())
            .build();
        let sm = aws_sdk_secretsmanager::config::Builder::from(sdk)
            .timeout_config(timeouts())
            .build();
        Clients {
            db: Db::new(aws_sdk_dynamodb::Client::from_conf(ddb), table.to_owned()),
            secrets: SecretsManager::new(aws_sdk_secretsmanager::Client::from_conf(sm)),
        }
    }
}
