//! Tollgate `revoke` function: thin wrapper over `tollgate::web::handlers::revoke`.

use lambda_http::{Error, Request, run, service_fn};
use tollgate::AppState;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = AppState::from_env().await;
    let state = &state;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(
            tollgate::web::observed(tollgate::web::handlers::revoke::handle(state, req)).await,
        )
    }))
    .await
}
