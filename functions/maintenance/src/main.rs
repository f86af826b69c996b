//! Tollgate `maintenance` function: on an EventBridge schedule, looks after
//! the signing keys of every tenant due (publish, then sign, then retire),
//! then refreshes the upstream connections whose refresh tokens would
//! otherwise expire unused (the token vault's upkeep), within the
//! invocation's time; what it does not reach, the next run does.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tollgate::admin::Admin;
use tollgate::admin::keys::Budget;
use tollgate::domain::outbound::OutboundPolicy;
use tollgate::store::upstream_http::ReqwestUpstream;

/// Time kept back at the end of a run for its answer.
const END_MARGIN: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let config = tollgate::Config::from_env();
    let clients = tollgate::store::aws::Clients::new(&sdk, &config.table);
    let policy = OutboundPolicy::for_stack(&config);
    let state = &tollgate::AppState::new(config.clone(), &sdk)
        .with_upstream(Arc::new(ReqwestUpstream::new(policy)));
    state.ports().upstream.prepare();
    let admin = &Admin::new(config, clients);
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        let budget = Budget::before_deadline(ev.context.deadline, tollgate::Now::system());
        let keys = admin
            .maintain(&tollgate::ports::SystemClock, &budget)
            .await?;
        // Whole seconds: up to 1 s more than is left, inside the margin.
        let now_ms = tollgate::Now::system().secs().saturating_mul(1000);
        let left = Duration::from_millis(ev.context.deadline.saturating_sub(now_ms));
        let deadline = tokio::time::Instant::now() + left.saturating_sub(END_MARGIN);
        let upstream = tollgate::oauth::upkeep::refresh_due(state, deadline).await;
        tracing::info!(report = ?upstream, "upstream connection upkeep");
        let result = keys.into_result()?;
        Ok::<_, Error>(json!({"keys": result, "upstream": upstream}))
    }))
    .await
}
