//! GET /oauth2/{tenant}/upstream/{provider}/signin?tx=… — the login page's
//! "Sign in with {provider}" link (SPEC: Federated sign-in), served by the
//! callback function, whose host gets the browser-binding cookie back on the
//! provider's redirect (`upstream_callback`). The login transaction is
//! checked and spent as by the login form (`callback::sign_in`, the one
//! place a handler reuses another's: the same transaction rules).

use crate::AppState;
use crate::ids::{ProviderName, TenantId};
use crate::web::i18n::{Key, Lang};
use crate::web::page::{PageError, PageOutcome};
use crate::web::request::{header_str, query_params};
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;

/// `/oauth2/{tenant}/upstream/{provider}/signin` (fixed segments in any
/// case; the provider segment must be a provider name).
pub fn route(path: &str) -> Option<(TenantId, ProviderName)> {
    crate::web::request::upstream_route(path, "signin")
}

pub async fn handle(state: &AppState, req: Request) -> Response {
    let browser = Lang::negotiate(None, header_str(&req, "accept-language"));
    if req.method() != Method::GET {
        return crate::web::response::method_not_allowed_page("GET", browser);
    }
    let Some((tenant, provider)) = route(req.uri().path()) else {
        let o = PageOutcome::error(PageError::NotFound, Key::NotFoundTitle, Key::NotFoundMsg);
        return crate::web::respond::page(o, browser);
    };
    let p = match query_params(&req) {
        Ok(p) => p,
        Err(e) => return crate::web::respond::page(PageOutcome::bad_input(&e), browser),
    };
    let now = state.now();
    let (outcome, lang) =
        super::callback::sign_in(state, &req, &tenant, provider.as_str(), &p, browser, now).await;
    crate::web::respond::page(outcome, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_names_a_tenant_and_a_provider() {
        let (t, p) = route("/oauth2/acme/upstream/corp/signin").unwrap();
        assert_eq!((t.as_str(), p.as_str()), ("acme", "corp"));
        assert!(route("/OAuth2/acme/Upstream/corp/SignIn/").is_some());
        assert!(route("/oauth2/acme/upstream/Corp/signin").is_none());
        assert!(route("/oauth2/acme/upstream/corp/callback").is_none());
        assert!(route("/oauth2/acme/signin").is_none());
    }
}
