//! POST /oauth2/{tenant}/token (and /refresh): parse the request into a grant,
//! authenticate the client, run the grant.

mod authorization_code;
mod client_credentials;
mod exchange;
mod password;
mod refresh;

use crate::AppState;
use crate::clock::Now;
use crate::domain::records::Tenant;
use crate::domain::throttling::Source;
use crate::error::OAuthError;
use crate::flows::client_auth::{self, Authenticated};
use crate::flows::cors;
use crate::flows::issue::Issuer;
use crate::http::{Params, Response, form_params, tenant_route};
use crate::ids::TenantId;
use crate::outcome::TokenOutcome;
use lambda_http::Request;
use lambda_http::http::Method;

/// A grant's token parameter (`code`, `refresh_token`, `subject_token`): its
/// value, or only the fact that it was longer than any valid one
/// ([`crate::http::max_grant_token_len`]). The grant refuses `TooLong` with
/// `invalid_grant` where it would refuse an unknown token (SPEC: Bad input).
pub enum GrantToken {
    Value(String),
    TooLong,
}

impl GrantToken {
    fn parse(field: &str, value: String) -> GrantToken {
        match crate::http::max_grant_token_len(field) {
            Some(max) if value.len() > max => GrantToken::TooLong,
            _ => GrantToken::Value(value),
        }
    }

    /// The value, if it can be a valid one.
    pub fn value(&self) -> Option<&str> {
        match self {
            GrantToken::Value(v) => Some(v),
            GrantToken::TooLong => None,
        }
    }
}

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
    TokenExchange(exchange::ExchangeRequest),
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
            Some(crate::domain::token_exchange::GRANT_TYPE) => {
                Ok(TokenRequest::TokenExchange(exchange::ExchangeRequest {
                    subject_token: token("subject_token")?,
                    subject_token_type: req("subject_token_type")?,
                    actor_token: opt("actor_token"),
                    actor_token_type: opt("actor_token_type"),
                    requested_token_type: opt("requested_token_type"),
                    scope: opt("scope"),
                    audience: opt("audience"),
                    resource: opt("resource"),
                }))
            }
            Some(other) => Err(OAuthError::new(
                crate::error::ErrorCode::UnsupportedGrantType,
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
        return crate::http::not_found_json();
    };
    if req.method() == Method::OPTIONS {
        return cors::preflight(state, &tenant, &req, "POST").await;
    }
    if req.method() != Method::POST {
        return crate::http::method_not_allowed("POST");
    }
    let outcome = match token(state, &tenant, &req, endpoint, state.now()).await {
        Ok(o) => o,
        Err(e) => TokenOutcome::Refused(e),
    };
    let origin = cors::allowed_for_request(state, &tenant, &req).await;
    crate::respond::with_cors(crate::respond::token(outcome), origin.as_deref())
}

async fn token(
    state: &AppState,
    tenant_id: &TenantId,
    req: &Request,
    endpoint: Endpoint,
    now: Now,
) -> Result<TokenOutcome, OAuthError> {
    let p = form_params(req)?;
    let Some(tenant) = state.tenant(tenant_id).await? else {
        return Ok(TokenOutcome::NoSuchTenant);
    };
    let grant = TokenRequest::parse(&p)?;
    if endpoint == Endpoint::Refresh && !matches!(grant, TokenRequest::RefreshToken { .. }) {
        return Err(OAuthError::new(
            crate::error::ErrorCode::UnsupportedGrantType,
            "this endpoint accepts grant_type=refresh_token only",
        ));
    }
    // Every grant signs: load the tenant's key while the client is authenticated.
    let (client, signer) = tokio::join!(
        client_auth::authenticate(state, tenant_id, req, &p),
        state.signer(&tenant)
    );
    let client = client?;
    // No grant writes anything before its tokens are signed; an unavailable
    // key fails the request here, before any state changes.
    signer.map_err(|e| e.with_basic(client.basic))?;
    let span = tracing::info_span!(
        "token",
        tenant = %tenant_id,
        client_id = %client.client.client_id,
        grant_type = grant.grant_type()
    );
    let _guard = span.enter();
    let ctx = GrantCtx {
        state,
        tenant: &tenant,
        client: &client,
        issuer: state.urls().await?.issuer(tenant_id),
        source: crate::http::source(req),
        now,
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
        } => refresh::grant(&ctx, refresh_token.value(), scope.as_deref()).await,
        TokenRequest::TokenExchange(r) => exchange::grant(&ctx, r).await,
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

/// What every grant gets.
pub struct GrantCtx<'a> {
    pub state: &'a AppState,
    pub tenant: &'a Tenant,
    pub client: &'a Authenticated,
    pub issuer: String,
    /// The caller's address (the password grant's guess throttle).
    pub source: Source,
    pub now: Now,
}

impl GrantCtx<'_> {
    /// Mints this grant's tokens.
    pub fn issuer(&self) -> Issuer<'_> {
        Issuer {
            state: self.state,
            tenant: self.tenant,
            client: &self.client.client,
            issuer: &self.issuer,
            now: self.now,
        }
    }
}
