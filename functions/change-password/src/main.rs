//! Tollgate `change-password` function: thin wrapper over `tollgate::web::handlers::change_password`.

use lambda_http::{Error, Request, run, service_fn};
use tollgate::AppState;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = AppState::from_env().await;
    // Checks passwords: the Argon2 working memory is set up in init.
    tollgate::crypto::prepare_password_hashing();
    let state = &state;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(
            tollgate::web::observed(tollgate::web::handlers::change_password::handle(state, req))
                .await,
        )
    }))
    .await
}
