//! RFC 8414 / OIDC Discovery metadata and the tenant's JWKS.

use crate::AppState;
use crate::config::{Config, Function};
use crate::domain::records::Tenant;
use crate::ids::TenantId;
use crate::oauth::outcome::DiscoveryOutcome;
use crate::web::request::{Seg, match_route};
use crate::web::response::{Response, method_not_allowed, not_found_json};
use lambda_http::Request;
use lambda_http::http::Method;
use serde_json::{Value, json};

enum Doc {
    Metadata,
    Jwks,
}

fn route(path: &str) -> Option<(TenantId, Doc)> {
    use Seg::{Lit, Tenant};
    if let Some(t) = match_route(
        path,
        &[
            Lit("oauth2"),
            Tenant,
            Lit(".well-known"),
            Lit("openid-configuration"),
        ],
    ) {
        return Some((t, Doc::Metadata));
    }
    if let Some(t) = match_route(
        path,
        &[
            Lit(".well-known"),
            Lit("oauth-authorization-server"),
            Lit("oauth2"),
            Tenant,
        ],
    ) {
        return Some((t, Doc::Metadata));
    }
    match_route(path, &[Lit("oauth2"), Tenant, Lit("jwks.json")]).map(|t| (t, Doc::Jwks))
}

pub async fn handle(state: &AppState, req: Request) -> Response {
    if req.method() == Method::OPTIONS {
        return crate::web::respond::preflight(Some("*"), "GET, HEAD");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let Some((tenant_id, doc)) = route(req.uri().path()) else {
        return not_found_json();
    };
    crate::web::respond::discovery(document(state, &tenant_id, doc).await)
}

async fn document(state: &AppState, tenant_id: &TenantId, doc: Doc) -> DiscoveryOutcome {
    let tenant = match state.tenant(tenant_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return DiscoveryOutcome::NotFound,
        Err(e) => return DiscoveryOutcome::Failed(e.into()),
    };
    match doc {
        Doc::Metadata => match state.urls().await {
            Ok(urls) => DiscoveryOutcome::Document {
                body: metadata(urls, &tenant),
                max_age: crate::domain::key_rotation::JWKS_MAX_AGE as u32,
            },
            Err(e) => DiscoveryOutcome::Failed(e.into()),
        },
        Doc::Jwks => match serde_json::from_str::<Value>(&tenant.public_jwks) {
            Ok(keys) => DiscoveryOutcome::Document {
                body: json!({ "keys": keys }),
                max_age: crate::domain::key_rotation::JWKS_MAX_AGE as u32,
            },
            Err(e) => DiscoveryOutcome::Failed(crate::oauth::error::OAuthError::internal(e)),
        },
    }
}

/// The metadata document: every endpoint by its real URL.
pub fn metadata(config: &Config, tenant: &Tenant) -> Value {
    let t = &tenant.id;
    json!({
        "issuer": config.issuer(t),
        "authorization_endpoint": config.endpoint(Function::Authorize, t),
        "token_endpoint": config.endpoint(Function::Token, t),
        "jwks_uri": config.endpoint(Function::Discovery, t),
        "refresh_endpoint": config.endpoint(Function::Refresh, t),
        "change_password_endpoint": config.endpoint(Function::ChangePassword, t),
        "introspection_endpoint": config.endpoint(Function::Introspect, t),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": config.endpoint(Function::Revoke, t),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "userinfo_endpoint": config.endpoint(Function::Userinfo, t),
        "connections_endpoint": config.connections_endpoint(t),
        "response_types_supported": ["code", "token"],
        "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": ["authorization_code", "implicit", "client_credentials", "password", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [tenant.signing_alg.as_str()],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": crate::domain::scope::STANDARD,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name", "email", "preferred_username"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    })
}
