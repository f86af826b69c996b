//! GET /oauth2/{tenant}/upstream/{provider}/callback — an upstream provider's
//! redirect back after the user connected their account there (SPEC:
//! Connecting a user's account). Served by the callback function: only its
//! host holds the browser-binding cookie set on the way out. The protocol is
//! `oauth::connect::finish`; here the request is read (the query, the
//! cookie) and its outcome answered: a refused redirect (no or unknown
//! `state`, no or another browser's cookie, a used transaction, a swapped
//! provider) is the error page (400), never a redirect; a finished one goes
//! to the client's redirect URI exactly as the login callback's does, and
//! clears the cookie.

use crate::AppState;
use crate::domain::upstream_tx::cookie_value;
use crate::ids::{ProviderName, TenantId};
use crate::oauth::connect::{self, ClientAnswer, Finish, Redirect};
use crate::oauth::signin::Why;
use crate::web::i18n::{Key, Lang};
use crate::web::page::{ErrorRedirect, PageError, PageOutcome, code_redirect};
use crate::web::request::{header_str, query_params};
use crate::web::response::Response;
use crate::web::signin;
use lambda_http::Request;
use lambda_http::http::Method;

/// `/oauth2/{tenant}/upstream/{provider}/callback` (fixed segments in any
/// case; the provider segment must be a provider name).
pub fn route(path: &str) -> Option<(TenantId, ProviderName)> {
    crate::web::request::upstream_route(path, "callback")
}

pub async fn handle(state: &AppState, req: Request) -> Response {
    let browser = Lang::negotiate(None, header_str(&req, "accept-language"));
    if req.method() != Method::GET {
        return crate::web::response::method_not_allowed_page("GET", browser);
    }
    let (outcome, lang) = outcome(state, &req, browser).await;
    crate::web::respond::page(outcome, lang)
}

fn refused() -> PageOutcome {
    PageOutcome::error(
        PageError::BadRequest,
        Key::ConnectFailedTitle,
        Key::ConnectFailedMsg,
    )
}

async fn outcome(state: &AppState, req: &Request, browser: Lang) -> (PageOutcome, Lang) {
    let Some((tenant, provider)) = route(req.uri().path()) else {
        let o = PageOutcome::error(PageError::NotFound, Key::NotFoundTitle, Key::NotFoundMsg);
        return (o, browser);
    };
    let p = match query_params(req) {
        Ok(p) => p,
        Err(e) => return (PageOutcome::bad_input(&e), browser),
    };
    if !p.duplicates().is_empty() {
        return (refused(), browser);
    }
    let urls = match state.urls().await {
        Ok(u) => u,
        Err(_) => return (PageOutcome::unavailable("public URLs unavailable"), browser),
    };
    let issuer = urls.issuer(&tenant);
    let cookie = cookie_value(
        req.headers()
            .get_all(lambda_http::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let lookup = |name: &str| p.get(name);
    let redirect = Redirect {
        code: p.get("code"),
        state: p.get("state"),
        error: p.get("error"),
        iss: p.get("iss"),
        param: &lookup,
    };
    let now = state.now();
    match connect::finish(state, &tenant, provider.as_str(), &redirect, cookie, now).await {
        Finish::Refused => {
            tracing::warn!(tenant = %tenant, provider = %provider, "connect: a provider redirect was refused (no transaction of this browser)");
            (refused(), browser)
        }
        Finish::Unavailable(cause) => (PageOutcome::unavailable(cause), browser),
        Finish::SignInFailed(f) => {
            let lang = f
                .client
                .lang
                .as_deref()
                .and_then(Lang::from_tag)
                .unwrap_or(browser);
            let (title, message) = match f.why {
                Why::NotLinked => (Key::SignInNotLinkedTitle, Key::SignInNotLinkedMsg),
                Why::Refused => (Key::SignInFailedTitle, Key::SignInFailedMsg),
                Why::Unavailable => (Key::SignInFailedTitle, Key::SignInUnavailableMsg),
            };
            let retry = signin::retry_url(
                urls,
                &tenant,
                &f.client,
                f.connect.then_some(provider.as_str()),
            );
            let html = signin::failed_page(lang, title, message, &f.provider, &retry);
            let o = PageOutcome::Rendered {
                unavailable: f.why == Why::Unavailable,
                html,
            };
            (o.with_binding_cookie(None), lang)
        }
        Finish::ToClient(to) => {
            let connect::ToClient {
                client,
                user,
                answer,
            } = *to;
            let lang = client
                .lang
                .as_deref()
                .and_then(Lang::from_tag)
                .unwrap_or(browser);
            let to_client = match answer {
                ClientAnswer::Code(code) => code_redirect(&client, &code, &issuer, &tenant, &user),
                ClientAnswer::Error(code, description) => ErrorRedirect {
                    redirect_uri: &client.redirect_uri,
                    state: client.state.as_deref(),
                    issuer: &issuer,
                    fragment: false,
                }
                .send(code, description, true),
            };
            (to_client.with_binding_cookie(None), lang)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_names_a_tenant_and_a_provider() {
        let (t, p) = route("/oauth2/acme/upstream/maximizer/callback").unwrap();
        assert_eq!((t.as_str(), p.as_str()), ("acme", "maximizer"));
        assert!(route("/OAuth2/acme/Upstream/maximizer/Callback/").is_some());
        assert!(route("/oauth2/acme/upstream/Maximizer/callback").is_none());
        assert!(route("/oauth2/acme/upstream/callback").is_none());
        assert!(route("/oauth2/acme/upstream/m/x/callback").is_none());
        assert!(route("/oauth2/acme/callback").is_none());
        assert!(route("/oauth2/ACME!/upstream/m/callback").is_none());
    }
}
