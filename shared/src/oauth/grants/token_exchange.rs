//! grant_type=urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693;
//! SPEC: Token → token exchange, Trusted issuers). A confidential client
//! registered for `token_exchange` swaps a subject token — an active access
//! token of this tenant, or a JWT from an issuer the tenant trusts — for a new
//! access token of this tenant: never more scope than the subject had (or than
//! the client's scopes, for an external subject), the one audience asked for
//! or else the subject's own (an exchange never widens a token), never past a
//! local subject's own expiry, `act` naming the actor when an actor token is
//! sent, and no refresh token.
//!
//! The new token belongs to a session, like every user token: a local
//! subject's (its `sid`: revoking that session, or a password change, ends the
//! exchanged token too), or, for an external subject, a new one.

use super::{GrantCtx, GrantToken};
use crate::crypto::random_token;
use crate::domain::records::{Grant, TrustedIssuer, User};
use crate::domain::scope;
use crate::domain::token_exchange::{self as rules, TokenKind};
use crate::ids::UserId;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::outcome::{ExchangedToken, TokenOutcome};
use crate::oauth::token_state::{self, Viewer};
use crate::ports::StoreError;
use crate::tokens::jwt::{AccessToken, Exchange};
use crate::tokens::trusted_issuers::{self, Unverified};
use serde_json::Value;

/// The token exchange request (RFC 8693 §2.1). Carries tokens: no `Debug`.
pub struct ExchangeRequest {
    pub subject_token: GrantToken,
    pub subject_token_type: String,
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
}

/// Who the new token is for, and what bounds it.
struct Subject {
    user: User,
    /// The session the new token joins (`None`: start one).
    sid: Option<String>,
    /// The most scope the new token may carry.
    ceiling: Vec<String>,
    /// A local subject's `aud`, which the new token keeps when no audience is
    /// asked for (`None`, an external subject: the tenant's audiences).
    aud: Option<Value>,
    /// A local subject's effective expiry.
    exp: Option<u64>,
    /// The subject token's own `act` (a delegation chain to keep).
    prior_act: Option<Value>,
    /// Under sliding expiry, the subject's cap (the new token never slides past it).
    sliding_cap: Option<u64>,
    /// For the audit line: the subject token's issuer and subject.
    issuer: String,
    sub: String,
}

fn invalid(d: &str) -> OAuthError {
    OAuthError::invalid_request(d)
}

#[tracing::instrument(name = "token_exchange", skip_all)]
pub async fn grant(ctx: &GrantCtx<'_>, r: ExchangeRequest) -> Result<TokenOutcome, OAuthError> {
    // `audience={provider}`: an upstream token from the vault.
    if super::upstream_token::is_provider_audience(r.audience.as_deref()) {
        return super::upstream_token::grant(ctx, r).await;
    }
    let client = &ctx.client.client;
    if client.public {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use token exchange",
        ));
    }
    if !client.has_grant(Grant::TokenExchange) {
        return Err(OAuthError::unauthorized_client(
            "client is not registered for token_exchange",
        ));
    }
    if r.requested_token_type
        .as_deref()
        .is_some_and(|t| t != rules::ACCESS_TOKEN_TYPE)
    {
        return Err(invalid(
            "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    let audience = target(ctx, r.audience.as_deref(), r.resource.as_deref())?;
    let requested = r
        .scope
        .as_deref()
        .map(|s| scope::parse(s).map_err(|_| OAuthError::invalid_scope("malformed scope")))
        .transpose()?;
    let kind = TokenKind::parse(&r.subject_token_type)
        .ok_or_else(|| invalid("unsupported subject_token_type"))?;
    match (&r.actor_token, &r.actor_token_type) {
        (Some(_), Some(t)) if t == rules::ACCESS_TOKEN_TYPE => {}
        (Some(_), Some(_)) => {
            return Err(invalid(
                "actor_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
        (Some(_), None) => return Err(invalid("actor_token_type is required with actor_token")),
        (None, Some(_)) => return Err(invalid("actor_token_type without actor_token")),
        (None, None) => {}
    }

    // Longer than any valid token: no grant at all (SPEC: Bad input).
    let raw = r
        .subject_token
        .value()
        .ok_or_else(|| OAuthError::invalid_grant("subject_token is too long to be valid"))?;
    let subject = match kind {
        TokenKind::Local => local_subject(ctx, raw).await?,
        TokenKind::ExternalJwt | TokenKind::ExternalIdToken => {
            external_subject(ctx, raw, kind).await?
        }
    };
    let granted =
        rules::exchanged_scope(requested.as_deref(), &subject.ceiling).map_err(|bad| {
            OAuthError::invalid_scope(format!("scope exceeds the subject token's: {bad}"))
        })?;
    let act = match &r.actor_token {
        None => subject.prior_act.clone(),
        Some(raw) => {
            let actor = active_local(ctx, raw)
                .await?
                .ok_or_else(|| invalid("actor_token is invalid or inactive"))?;
            // The actor is the caller: a token issued to this client (its own
            // client_credentials token, or a user's token it holds as that
            // user's app). Another party's token cannot be named as actor.
            if actor.token.client_id != client.client_id {
                return Err(invalid("actor_token was not issued to this client"));
            }
            let act = rules::act_claim(
                &actor.token.sub,
                actor.token.client_id.as_str(),
                subject.prior_act.as_ref(),
            );
            if rules::act_depth(Some(&act)) > rules::MAX_ACT_DEPTH {
                return Err(invalid("delegation chain too long"));
            }
            Some(act)
        }
    };
    let lifetime = rules::lifetime(ctx.tenant.access_token_ttl, subject.exp, ctx.now.secs());
    if lifetime == 0 {
        return Err(invalid("subject_token is invalid or inactive"));
    }
    let sid = match subject.sid.clone() {
        Some(sid) => sid,
        None => {
            let family = ctx
                .minter()
                .family(&subject.user, random_token(16), None, None);
            ctx.state.refresh_tokens().start_family(&family).await?;
            family.family_id
        }
    };
    let granted = scope::join(&granted);
    let aud = rules::exchanged_audience(audience.as_deref(), subject.aud.as_ref());
    let signer = ctx.state.signer(ctx.tenant).await?;
    let access_token = AccessToken {
        issuer: &ctx.issuer,
        tenant: ctx.tenant,
        client_id: &client.client_id,
        scope: &granted,
        user: Some(&subject.user),
        auth_time: None,
        sid: Some(&sid),
        exchange: Exchange {
            lifetime: Some(lifetime),
            audience: aud.as_ref(),
            act: act.as_ref(),
            sliding_cap: subject.sliding_cap,
        },
    }
    .sign(&signer, ctx.now)?;
    crate::audit::token_exchanged(
        &ctx.tenant.id,
        crate::audit::ExchangeRecord {
            client: &client.client_id,
            user: &subject.user.user_id,
            subject_issuer: &subject.issuer,
            subject: &subject.sub,
            actor: act
                .as_ref()
                .and_then(|a| a.get("sub"))
                .and_then(Value::as_str),
            audience: audience.as_deref(),
            scope: &granted,
        },
    );
    Ok(TokenOutcome::Exchanged(ExchangedToken {
        access_token,
        expires_in: lifetime,
        scope: granted,
    }))
}

/// The one audience asked for (`audience`, or `resource`, RFC 8693 §2.1),
/// which must be one of the tenant's; `None` when none is asked for.
fn target(
    ctx: &GrantCtx<'_>,
    audience: Option<&str>,
    resource: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let wanted = match (audience, resource) {
        (Some(a), Some(r)) if a != r => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "audience and resource name different targets",
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return Ok(None),
    };
    if ctx.tenant.audiences.iter().any(|a| a == wanted) {
        Ok(Some(wanted.to_owned()))
    } else {
        Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "audience is not one of this tenant's",
        ))
    }
}

/// An access token of this tenant if it is active, judged as at
/// introspection (an exchange is no use of it: no sliding write).
async fn active_local(
    ctx: &GrantCtx<'_>,
    raw: &str,
) -> Result<Option<token_state::ActiveAccess>, OAuthError> {
    token_state::access_token(
        ctx.state,
        ctx.tenant,
        &ctx.issuer,
        raw,
        ctx.now,
        |_| false,
        Viewer::Any,
    )
    .await
}

/// An access token of this tenant, active as at introspection, of a user.
async fn local_subject(ctx: &GrantCtx<'_>, raw: &str) -> Result<Subject, OAuthError> {
    let active = active_local(ctx, raw)
        .await?
        .ok_or_else(|| invalid("subject_token is invalid or inactive"))?;
    let user = active
        .user
        .ok_or_else(|| invalid("subject_token does not represent a user"))?;
    let ceiling = scope::parse(&active.token.scope).unwrap_or_default();
    let aud = active
        .token
        .claims
        .get("aud")
        .filter(|a| rules::is_audience(a))
        .cloned()
        .ok_or_else(|| invalid("subject_token has no usable aud"))?;
    let sliding_cap = ctx.tenant.sliding_max.map(|max| {
        rules::sliding_cap(
            active.token.iat,
            max,
            active
                .token
                .claims
                .get(rules::SLIDING_CAP_CLAIM)
                .and_then(Value::as_u64),
        )
    });
    Ok(Subject {
        sliding_cap,
        sub: active.token.sub.clone(),
        issuer: ctx.issuer.clone(),
        sid: active.token.sid.clone(),
        ceiling,
        aud: Some(aud),
        exp: Some(active.exp),
        prior_act: active.token.claims.get("act").cloned(),
        user,
    })
}

/// A JWT from an issuer the tenant trusts, verified, mapped to a local user
/// by its link (or made one, with `--create-users`).
async fn external_subject(
    ctx: &GrantCtx<'_>,
    raw: &str,
    kind: TokenKind,
) -> Result<Subject, OAuthError> {
    let token =
        Unverified::parse(raw).ok_or_else(|| invalid("subject_token is not a well-formed JWT"))?;
    let claimed = token
        .claimed_issuer()
        .filter(|i| !i.is_empty() && i.len() <= 512)
        .ok_or_else(|| invalid("subject_token has no usable iss"))?
        .to_owned();
    // This tenant's own tokens are judged as such (revocation, sessions,
    // sliding expiry), never as an external JWT, even if someone trusted it.
    if claimed == ctx.issuer {
        return Err(invalid(
            "this tenant's own tokens use subject_token_type urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    let issuer = ctx
        .state
        .trusted_issuer(&ctx.tenant.id, &claimed)
        .await?
        .ok_or_else(|| invalid("subject_token issuer is not trusted by this tenant"))?;
    let claims = trusted_issuers::verify(
        token,
        kind,
        &issuer,
        ctx.state.issuer_keys(),
        ctx.state.fetcher(),
        ctx.now.secs(),
    )
    .await
    .map_err(|r| {
        tracing::info!(issuer = %issuer.issuer, reason = ?r, "external subject_token refused");
        invalid(r.describe())
    })?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let user = linked_user(ctx, &issuer, &sub, &claims).await?;
    Ok(Subject {
        user,
        sid: None,
        ceiling: ctx.client.client.scopes.clone(),
        // Its `aud` names the issuer's audiences, not this tenant's.
        aud: None,
        exp: None,
        prior_act: None,
        sliding_cap: None,
        issuer: issuer.issuer.clone(),
        sub,
    })
}

async fn linked_user(
    ctx: &GrantCtx<'_>,
    issuer: &TrustedIssuer,
    sub: &str,
    claims: &serde_json::Map<String, Value>,
) -> Result<User, OAuthError> {
    let fed = ctx.state.federation();
    let tenant = &ctx.tenant.id;
    let mut attempt = 0u64;
    let id = loop {
        match fed.linked_user(tenant, &issuer.issuer, sub).await? {
            Some(id) => break id,
            None if !issuer.create_users => {
                return Err(invalid("subject is not linked to a user of this tenant"));
            }
            None => {}
        }
        // A client's own token (client_credentials: `sub` is its client id)
        // names a machine, not a person: it may be linked, never made a user.
        if claims.get("client_id").and_then(Value::as_str) == Some(sub) {
            return Err(invalid(
                "a client's own token is not linked to a user (link it with `user link`)",
            ));
        }
        let user = new_user(ctx, issuer, sub, claims);
        match fed.create_linked_user(&user, &issuer.issuer, sub).await {
            Ok(()) => return Ok(user),
            // A concurrent first exchange is making (or made) the link: read
            // it again, a little later, and use its user.
            Err(StoreError::AlreadyExists) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(40 * attempt)).await;
            }
            Err(StoreError::AlreadyExists) => {
                return Err(invalid(
                    "a user for this subject cannot be created (its username is taken)",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    };
    ctx.state
        .users()
        .user(tenant, &id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| invalid("subject is not linked to an enabled user of this tenant"))
}

/// A just-in-time user for an external subject: name and (verified) email
/// copied from the token, no password (it can never sign in with one), username
/// `{sub}@{issuer host}`.
fn new_user(
    ctx: &GrantCtx<'_>,
    issuer: &TrustedIssuer,
    sub: &str,
    claims: &serde_json::Map<String, Value>,
) -> User {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= 256 && !v.chars().any(char::is_control))
            .map(str::to_owned)
    };
    let host = url::Url::parse(&issuer.issuer)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_owned(), |p| format!("{h}:{p}"))
            })
        })
        .unwrap_or_else(|| "external".to_owned());
    let mut username = format!("{sub}@{host}");
    if username.len() > 256 {
        username = format!("{}@{host}", crate::crypto::token_hash(sub));
    }
    User {
        tenant: ctx.tenant.id.clone(),
        user_id: UserId::generate(),
        username,
        password_hash: String::new(),
        // Only an address the issuer verified: an unverified one would let
        // anyone at the issuer claim someone else's address here.
        email: text("email").filter(|_| claims.get("email_verified") == Some(&Value::Bool(true))),
        name: text("name"),
        attrs: Default::default(),
        require_password_change: false,
        pwd_version: 0,
        enabled: true,
        created_at: ctx.now.secs(),
    }
}
