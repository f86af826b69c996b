//! Tollgate `maintenance` function: on an EventBridge schedule, looks after
//! the signing keys of every tenant due (publish, then sign, then retire),
//! within the invocation's time; what it does not reach, the next run does.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use tollgate::admin::Admin;
use tollgate::admin::keys::Budget;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let config = tollgate::Config::from_env();
    let clients = tollgate::store::aws::Clients::new(&sdk, &config.table);
    let admin = &Admin::new(config, clients);
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        let budget = Budget::before_deadline(ev.context.deadline, tollgate::Now::system());
        let report = admin
            .maintain(&tollgate::ports::SystemClock, &budget)
            .await?;
        Ok::<_, Error>(report.into_result()?)
    }))
    .await
}
