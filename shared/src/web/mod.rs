//! The HTTP edge: the only module that names `lambda_http`. Requests are
//! parsed here (routes, form parameters, client credentials: `request`), the
//! endpoints live in `handlers`, and every response is built by `respond`
//! (pages by `html`, in the languages of `i18n`; CORS by `cors`).

pub mod bearer;
pub mod cors;
pub mod handlers;
pub mod html;
pub mod i18n;
pub mod page;
pub mod request;
pub mod respond;
pub mod response;
pub mod signin;

/// Runs one invocation and records its latency (milliseconds, dimension
/// `function`) and, for a 5xx, a `ServerErrors` count (SPEC: Observability).
pub async fn observed(
    call: impl std::future::Future<Output = response::Response>,
) -> response::Response {
    let started = std::time::Instant::now();
    let resp = call.await;
    crate::audit::invocation(started.elapsed(), resp.status().as_u16());
    resp
}
