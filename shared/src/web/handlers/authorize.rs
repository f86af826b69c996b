//! GET /oauth2/{tenant}/authorize — validate the request in RFC order, then show
//! the login + consent page carrying a signed login transaction.
//!
//! Until the client and its redirect URI are established, errors are HTML pages
//! (never a redirect). After that, errors redirect with `state` and `iss`.

use crate::AppState;
use crate::clock::Now;
use crate::config::Function;
use crate::crypto::random_token;
use crate::domain::login_tx::{self, LoginTx};
use crate::domain::providers::{Provider, upstream_scope};
use crate::domain::records::{Client, Grant};
use crate::domain::redirect as redirect_uri;
use crate::domain::scope;
use crate::ids::{ProviderName, TenantId};
use crate::oauth::connect;
use crate::oauth::error::ErrorCode;
use crate::web::html::LoginPage;
use crate::web::i18n::{Key, Lang};
use crate::web::page::{ErrorRedirect, PageError, PageOutcome};
use crate::web::request::{Params, header_str, query_params, tenant_route};
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;
use std::sync::Arc;

pub async fn handle(state: &AppState, req: Request) -> Response {
    let accept_language = header_str(&req, "accept-language");
    let params = query_params(&req);
    // OIDC `ui_locales` first, then the browser's languages.
    let lang = Lang::negotiate(
        params.as_ref().ok().and_then(|p| p.get("ui_locales")),
        accept_language,
    );
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return crate::web::response::method_not_allowed_page("GET, HEAD", lang);
    }
    let outcome = match tenant_route(req.uri().path(), &["authorize"]) {
        None => PageOutcome::error(PageError::NotFound, Key::NotFoundTitle, Key::NotFoundMsg),
        Some(tenant) => match &params {
            Ok(p) => authorize(state, &tenant, p, lang, state.now()).await,
            Err(e) => PageOutcome::bad_input(e),
        },
    };
    crate::web::respond::page(outcome, lang)
}

/// The trusted part of a request: a known client and a registered redirect URI.
async fn establish_client(
    state: &AppState,
    tenant: &TenantId,
    p: &Params,
) -> Result<(std::sync::Arc<Client>, String), PageOutcome> {
    let bad = |msg: Key| PageOutcome::bad_request(Key::InvalidRequestTitle, msg);
    if p.is_duplicated("client_id") || p.is_duplicated("redirect_uri") {
        return Err(bad(Key::MsgRepeatsClientOrRedirect));
    }
    let Some(raw_id) = p.get("client_id") else {
        return Err(bad(Key::MsgNoClientId));
    };
    let client = state
        .enabled_client(tenant, raw_id)
        .await
        .map_err(PageOutcome::unavailable)?;
    let Some(client) = client else {
        return Err(bad(Key::MsgUnknownClient));
    };
    match redirect_uri::resolve(&client.redirect_uris, p.get("redirect_uri")) {
        Some(uri) => {
            let uri = uri.to_owned();
            Ok((client, uri))
        }
        None if p.has("redirect_uri") => Err(bad(Key::MsgRedirectNotRegistered)),
        None => Err(bad(Key::MsgNoRedirectSeveral)),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
pub async fn authorize(
    state: &AppState,
    tenant_id: &TenantId,
    p: &Params,
    lang: Lang,
    now: Now,
) -> PageOutcome {
    // Independent lookups, concurrently: on a cold sandbox each is a round trip.
    let (tenant, client, key, urls) = tokio::join!(
        state.tenant(tenant_id),
        establish_client(state, tenant_id, p),
        state.login_key(),
        state.urls()
    );
    let tenant = match tenant {
        Ok(Some(t)) => t,
        Ok(None) => {
            return PageOutcome::error(
                PageError::NotFound,
                Key::UnknownTenantTitle,
                Key::UnknownTenantMsg,
            );
        }
        Err(e) => return PageOutcome::unavailable(e),
    };
    let (client, redirect_to) = match client {
        Ok(v) => v,
        Err(outcome) => return outcome,
    };
    let urls = match urls {
        Ok(u) => u,
        Err(_) => return PageOutcome::unavailable("public URLs unavailable"),
    };
    let issuer = urls.issuer(tenant_id);
    let response_type = p.get("response_type");
    let err = ErrorRedirect {
        redirect_uri: &redirect_to,
        state: p.get("state"),
        issuer: &issuer,
        fragment: response_type == Some("token"),
    };
    let fail = |code, d: &str| err.send(code, d, false);

    if let Some(d) = p.duplicates().first() {
        return fail(
            ErrorCode::InvalidRequest,
            &format!("duplicate parameter: {d}"),
        );
    }
    let implicit = match response_type {
        None => return fail(ErrorCode::InvalidRequest, "response_type is required"),
        Some("code") => false,
        Some("token") => true,
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "response_type must be code or token",
            );
        }
    };
    let needed = if implicit {
        Grant::Implicit
    } else {
        Grant::AuthorizationCode
    };
    if !client.has_grant(needed) {
        return fail(
            ErrorCode::UnauthorizedClient,
            &format!("client is not registered for {}", needed.as_str()),
        );
    }
    let scopes = match scope::resolve(&client, p.get("scope")) {
        Ok(s) => s,
        Err(d) => return fail(ErrorCode::InvalidScope, &d),
    };
    let challenge = if implicit {
        None
    } else {
        match crate::domain::pkce::authorization_challenge(
            &client,
            p.get("code_challenge"),
            p.get("code_challenge_method"),
        ) {
            Ok(c) => c,
            Err(why) => return fail(ErrorCode::InvalidRequest, why),
        }
    };
    if p.get("prompt")
        .is_some_and(|pr| scope::contains(pr, "none"))
    {
        return fail(
            ErrorCode::LoginRequired,
            "the user must sign in (prompt=none cannot be satisfied)",
        );
    }

    let upstream = match upstream_provider(state, tenant_id, p, &scopes, implicit).await {
        Ok(u) => u,
        Err(Ok((code, d))) => return fail(code, d),
        Err(Err(outage)) => return outage,
    };

    let key = match key {
        Ok(k) => k,
        Err(_) => return PageOutcome::unavailable("login key unavailable"),
    };
    let tx = LoginTx {
        t: tenant_id.to_string(),
        c: client.client_id.to_string(),
        r: redirect_to.clone(),
        ri: p.has("redirect_uri"),
        s: scope::join(&scopes),
        st: p.get("state").map(str::to_owned),
        cc: challenge,
        n: p.get("nonce").map(str::to_owned),
        rt: if implicit { "token" } else { "code" }.to_owned(),
        exp: now.plus(login_tx::LIFETIME),
        id: random_token(16),
        l: Some(lang.code().to_owned()),
        u: upstream.as_ref().map(|u| u.name.clone()),
    };
    let sealed = tx.seal(&key);
    // Only a client's very long registered scopes can make it longer than the
    // callback reads: refuse here, not after the user typed a password.
    if sealed.len() > login_tx::MAX_SEALED {
        return fail(
            ErrorCode::InvalidRequest,
            "the authorization request is too large to carry through the sign-in",
        );
    }
    let upstream_scope_of_page = upstream.as_ref().map(|u| upstream_scope(&u.name));
    let upstream_name = upstream.as_ref().map(|u| u.name.as_str());
    let sign_in =
        crate::web::signin::links(state, urls, tenant_id, &sealed, !implicit, upstream_name).await;
    let page = LoginPage {
        lang,
        action: &urls.endpoint(Function::Callback, tenant_id),
        client_name: &client.name,
        tenant_name: &tenant.name,
        branding: &tenant.branding,
        scopes: &scopes,
        tx: &sealed,
        username: p
            .get("login_hint")
            .filter(|h| !h.contains(' '))
            .unwrap_or(""),
        error: None,
        no_state: !p.has("state"),
        upstream: upstream
            .as_ref()
            .zip(upstream_scope_of_page.as_deref())
            .map(|(u, s)| (s, u.display_name.as_str())),
        sign_in: &sign_in,
    };
    PageOutcome::LoginForm {
        html: page.render(),
        invalid: false,
        throttled: None,
    }
}

/// `upstream={name}` (SPEC: Connecting a user's account): a provider of the
/// tenant that can be connected in a browser, asked for with the scope
/// `upstream:{name}` (which `scope::resolve` grants only to a client
/// registered with it), by a code request. `Err(Ok(..))`: the error for the
/// client's redirect; `Err(Err(..))`: an outage.
async fn upstream_provider(
    state: &AppState,
    tenant: &TenantId,
    p: &Params,
    scopes: &[String],
    implicit: bool,
) -> Result<Option<Arc<Provider>>, Result<(ErrorCode, &'static str), PageOutcome>> {
    let Some(name) = p.get("upstream") else {
        return Ok(None);
    };
    let refuse = |code, d| Err(Ok((code, d)));
    if implicit {
        return refuse(
            ErrorCode::InvalidRequest,
            "upstream requires response_type=code",
        );
    }
    if ProviderName::parse(name).is_err() {
        return refuse(ErrorCode::InvalidRequest, "unknown upstream provider");
    }
    // Asked for in the request's `scope` itself (not only registered: a
    // request without `scope` gets the client's registered scopes).
    let wanted = upstream_scope(name);
    if !scopes.contains(&wanted) || !scope::contains(p.get("scope").unwrap_or(""), &wanted) {
        return refuse(
            ErrorCode::InvalidScope,
            "upstream requires the scope upstream:{name} for the same provider",
        );
    }
    match state.provider(tenant, name).await {
        Ok(Some(provider)) if connect::connectable(&provider) => Ok(Some(provider)),
        Ok(_) => refuse(
            ErrorCode::InvalidRequest,
            "unknown upstream provider, or one that cannot be connected in a browser",
        ),
        Err(e) => Err(Err(PageOutcome::unavailable(e))),
    }
}
