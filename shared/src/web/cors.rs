//! CORS for browser clients (SPEC: Browser clients): a response carries
//! `Access-Control-Allow-Origin` only for an `Origin` registered for the client
//! concerned (`--web-origin`); a preflight, which cannot name the client yet,
//! for an origin registered for any enabled client of the tenant. Never
//! credentials; authorize and callback send no CORS headers at all.

use crate::AppState;
use crate::domain::records::Client;
use crate::ids::TenantId;
use crate::oauth::client_auth::ClientCredentials;
use crate::web::request::{Params, body_bytes, client_credentials, header_str};
use lambda_http::Request;

/// The request's `Origin`, if a browser sent one.
pub fn origin(req: &Request) -> Option<&str> {
    header_str(req, "origin")
        .map(str::trim)
        .filter(|o| !o.is_empty())
}

/// The origin, if it is registered for this client.
pub fn allowed_for<'a>(client: &Client, origin: Option<&'a str>) -> Option<&'a str> {
    origin.filter(|o| client.web_origins.iter().any(|w| w == o))
}

/// For a client-authenticated endpoint (token, refresh, revoke, introspect):
/// the origin, if registered for the client the request names (Basic or
/// `client_id`), whether or not it authenticates. Only looked at when a
/// browser sent an `Origin`. `presented`: the credentials the endpoint read
/// from its form; when the form was refused (so there are none), the body is
/// read as a form anyway, only to find the client named.
pub async fn allowed_for_request(
    state: &AppState,
    tenant: &TenantId,
    req: &Request,
    presented: Option<&ClientCredentials>,
) -> Option<String> {
    let origin = origin(req)?;
    let id = match presented {
        Some(c) => c.named_client()?.to_owned(),
        None => {
            let lenient = body_bytes(req)
                .ok()
                .and_then(|b| Params::parse(b).ok())
                .or_else(|| Params::parse(b"").ok())?;
            client_credentials(req, &lenient).named_client()?.to_owned()
        }
    };
    let client = state.enabled_client(tenant, &id).await.ok().flatten()?;
    allowed_for(&client, Some(origin)).map(str::to_owned)
}

/// For a preflight: the origin, if any enabled client of the tenant has it.
pub async fn allowed_for_preflight(
    state: &AppState,
    tenant: &TenantId,
    req: &Request,
) -> Option<String> {
    let origin = origin(req)?;
    let origins = state.tenant_web_origins(tenant).await.ok()?;
    origins
        .iter()
        .any(|o| o == origin)
        .then(|| origin.to_owned())
}

/// The answer to a preflight (`OPTIONS`) at a client endpoint of `tenant`.
pub async fn preflight(
    state: &AppState,
    tenant: &TenantId,
    req: &Request,
    methods: &'static str,
) -> crate::web::response::Response {
    let origin = allowed_for_preflight(state, tenant, req).await;
    crate::web::respond::preflight(origin.as_deref(), methods)
}
