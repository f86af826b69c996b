//! GET or POST /oauth2/{tenant}/userinfo — OIDC Core §5.3 UserInfo.
//!
//! The access token comes as `Authorization: Bearer …` or, in a form POST
//! body, as `access_token` (never in the query string, RFC 6750 §2.3). It must
//! be active, as at introspection — and this counts as a use under sliding
//! expiry — and carry `openid` (`oauth::bearer`). The answer is `sub` and
//! only the claims the token's scopes grant (`profile`, `email`).

use crate::AppState;
use crate::domain::claims::{ClaimSet, user_claims};
use crate::oauth::bearer::signed_in;
use crate::oauth::outcome::UserinfoOutcome as Outcome;
use crate::web::request::tenant_route;
use crate::web::response::Response;
use crate::web::{bearer, cors};
use lambda_http::Request;
use lambda_http::http::Method;
use serde_json::{Map, Value, json};

pub async fn handle(state: &AppState, req: Request) -> Response {
    let Some(tenant) = tenant_route(req.uri().path(), &["userinfo"]) else {
        return crate::web::response::not_found_json();
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, "GET, POST").await;
    }
    if req.method() != Method::GET && req.method() != Method::POST {
        return crate::web::response::method_not_allowed("GET, POST");
    }
    let b = signed_in(state, &tenant, bearer::presented(&req, true), state.now()).await;
    let origin = b
        .client
        .as_ref()
        .and_then(|c| cors::allowed_for(c, cors::origin(&req)));
    let outcome = match b.outcome {
        Ok(s) => {
            let mut claims = Map::new();
            user_claims(&mut claims, &s.user, ClaimSet::for_scope(&s.scope));
            claims.insert("sub".into(), json!(s.user.user_id.as_str()));
            Outcome::Claims(Value::Object(claims))
        }
        Err(r) => Outcome::Refused(r),
    };
    crate::web::respond::with_cors(crate::web::respond::userinfo(outcome), origin)
}
