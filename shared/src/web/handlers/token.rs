//! POST /oauth2/{tenant}/token (and /refresh): parse the request into a grant,
//! authenticate the client, run the grant.

use crate::AppState;
use crate::clock::Now;
use crate::ids::TenantId;
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::client_auth::{self};
use crate::oauth::error::OAuthError;
use crate::oauth::grants::{
    GrantCtx, GrantToken, authorization_code, client_credentials, password, refresh_token,
    token_exchange,
};
use crate::oauth::outcome::TokenOutcome;
use crate::web::cors;
use crate::web::request::tenant_route;
use crate::web::request::{Params, read_form};
use crate::web::response::Response;
use lambda_http::Request;
use lambda_http::http::Method;

/// The token request, tagged by `grant_type`. Carries secrets: no `Debug`.
pub enum TokenRequest {
    AuthorizationCode {
        code: GrantToken,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
    Password {
        username: String,
        password: String,
        scope: Option<String>,
    },
    RefreshToken {
        refresh_token: GrantToken,
        scope: Option<String>,
    },
    TokenExchange(token_exchange::ExchangeRequest),
}

impl TokenRequest {
    pub fn grant_type(&self) -> &'static str {
        match self {
            TokenRequest::AuthorizationCode { .. } => "authorization_code",
            TokenRequest::ClientCredentials { .. } => "client_credentials",
            TokenRequest::Password { .. } => "password",
            TokenRequest::RefreshToken { .. } => "refresh_token",
            TokenRequest::TokenExchange(_) => "token_exchange",
        }
    }

    pub fn parse(p: &Params) -> Result<TokenRequest, OAuthError> {
        let req = |k: &str| {
            p.get(k)
                .map(str::to_owned)
                .ok_or_else(|| OAuthError::invalid_request(format!("{k} is required")))
        };
        let opt = |k: &str| p.get(k).map(str::to_owned);
        let token = |k: &str| req(k).map(|v| GrantToken::parse(k, v));
        match p.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required")),
            Some("authorization_code") => Ok(TokenRequest::AuthorizationCode {
                code: token("code")?,
                redirect_uri: opt("redirect_uri"),
                code_verifier: opt("code_verifier"),
            }),
            Some("client_credentials") => Ok(TokenRequest::ClientCredentials {
                scope: opt("scope"),
            }),
            Some("password") => Ok(TokenRequest::Password {
                username: req("username")?,
                password: req("password")?,
                scope: opt("scope"),
            }),
            Some("refresh_token") => Ok(TokenRequest::RefreshToken {
                refresh_token: token("refresh_token")?,
                scope: opt("scope"),
            }),
            Some(crate::domain::token_exchange::GRANT_TYPE) => Ok(TokenRequest::TokenExchange(
                token_exchange::ExchangeRequest {
                    subject_token: token("subject_token")?,
                    subject_token_type: req("subject_token_type")?,
                    actor_token: opt("actor_token"),
                    actor_token_type: opt("actor_token_type"),
                    requested_token_type: opt("requested_token_type"),
                    scope: opt("scope"),
                    audience: opt("audience"),
                    resource: opt("resource"),
                },
            )),
            Some(other) => Err(OAuthError::new(
                crate::oauth::error::ErrorCode::UnsupportedGrantType,
                format!(
                    "unsupported grant_type: {}",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }
}

/// Which endpoint is being served: `token` takes every grant, `refresh` only
/// refresh_token (same code path).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Refresh,
}

pub async fn handle(state: &AppState, req: Request, endpoint: Endpoint) -> Response {
    let tail: &[&str] = match endpoint {
        Endpoint::Token => &["token"],
        Endpoint::Refresh => &["refresh"],
    };
    let Some(tenant) = tenant_route(req.uri().path(), tail) else {
        return crate::web::response::not_found_json();
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, "POST").await;
    }
    if req.method() != Method::POST {
        return crate::web::response::method_not_allowed("POST");
    }
    // The invocation's start: the token vault's refresh must end well before
    // the function's timeout counted from here.
    let started = tokio::time::Instant::now();
    let form = read_form(&req);
    let outcome = match token(state, &tenant, &req, &form, endpoint, state.now(), started).await {
        Ok(o) => o,
        Err(e) => TokenOutcome::Refused(e),
    };
    let presented = form.as_ref().ok().map(|(_, c)| c);
    let origin = cors::allowed_for_request(state, &tenant, &req, presented).await;
    crate::web::respond::with_cors(crate::web::respond::token(outcome), origin.as_deref())
}

#[tracing::instrument(
    skip_all,
    fields(tenant = %tenant_id, client_id = tracing::field::Empty, grant_type = tracing::field::Empty)
)]
async fn token(
    state: &AppState,
    tenant_id: &TenantId,
    req: &Request,
    form: &Result<(Params, ClientCredentials), OAuthError>,
    endpoint: Endpoint,
    now: Now,
    started: tokio::time::Instant,
) -> Result<TokenOutcome, OAuthError> {
    let (p, presented) = form.as_ref().map_err(Clone::clone)?;
    let Some(tenant) = state.tenant(tenant_id).await? else {
        return Ok(TokenOutcome::NoSuchTenant);
    };
    let grant = TokenRequest::parse(p)?;
    if endpoint == Endpoint::Refresh && !matches!(grant, TokenRequest::RefreshToken { .. }) {
        return Err(OAuthError::new(
            crate::oauth::error::ErrorCode::UnsupportedGrantType,
            "this endpoint accepts grant_type=refresh_token only",
        ));
    }
    // Every grant signs: load the tenant's key while the client is authenticated.
    let (client, signer) = tokio::join!(
        client_auth::authenticate(state, tenant_id, presented),
        state.signer(&tenant)
    );
    let client = client?;
    // No grant writes anything before its tokens are signed; an unavailable
    // key fails the request here, before any state changes.
    signer.map_err(|e| OAuthError::from(e).with_basic(client.basic))?;
    let span = tracing::Span::current();
    span.record(
        "client_id",
        tracing::field::display(&client.client.client_id),
    );
    span.record("grant_type", grant.grant_type());
    let ctx = GrantCtx {
        state,
        tenant: &tenant,
        client: &client,
        issuer: state.urls().await?.issuer(tenant_id),
        source: crate::web::request::source(req),
        now,
        started,
    };
    let grant_type = grant.grant_type();
    let result = match grant {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            authorization_code::grant(
                &ctx,
                code.value(),
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
            )
            .await
        }
        TokenRequest::ClientCredentials { scope } => {
            client_credentials::grant(&ctx, scope.as_deref()).await
        }
        TokenRequest::Password {
            username,
            password,
            scope,
        } => password::grant(&ctx, &username, &password, scope.as_deref()).await,
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh_token::grant(&ctx, refresh_token.value(), scope.as_deref()).await,
        TokenRequest::TokenExchange(r) => token_exchange::grant(&ctx, r).await,
    };
    if let Ok(TokenOutcome::Issued(_) | TokenOutcome::Exchanged(_)) = &result {
        crate::audit::record(
            crate::audit::Event::TokenIssued,
            tenant_id,
            crate::audit::Subject {
                client: Some(&client.client_id),
                detail: Some(grant_type),
                ..crate::audit::Subject::default()
            },
        );
    }
    result.map_err(|e| e.with_basic(client.basic))
}
