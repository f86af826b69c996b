//! Tollgate `maintenance` function: on an EventBridge schedule, rotates every
//! tenant's signing keys that are due (publish, then sign, then retire).

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use tollgate::admin::Admin;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let admin = &Admin::new(tollgate::Config::from_env(), &sdk);
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<_, Error>(
            admin
                .rotate_keys_due(tollgate::Now::system().secs(), None)
                .await?,
        )
    }))
    .await
}
