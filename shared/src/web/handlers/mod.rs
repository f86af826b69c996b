//! One module per endpoint. Each handler parses its request at the edge
//! (`web::request`), runs the protocol (`crate::oauth`, HTTP-free) and returns
//! the endpoint's outcome, which `web::respond` maps to HTTP in one place. No
//! handler imports another, but the sign-in link (`upstream_signin`), which
//! checks the login transaction with the login callback's own rules.

pub mod authorize;
pub mod callback;
pub mod change_password;
pub mod connections;
pub mod discovery;
pub mod introspect;
pub mod revoke;
pub mod token;
pub mod upstream_callback;
pub mod upstream_signin;
pub mod userinfo;

/// The callback function's routes: the provider's redirect of the connect
/// flow and of federated sign-in (`GET …/upstream/{provider}/callback`), the
/// login page's sign-in links (`GET …/upstream/{provider}/signin`), else the
/// login form's target.
pub async fn callback_function(
    state: &crate::AppState,
    req: lambda_http::Request,
) -> crate::web::response::Response {
    if upstream_callback::route(req.uri().path()).is_some() {
        upstream_callback::handle(state, req).await
    } else if upstream_signin::route(req.uri().path()).is_some() {
        upstream_signin::handle(state, req).await
    } else {
        callback::handle(state, req).await
    }
}

/// The userinfo function: UserInfo, and the signed-in user's upstream
/// connections (`…/connections`, `…/connections/{provider}`).
pub async fn userinfo_function(
    state: &crate::AppState,
    req: lambda_http::Request,
) -> crate::web::response::Response {
    if connections::route(req.uri().path()).is_some() {
        connections::handle(state, req).await
    } else {
        userinfo::handle(state, req).await
    }
}
