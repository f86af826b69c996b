//! POST /oauth2/{tenant}/callback — the login form's target: verify the login
//! transaction, check credentials and the decision, issue the code (or, for
//! implicit clients, the access token), and 303 to the client.

use super::authorize::ErrorRedirect;
use super::{html_bad_input, html_error, html_internal, html_unavailable};
use crate::AppState;
use crate::clock::Now;
use crate::config::Function;
use crate::credentials::{self, CredentialCheck};
use crate::crypto::{random_token, token_hash};
use crate::error::ErrorCode;
use crate::html::LoginPage;
use crate::http::{
    Params, Response, append_params, body_bytes, header_str, is_form, login_page_response,
    redirect, tenant_route,
};
use crate::ids::{ClientId, TenantId, UserId};
use crate::jwt::AccessToken;
use crate::login_tx::LoginTx;
use crate::redirect as redirect_uri;
use crate::store::{AuthCode, CODE_TTL, Client, StoreError, Tenant, User};
use lambda_http::Request;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use std::sync::Arc;

const BAD_CREDENTIALS: &str = "Incorrect username or password.";

pub async fn handle(state: &AppState, req: Request) -> Response {
    if req.method() != Method::POST {
        return crate::http::method_not_allowed("POST");
    }
    let Some(tenant) = tenant_route(req.uri().path(), &["callback"]) else {
        return html_error(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
    };
    let body = match body_bytes(&req) {
        Ok(b) => b,
        Err(e) => return html_bad_input(&e),
    };
    if !is_form(&req) {
        return html_error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The sign-in form was not submitted as a form.",
        );
    }
    let p = match Params::parse(body) {
        Ok(p) => p,
        Err(e) => return html_bad_input(&e),
    };
    if let Err(r) = same_origin(state, &tenant, &req).await {
        return r;
    }
    callback(state, &tenant, &p, state.now()).await
}

/// Login CSRF: only Tollgate's own login page may post here. The browser names
/// the page's origin in `Origin` (or, without it, `Referer`); it must be the
/// authorize endpoint's origin. `Origin: null` and any other site are refused.
/// A request with neither header (not a browser) is judged by the signed,
/// single-use login transaction alone.
async fn same_origin(state: &AppState, tenant: &TenantId, req: &Request) -> Result<(), Response> {
    let claimed = match (header_str(req, "origin"), header_str(req, "referer")) {
        (Some(o), _) => o.trim().to_owned(),
        (None, Some(r)) => origin_of(r).unwrap_or_else(|| "null".to_owned()),
        (None, None) => return Ok(()),
    };
    let urls = state
        .urls()
        .await
        .map_err(|_| html_unavailable("public URLs unavailable"))?;
    let expected = origin_of(&urls.endpoint(Function::Authorize, tenant));
    if expected.is_some_and(|e| e.eq_ignore_ascii_case(&claimed)) {
        return Ok(());
    }
    tracing::warn!(tenant = %tenant, "callback refused a form post from a foreign origin");
    Err(html_error(
        StatusCode::BAD_REQUEST,
        "Sign-in refused",
        "This sign-in form was not sent from this sign-in page. Return to the application and start again.",
    ))
}

/// `scheme://host[:port]` of an absolute URL (the form browsers send in `Origin`).
fn origin_of(url: &str) -> Option<String> {
    match url::Url::parse(url.trim()).ok()?.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

fn expired() -> Response {
    html_error(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in form has expired, was already used, or is not valid. Return to the application and start again.",
    )
}

struct Ctx {
    tenant: Arc<Tenant>,
    client: Arc<Client>,
    tx: LoginTx,
    sealed: String,
    issuer: String,
    /// The login form's target (this endpoint's public URL).
    action: String,
}

pub async fn callback(state: &AppState, tenant_id: &TenantId, p: &Params, now: Now) -> Response {
    let ctx = match verify_tx(state, tenant_id, p, now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let err = ErrorRedirect {
        redirect_uri: &ctx.tx.r,
        state: ctx.tx.st.as_deref(),
        issuer: &ctx.issuer,
        fragment: ctx.tx.rt == "token",
    };
    match p.get("decision") {
        Some("deny") => match use_tx(state, &ctx, tenant_id).await {
            Ok(()) => err.send(
                ErrorCode::AccessDenied,
                "the user denied the request",
                StatusCode::SEE_OTHER,
            ),
            Err(r) => r,
        },
        Some("allow") => allow(state, &ctx, tenant_id, p, now).await,
        _ => form_again(&ctx, p, "Choose Allow or Deny.", StatusCode::BAD_REQUEST),
    }
}

/// The signed transaction, still matching a live tenant, client and redirect URI.
async fn verify_tx(
    state: &AppState,
    tenant_id: &TenantId,
    p: &Params,
    now: Now,
) -> Result<Ctx, Response> {
    if !p.duplicates().is_empty() {
        return Err(html_error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form repeats a field.",
        ));
    }
    let key = state
        .login_key()
        .await
        .map_err(|_| html_unavailable("login key unavailable"))?;
    let sealed = p.get("tx").unwrap_or_default().to_owned();
    let tx = LoginTx::open(&sealed, &key, now).ok_or_else(expired)?;
    if tx.t != tenant_id.as_str() {
        return Err(expired());
    }
    let tenant = state
        .tenant(tenant_id)
        .await
        .map_err(html_unavailable)?
        .ok_or_else(expired)?;
    let client_id = ClientId::parse(&tx.c).map_err(|_| expired())?;
    let client = state
        .client(tenant_id, &client_id)
        .await
        .map_err(html_unavailable)?
        .filter(|c| c.enabled)
        .ok_or_else(expired)?;
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect_uri::matches(r, &tx.r))
    {
        return Err(expired());
    }
    let urls = state
        .urls()
        .await
        .map_err(|_| html_unavailable("public URLs unavailable"))?;
    Ok(Ctx {
        tenant,
        client,
        issuer: urls.issuer(tenant_id),
        action: urls.endpoint(Function::Callback, tenant_id),
        tx,
        sealed,
    })
}

/// Marks the transaction used; a second use is refused.
async fn use_tx(state: &AppState, ctx: &Ctx, tenant_id: &TenantId) -> Result<(), Response> {
    match state
        .login_txs()
        .use_once(tenant_id, &ctx.tx.id, ctx.tx.exp)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists) => Err(expired()),
        Err(e) => Err(html_unavailable(e)),
    }
}

fn form_again(ctx: &Ctx, p: &Params, msg: &str, status: StatusCode) -> Response {
    let scopes: Vec<String> = ctx
        .tx
        .s
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let page = LoginPage {
        action: &ctx.action,
        client_name: &ctx.client.name,
        tenant_name: &ctx.tenant.name,
        scopes: &scopes,
        tx: &ctx.sealed,
        username: p.get("username").unwrap_or(""),
        error: Some(msg),
        no_state: ctx.tx.st.is_none(),
    };
    login_page_response(status, page.render())
}

async fn allow(
    state: &AppState,
    ctx: &Ctx,
    tenant_id: &TenantId,
    p: &Params,
    now: Now,
) -> Response {
    let (Some(username), Some(password)) = (p.get("username"), p.get("password")) else {
        return form_again(ctx, p, BAD_CREDENTIALS, StatusCode::OK);
    };
    let user = match credentials::check_username(state, tenant_id, username, password, now).await {
        Ok(CredentialCheck::Ok(u)) => u,
        Ok(CredentialCheck::Invalid) => {
            return form_again(ctx, p, BAD_CREDENTIALS, StatusCode::OK);
        }
        Ok(CredentialCheck::Throttled(wait)) => {
            let mut r = form_again(
                ctx,
                p,
                "Too many failed attempts. Wait a few minutes and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(wait.max(1)));
            return r;
        }
        Err(e) => return html_unavailable(e),
    };
    if user.require_password_change {
        return form_again(
            ctx,
            p,
            "You must change your password before you can sign in here.",
            StatusCode::OK,
        );
    }
    if let Err(r) = use_tx(state, ctx, tenant_id).await {
        return r;
    }
    if ctx.tx.rt == "token" {
        return implicit(state, ctx, &user, now).await;
    }
    let code = random_token(32);
    let record = AuthCode {
        tenant: tenant_id.clone(),
        code_hash: token_hash(&code),
        client_id: ctx.client.client_id.clone(),
        redirect_uri: ctx.tx.r.clone(),
        redirect_uri_in_request: ctx.tx.ri,
        scope: ctx.tx.s.clone(),
        code_challenge: ctx.tx.cc.clone(),
        nonce: ctx.tx.n.clone(),
        user_id: user.user_id.clone(),
        auth_time: now.secs(),
        expires_at: now.plus(CODE_TTL),
        family_id: None,
    };
    if let Err(e) = state.codes().put(&record).await {
        return html_unavailable(e);
    }
    tracing::info!(tenant = %tenant_id, client_id = %ctx.client.client_id, user_id = %user.user_id, "authorization code issued");
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &ctx.tx.st {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &ctx.issuer));
    let hint = login_hint(tenant_id, &user.user_id);
    pairs.push(("login_hint", &hint));
    redirect(
        StatusCode::SEE_OTHER,
        &append_params(&ctx.tx.r, &pairs, false),
    )
}

/// Maximizer's `login_hint`: `d {tenant} u {user_id}` (spaces sent as `%20`).
pub fn login_hint(tenant: &TenantId, user: &UserId) -> String {
    format!("d {tenant} u {user}")
}

/// Implicit grant: the access token in the fragment, never a refresh token.
async fn implicit(state: &AppState, ctx: &Ctx, user: &User, now: Now) -> Response {
    let signer = match state.signer(&ctx.tenant.id).await {
        Ok(s) => s,
        Err(_) => return html_unavailable("signing key unavailable"),
    };
    let token = AccessToken {
        issuer: &ctx.issuer,
        tenant: &ctx.tenant,
        client_id: &ctx.client.client_id,
        scope: &ctx.tx.s,
        user: Some(user),
        auth_time: Some(now.secs()),
    }
    .sign(&signer, now);
    let token = match token {
        Ok(t) => t,
        Err(_) => return html_internal("signing failed"),
    };
    let expires = ctx.tenant.access_token_ttl.to_string();
    let mut pairs = vec![
        ("access_token", token.as_str()),
        ("token_type", "Bearer"),
        ("expires_in", expires.as_str()),
        ("scope", ctx.tx.s.as_str()),
    ];
    if let Some(s) = &ctx.tx.st {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &ctx.issuer));
    redirect(
        StatusCode::SEE_OTHER,
        &append_params(&ctx.tx.r, &pairs, true),
    )
}
