//! Tollgate `token` function: thin wrapper over `tollgate::web::handlers::token`.

use lambda_http::{Error, Request, run, service_fn};
use tollgate::AppState;
use tollgate::domain::outbound::OutboundPolicy;
use tollgate::store::issuer_fetch::ReqwestFetcher;
use tollgate::store::upstream_http::ReqwestUpstream;
use tollgate::web::handlers::token::{Endpoint, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Token exchange fetches trusted issuers' keys (reqwest, this function
    // only): its HTTP client (TLS configuration, trust store) is built now, in
    // init, at full CPU. Loopback is reachable only on a local stack.
    let state = AppState::from_env().await;
    let policy = OutboundPolicy::for_stack(&state.config);
    let state = state
        .with_fetcher(std::sync::Arc::new(ReqwestFetcher::new(policy)))
        .with_upstream(std::sync::Arc::new(ReqwestUpstream::new(policy)));
    state.ports().fetcher.prepare();
    // The token vault's exchange calls upstream providers (same policy).
    state.ports().upstream.prepare();
    // Checks passwords: the Argon2 working memory is set up in init.
    tollgate::crypto::prepare_password_hashing();
    let state = &state;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(tollgate::web::observed(handle(state, req, Endpoint::Token)).await)
    }))
    .await
}
