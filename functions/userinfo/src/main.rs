//! Tollgate `userinfo` function: thin wrapper over
//! `tollgate::web::handlers::userinfo_function` (UserInfo and the user's
//! upstream connections).

use lambda_http::{Error, Request, run, service_fn};
use tollgate::AppState;
use tollgate::domain::outbound::OutboundPolicy;
use tollgate::store::upstream_http::ReqwestUpstream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Disconnecting revokes at the provider (reqwest): its HTTP client (TLS
    // configuration, trust store) is built now, in init, at full CPU.
    // Loopback is reachable only on a local stack.
    let state = AppState::from_env().await;
    let policy = OutboundPolicy::for_stack(&state.config);
    let state = state.with_upstream(std::sync::Arc::new(ReqwestUpstream::new(policy)));
    state.ports().upstream.prepare();
    let state = &state;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(
            tollgate::web::observed(tollgate::web::handlers::userinfo_function(state, req)).await,
        )
    }))
    .await
}
