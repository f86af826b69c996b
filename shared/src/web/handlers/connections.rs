//! GET /oauth2/{tenant}/connections and DELETE
//! /oauth2/{tenant}/connections/{provider} — the signed-in user's upstream
//! connections (SPEC: Upstream providers — Health), on the userinfo
//! function. Bearer access token in the `Authorization` header, checked as
//! at userinfo (active, a user's, scope `openid`); CORS as at userinfo.

use crate::AppState;
use crate::ids::{ProviderName, TenantId};
use crate::oauth::bearer::signed_in;
use crate::oauth::connections;
use crate::oauth::outcome::ConnectionsOutcome as Outcome;
use crate::web::request::tenant_route;
use crate::web::response::Response;
use crate::web::{bearer, cors};
use lambda_http::Request;
use lambda_http::http::Method;

/// Which of the two routes a path is.
pub enum Route {
    /// `…/connections`
    List(TenantId),
    /// `…/connections/{segment}`: the segment parsed as a provider name
    /// (`None`: it is none, so no connection has it).
    One(TenantId, Option<ProviderName>),
}

/// The route of `path`, if it is one of the two.
pub fn route(path: &str) -> Option<Route> {
    if let Some(t) = tenant_route(path, &["connections"]) {
        return Some(Route::List(t));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let (head, last) = trimmed.rsplit_once('/')?;
    if last.is_empty() {
        return None;
    }
    let t = tenant_route(head, &["connections"])?;
    Some(Route::One(t, ProviderName::parse(last).ok()))
}

pub async fn handle(state: &AppState, req: Request) -> Response {
    let Some(route) = route(req.uri().path()) else {
        return crate::web::response::not_found_json();
    };
    let (tenant, allow) = match &route {
        Route::List(t) => (t.clone(), "GET"),
        Route::One(t, _) => (t.clone(), "DELETE"),
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, allow).await;
    }
    let method_ok = match route {
        Route::List(_) => req.method() == Method::GET,
        Route::One(..) => req.method() == Method::DELETE,
    };
    if !method_ok {
        return crate::web::response::method_not_allowed(allow);
    }
    let b = signed_in(state, &tenant, bearer::presented(&req, false), state.now()).await;
    let origin = b
        .client
        .as_ref()
        .and_then(|c| cors::allowed_for(c, cors::origin(&req)));
    let outcome = match b.outcome {
        Err(r) => Outcome::Refused(r),
        Ok(s) => match route {
            Route::List(_) => connections::list(state, &tenant, &s.user.user_id).await,
            Route::One(_, provider) => {
                connections::disconnect(state, &tenant, &s.user.user_id, provider).await
            }
        },
    };
    crate::web::respond::with_cors(crate::web::respond::connections(outcome), origin)
}
