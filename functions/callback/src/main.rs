//! Tollgate `callback` function: thin wrapper over
//! `tollgate::web::handlers::callback_function` (the login form's target and
//! the upstream providers' redirects back).

use lambda_http::{Error, Request, run, service_fn};
use tollgate::AppState;
use tollgate::domain::outbound::OutboundPolicy;
use tollgate::store::issuer_fetch::ReqwestFetcher;
use tollgate::store::upstream_http::ReqwestUpstream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = AppState::from_env().await;
    // Redeems upstream providers' codes (the connect flow): the HTTP client
    // (TLS configuration, trust store) is built now, in init, at full CPU.
    // Loopback is reachable only on a local stack.
    let policy = OutboundPolicy::for_stack(&state.config);
    // Federated sign-in validates ID tokens with the providers' keys (JWKS,
    // fetched like trusted issuers' keys).
    let state = state
        .with_upstream(std::sync::Arc::new(ReqwestUpstream::new(policy)))
        .with_fetcher(std::sync::Arc::new(ReqwestFetcher::new(policy)));
    state.ports().upstream.prepare();
    state.ports().fetcher.prepare();
    // Checks passwords: the Argon2 working memory is set up in init.
    tollgate::crypto::prepare_password_hashing();
    let state = &state;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(
            tollgate::web::observed(tollgate::web::handlers::callback_function(state, req)).await,
        )
    }))
    .await
}
