//! The bench's floor row: a `lambda_http` function that answers every event
//! with a constant body. What any Rust Lambda behind a function URL pays (the
//! Runtime API round trip, event parsing, response serialisation) and nothing
//! else; built with the release profile and measured like the real functions.
//! Part of the workspace for lint and build, never packaged or deployed.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    run(service_fn(|_req: Request| async {
        Ok::<_, Error>(
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(r#"{"ok":true}"#))
                .expect("a constant response"),
        )
    }))
    .await
}
