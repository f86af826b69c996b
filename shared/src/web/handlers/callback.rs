//! POST /oauth2/{tenant}/callback — the login form's target: refuse foreign
//! posts (login CSRF), verify the login transaction, check credentials (behind
//! the throttle) and the decision, issue the code (or, for implicit clients,
//! the access token), and 303 to the client — or, when the request connects
//! an upstream account (`upstream={name}`), 303 on to the provider, the
//! browser bound by a cookie (`oauth::connect`; the provider's redirect back
//! is `upstream_callback`).

use crate::AppState;
use crate::clock::Now;
use crate::config::Function;
use crate::domain::login_tx::LoginTx;
use crate::domain::providers::upstream_scope;
use crate::domain::records::{Client, Tenant, User};
use crate::domain::redirect as redirect_uri;
use crate::domain::throttling::Source;
use crate::domain::upstream_tx::ClientRequest;
use crate::ids::{TenantId, UserId};
use crate::oauth::connect::{self, StartFailure};
use crate::oauth::error::ErrorCode;
use crate::oauth::grants;
use crate::oauth::mint::Minter;
use crate::oauth::password_check::{self, Attempt, CredentialCheck};
use crate::ports::StoreError;
use crate::web::html::LoginPage;
use crate::web::i18n::{Key, Lang};
use crate::web::page::{ErrorRedirect, PageError, PageOutcome, code_redirect};
use crate::web::request::{Params, body_bytes, header_str, is_form, tenant_route};
use crate::web::response::{Response, append_params};
use lambda_http::Request;
use lambda_http::http::Method;
use std::sync::Arc;

const BAD_CREDENTIALS: Key = Key::ErrBadCredentials;

pub async fn handle(state: &AppState, req: Request) -> Response {
    // The browser's language until the login transaction names the page's.
    let browser = Lang::negotiate(None, header_str(&req, "accept-language"));
    if req.method() != Method::POST {
        return crate::web::response::method_not_allowed_page("POST", browser);
    }
    let (outcome, lang) = outcome(state, &req, browser).await;
    crate::web::respond::page(outcome, lang)
}

async fn outcome(state: &AppState, req: &Request, browser: Lang) -> (PageOutcome, Lang) {
    let Some(tenant) = tenant_route(req.uri().path(), &["callback"]) else {
        let o = PageOutcome::error(PageError::NotFound, Key::NotFoundTitle, Key::NotFoundMsg);
        return (o, browser);
    };
    let body = match body_bytes(req) {
        Ok(b) => b,
        Err(e) => return (PageOutcome::bad_input(&e), browser),
    };
    if !is_form(req) {
        let o = PageOutcome::bad_request(Key::InvalidRequestTitle, Key::MsgNotAForm);
        return (o, browser);
    }
    let p = match Params::parse(body) {
        Ok(p) => p,
        Err(e) => return (PageOutcome::bad_input(&e), browser),
    };
    if let Err(refused) = same_origin(state, &tenant, req, false).await {
        return (refused, browser);
    }
    let source = crate::web::request::source(req);
    callback(state, &tenant, &p, browser, &source, state.now()).await
}

/// Login CSRF: only Tollgate's own login page may post here. The browser names
/// the page's origin in `Origin` (or, without it, `Referer`); it must be the
/// authorize endpoint's origin. `Origin: null` and any other site are refused.
/// A request with neither header (not a browser) is judged by the signed,
/// single-use login transaction alone — unless `required` (the sign-in
/// link, a GET any page can make a browser follow: only the login page's
/// own links, whose `strict-origin` policy sends its origin, are followed).
async fn same_origin(
    state: &AppState,
    tenant: &TenantId,
    req: &Request,
    required: bool,
) -> Result<(), PageOutcome> {
    let claimed = match (header_str(req, "origin"), header_str(req, "referer")) {
        (Some(o), _) => o.trim().to_owned(),
        (None, Some(r)) => origin_of(r).unwrap_or_else(|| "null".to_owned()),
        (None, None) if !required => return Ok(()),
        (None, None) => "null".to_owned(),
    };
    let urls = state
        .urls()
        .await
        .map_err(|_| PageOutcome::unavailable("public URLs unavailable"))?;
    let expected = origin_of(&urls.endpoint(Function::Authorize, tenant));
    if expected.is_some_and(|e| e.eq_ignore_ascii_case(&claimed)) {
        return Ok(());
    }
    // Audited per tenant only for a tenant that exists (a cached read): the
    // alias is the caller's choice, and every distinct dimension value is a
    // billed custom metric.
    let event = crate::audit::Event::ForeignLoginPostRefused;
    match state.tenant(tenant).await {
        Ok(Some(_)) => crate::audit::record(event, tenant, crate::audit::Subject::default()),
        Ok(None) | Err(_) => crate::audit::record_unknown_tenant(event),
    }
    Err(PageOutcome::bad_request(
        Key::SignInRefusedTitle,
        Key::SignInRefusedMsg,
    ))
}

/// `scheme://host[:port]` of an absolute URL (the form browsers send in `Origin`).
fn origin_of(url: &str) -> Option<String> {
    match url::Url::parse(url.trim()).ok()?.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

fn expired() -> PageOutcome {
    PageOutcome::bad_request(Key::SignInExpiredTitle, Key::SignInExpiredMsg)
}

struct Ctx {
    tenant: Arc<Tenant>,
    client: Arc<Client>,
    tx: LoginTx,
    sealed: String,
    issuer: String,
    /// The login form's target (this endpoint's public URL).
    action: String,
    /// The page's language, chosen at authorize.
    lang: Lang,
    /// The caller's address (the guess throttle's per-source budget).
    source: Source,
    /// The display name of the provider to connect (`tx.u`), for the page.
    upstream: Option<String>,
    /// The page's "Sign in with …" links.
    sign_in: Vec<crate::web::signin::SignInLink>,
}

/// The outcome, and the language to answer in: the login transaction's once
/// it is verified, else `browser`.
#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
pub async fn callback(
    state: &AppState,
    tenant_id: &TenantId,
    p: &Params,
    browser: Lang,
    source: &Source,
    now: Now,
) -> (PageOutcome, Lang) {
    let ctx = match verify_tx(state, tenant_id, p, browser, source, now).await {
        Ok(c) => c,
        Err(outcome) => return (outcome, browser),
    };
    (decide(state, &ctx, tenant_id, p, now).await, ctx.lang)
}

async fn decide(
    state: &AppState,
    ctx: &Ctx,
    tenant_id: &TenantId,
    p: &Params,
    now: Now,
) -> PageOutcome {
    let err = ErrorRedirect {
        redirect_uri: &ctx.tx.r,
        state: ctx.tx.st.as_deref(),
        issuer: &ctx.issuer,
        fragment: ctx.tx.rt == "token",
    };
    match p.get("decision") {
        Some("deny") => match use_tx(state, ctx, tenant_id).await {
            Ok(()) => err.send(ErrorCode::AccessDenied, "the user denied the request", true),
            Err(outcome) => outcome,
        },
        Some("allow") => allow(state, ctx, tenant_id, p, now).await,
        _ => form_again(ctx, p, Key::ErrChooseDecision, FormState::Invalid),
    }
}

/// The signed transaction, still matching a live tenant, client and redirect URI.
async fn verify_tx(
    state: &AppState,
    tenant_id: &TenantId,
    p: &Params,
    browser: Lang,
    source: &Source,
    now: Now,
) -> Result<Ctx, PageOutcome> {
    if !p.duplicates().is_empty() {
        return Err(PageOutcome::bad_request(
            Key::InvalidRequestTitle,
            Key::MsgFormRepeatsField,
        ));
    }
    let key = state
        .login_key()
        .await
        .map_err(|_| PageOutcome::unavailable("login key unavailable"))?;
    let sealed = p.get("tx").unwrap_or_default().to_owned();
    let tx = LoginTx::open(&sealed, &key, now).ok_or_else(expired)?;
    if tx.t != tenant_id.as_str() {
        return Err(expired());
    }
    let tenant = state
        .tenant(tenant_id)
        .await
        .map_err(PageOutcome::unavailable)?
        .ok_or_else(expired)?;
    let client = state
        .enabled_client(tenant_id, &tx.c)
        .await
        .map_err(PageOutcome::unavailable)?
        .ok_or_else(expired)?;
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect_uri::matches(r, &tx.r))
    {
        return Err(expired());
    }
    let upstream = match &tx.u {
        Some(name) => state
            .provider(tenant_id, name)
            .await
            .map_err(PageOutcome::unavailable)?
            .map(|p| p.display_name.clone()),
        None => None,
    };
    let urls = state
        .urls()
        .await
        .map_err(|_| PageOutcome::unavailable("public URLs unavailable"))?;
    let sign_in = crate::web::signin::links(
        state,
        urls,
        tenant_id,
        &sealed,
        tx.rt == "code",
        tx.u.as_deref(),
    )
    .await;
    Ok(Ctx {
        sign_in,
        upstream,
        tenant,
        client,
        issuer: urls.issuer(tenant_id),
        action: urls.endpoint(Function::Callback, tenant_id),
        lang: tx.l.as_deref().and_then(Lang::from_tag).unwrap_or(browser),
        tx,
        sealed,
        source: source.clone(),
    })
}

/// Marks the transaction used; a second use is refused.
async fn use_tx(state: &AppState, ctx: &Ctx, tenant_id: &TenantId) -> Result<(), PageOutcome> {
    match state
        .login_txs()
        .use_once(tenant_id, &ctx.tx.id, ctx.tx.exp)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists) => Err(expired()),
        Err(e) => Err(PageOutcome::unavailable(e)),
    }
}

enum FormState {
    Ok,
    Invalid,
    Throttled(u64),
}

fn form_again(ctx: &Ctx, p: &Params, msg: Key, state: FormState) -> PageOutcome {
    let scopes: Vec<String> = ctx
        .tx
        .s
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let upstream_scope = ctx.tx.u.as_deref().map(upstream_scope);
    let page = LoginPage {
        lang: ctx.lang,
        action: &ctx.action,
        client_name: &ctx.client.name,
        tenant_name: &ctx.tenant.name,
        branding: &ctx.tenant.branding,
        scopes: &scopes,
        tx: &ctx.sealed,
        username: p.get("username").unwrap_or(""),
        error: Some(msg),
        no_state: ctx.tx.st.is_none(),
        upstream: upstream_scope.as_deref().zip(ctx.upstream.as_deref()),
        sign_in: &ctx.sign_in,
    };
    PageOutcome::LoginForm {
        html: page.render(),
        invalid: matches!(state, FormState::Invalid),
        throttled: match state {
            FormState::Throttled(wait) => Some(wait),
            _ => None,
        },
    }
}

async fn allow(
    state: &AppState,
    ctx: &Ctx,
    tenant_id: &TenantId,
    p: &Params,
    now: Now,
) -> PageOutcome {
    let (Some(username), Some(password)) = (p.get("username"), p.get("password")) else {
        return form_again(ctx, p, BAD_CREDENTIALS, FormState::Ok);
    };
    let attempt = Attempt {
        asked: username,
        password,
        source: &ctx.source,
    };
    let user = match password_check::check_username(state, tenant_id, &attempt, now).await {
        Ok(CredentialCheck::Ok(u)) => u,
        Ok(CredentialCheck::Invalid) => {
            return form_again(ctx, p, BAD_CREDENTIALS, FormState::Ok);
        }
        Ok(CredentialCheck::Throttled(wait)) => {
            return form_again(ctx, p, Key::ErrThrottled, FormState::Throttled(wait));
        }
        Err(e) => return PageOutcome::unavailable(e),
    };
    if user.require_password_change {
        return form_again(ctx, p, Key::ErrMustChangePassword, FormState::Ok);
    }
    if let Err(outcome) = use_tx(state, ctx, tenant_id).await {
        return outcome;
    }
    if ctx.tx.rt == "token" {
        return implicit(state, ctx, &user, now).await;
    }
    let req = client_request(ctx);
    if let Some(provider) = &ctx.tx.u {
        return to_provider(state, ctx, tenant_id, provider, &user.user_id, req, now).await;
    }
    match connect::issue_code(state, tenant_id, &req, &user.user_id, now.secs(), now).await {
        Ok(code) => code_redirect(&req, &code, &ctx.issuer, tenant_id, &user.user_id),
        Err(e) => PageOutcome::unavailable(e),
    }
}

/// "Sign in with {provider}" (`GET …/upstream/{provider}/signin?tx=…`, the
/// login page's link): the login page's origin, the login transaction
/// checked and spent as by a sign-in with a password, then on to the
/// provider (`oauth::signin::start`), the browser bound by the cookie. Only
/// code requests, and only the provider a connecting request names.
pub async fn sign_in(
    state: &AppState,
    req: &Request,
    tenant_id: &TenantId,
    provider: &str,
    p: &Params,
    browser: Lang,
    now: Now,
) -> (PageOutcome, Lang) {
    if let Err(refused) = same_origin(state, tenant_id, req, true).await {
        return (refused, browser);
    }
    let source = crate::web::request::source(req);
    let ctx = match verify_tx(state, tenant_id, p, browser, &source, now).await {
        Ok(c) => c,
        Err(outcome) => return (outcome, browser),
    };
    if ctx.tx.rt != "code" || ctx.tx.u.as_deref().is_some_and(|u| u != provider) {
        return (expired(), ctx.lang);
    }
    let connect = ctx.tx.u.is_some();
    let started = crate::oauth::signin::start(
        state,
        tenant_id,
        provider,
        client_request(&ctx),
        connect,
        now,
    )
    .await;
    let outcome = match started {
        Ok(to) => match use_tx(state, &ctx, tenant_id).await {
            Ok(()) => PageOutcome::Redirect {
                location: to.location,
                after_post: true,
            }
            .with_binding_cookie(Some(&to.binding)),
            Err(outcome) => outcome,
        },
        // Not a sign-in provider of the tenant (the login transaction is not spent).
        Err(StartFailure::NotConnectable) => {
            PageOutcome::error(PageError::NotFound, Key::NotFoundTitle, Key::NotFoundMsg)
        }
        Err(StartFailure::Unavailable(cause)) => PageOutcome::unavailable(cause),
    };
    (outcome, ctx.lang)
}

/// What the code will need, from the login transaction.
fn client_request(ctx: &Ctx) -> ClientRequest {
    ClientRequest {
        client_id: ctx.client.client_id.clone(),
        redirect_uri: ctx.tx.r.clone(),
        redirect_uri_in_request: ctx.tx.ri,
        scope: ctx.tx.s.clone(),
        code_challenge: ctx.tx.cc.clone(),
        nonce: ctx.tx.n.clone(),
        state: ctx.tx.st.clone(),
        lang: Some(ctx.lang.code().to_owned()),
    }
}

/// Connecting an upstream account: on to the provider, the browser bound by
/// the cookie; the client's code comes after the provider's redirect
/// (`upstream_callback`).
async fn to_provider(
    state: &AppState,
    ctx: &Ctx,
    tenant_id: &TenantId,
    provider: &str,
    user: &UserId,
    req: ClientRequest,
    now: Now,
) -> PageOutcome {
    let err = ErrorRedirect {
        redirect_uri: &ctx.tx.r,
        state: ctx.tx.st.as_deref(),
        issuer: &ctx.issuer,
        fragment: false,
    };
    match connect::start(state, tenant_id, provider, user, req, now).await {
        Ok(to) => PageOutcome::Redirect {
            location: to.location,
            after_post: true,
        }
        .with_binding_cookie(Some(&to.binding)),
        Err(StartFailure::NotConnectable) => err.send(
            ErrorCode::InvalidRequest,
            "the upstream provider cannot be connected",
            true,
        ),
        Err(StartFailure::Unavailable(cause)) => {
            tracing::error!(error = %cause, "connect: dependency unavailable");
            err.send(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; try again later",
                true,
            )
        }
    }
}

/// The implicit grant (`oauth::grants::implicit` mints), answered in the
/// redirect's fragment.
async fn implicit(state: &AppState, ctx: &Ctx, user: &User, now: Now) -> PageOutcome {
    let minter = Minter {
        state,
        tenant: &ctx.tenant,
        client: &ctx.client,
        issuer: &ctx.issuer,
        now,
    };
    let token = match grants::implicit::grant(&minter, user, &ctx.tx.s).await {
        Ok(t) => t,
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
            return PageOutcome::unavailable("signing key unavailable");
        }
        Err(_) => return PageOutcome::internal("signing failed"),
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
    PageOutcome::Redirect {
        location: append_params(&ctx.tx.r, &pairs, true),
        after_post: true,
    }
}
