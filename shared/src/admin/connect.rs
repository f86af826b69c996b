//! `provider connect` (SPEC: Upstream providers — Service connections): the
//! tenant's service connection to a provider used with the password grant
//! (Profix, B2C ROPC "for technical accounts and daemons", oauth2) or the
//! client credentials grant. The operator gives the upstream username and
//! password once on stdin; they go to the provider in one call and are never
//! stored, logged or printed. The provider's answer is judged by the engine,
//! sealed under the tenant's vault and stored as the connection of owner
//! [`Owner::Service`] (a fresh grant: a new generation, status active).
//!
//! A Profix `RequireChangePassword` answer is reported; with
//! `--change-password` (three lines: username, current password, new
//! password) the provider's ChangePassword step is taken with the `userid`
//! the first answer gave, then the password grant again with the new
//! password. No message here carries upstream text, except a ChangePassword
//! refusal's message, made one bounded printable line by the engine.

use super::*;
use crate::audit::{self, UpstreamEvent};
use crate::clock::Now;
use crate::domain::connections::{ConnectionKey, Owner};
use crate::domain::outbound::OutboundPolicy;
use crate::domain::providers::engine::{
    self, Call, CallError, PasswordChange, Refusal, TokenAnswer, UpstreamClient,
};
use crate::domain::providers::{Provider, UpstreamGrant};
use crate::ids::ProviderName;
use crate::ports::{ConnectionStore, ProviderStore, SecretSource, UpstreamHttp};
use crate::store::upstream_http::ReqwestUpstream;
use crate::tokens::upstream::new_connection;
use crate::tokens::vault::{Vault, VaultKeys};
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;

/// The longest upstream username and password accepted on stdin.
pub const MAX_USERNAME: usize = 256;
pub const MAX_PASSWORD: usize = 1024;

/// The upstream account's credentials, read once from stdin and dropped (and
/// zeroed) when the command ends. No `Debug`.
pub struct UpstreamLogin {
    pub username: Zeroizing<String>,
    pub password: SecretString,
    /// `--change-password`: the new password for the ChangePassword step.
    pub new_password: Option<SecretString>,
}

impl UpstreamLogin {
    /// From stdin: the username and the password on two lines, and with
    /// `change` the new password on a third. No message repeats a value.
    pub fn from_lines(input: &str, change: bool) -> Result<UpstreamLogin, AdminError> {
        let want = if change {
            "three lines on stdin: the upstream username, its current password and the new password"
        } else {
            "two lines on stdin: the upstream username and password"
        };
        let lines: Vec<&str> = input.lines().collect();
        let (user, pass, new) = match (change, lines.as_slice()) {
            (false, [u, p]) => (*u, *p, None),
            (true, [u, p, n]) => (*u, *p, Some(*n)),
            _ => return fail(format!("provider connect expects {want}")),
        };
        let ok = |s: &str, max: usize| !s.is_empty() && s.len() <= max && one_line(s);
        if !ok(user, MAX_USERNAME) || user.trim() != user {
            return fail(format!(
                "the upstream username must be 1 to {MAX_USERNAME} printable characters without surrounding spaces"
            ));
        }
        if !ok(pass, MAX_PASSWORD) || new.is_some_and(|n| !ok(n, MAX_PASSWORD)) {
            return fail(format!(
                "an upstream password must be 1 to {MAX_PASSWORD} characters on one line"
            ));
        }
        if new == Some(pass) {
            return fail("the new upstream password must differ from the current one");
        }
        Ok(UpstreamLogin {
            username: Zeroizing::new(user.to_owned()),
            password: SecretString::from(pass.to_owned()),
            new_password: new.map(|n| SecretString::from(n.to_owned())),
        })
    }
}

/// What connecting needs, as ports: the admin wires the real adapters, the
/// unit tests the fakes.
pub(crate) struct ConnectCtx<'a> {
    pub provider: &'a Provider,
    pub client_secret: Option<&'a SecretString>,
    pub upstream: &'a dyn UpstreamHttp,
    pub connections: &'a dyn ConnectionStore,
    pub vault: &'a Vault,
    pub now: Now,
}

const MUST_CHANGE: &str = "the upstream account must change its password first: run `provider connect` again with --change-password and three lines on stdin (username, current password, new password)";

/// A browser-connected provider is not for `provider connect`.
fn refuse_code_grant(p: &Provider) -> Result<(), AdminError> {
    if p.grant == UpstreamGrant::AuthorizationCode {
        return fail(format!(
            "provider {} uses the authorization code grant: users connect it in the browser (authorize with upstream={}); provider connect is for password and client_credentials providers",
            p.name, p.name
        ));
    }
    Ok(())
}

fn transient(p: &Provider, class: &str, retry_after: Option<u64>) -> AdminError {
    let what = match class {
        "redirected" => "its endpoint answered with a redirect, which is never followed",
        "rate_limited" => "rate limited",
        "server_error" => "server error",
        "malformed_answer" => "the answer was not a usable token response",
        "unsupported_token_type" => "the token is not a Bearer token",
        "refused" | "client_error" => "the call was refused (check the client id and secret)",
        other => other,
    };
    let retry = retry_after
        .map(|s| format!(", retry after {s} s"))
        .unwrap_or_default();
    AdminError(format!(
        "{} did not connect ({what}{retry}); nothing was stored",
        p.name
    ))
}

fn refusal(p: &Provider, r: Refusal) -> AdminError {
    match r {
        Refusal::Dead { reason } => AdminError(format!(
            "{} refused the {} grant ({reason}): check the upstream credentials and the client registration; nothing was stored",
            p.name,
            p.grant.as_str()
        )),
        Refusal::Transient { class, retry_after } => transient(p, class, retry_after),
        Refusal::PasswordChangeRequired { .. } => AdminError(MUST_CHANGE.to_owned()),
    }
}

fn call_error(p: &Provider, e: CallError) -> AdminError {
    match e {
        CallError::NotSent(why) => AdminError(format!("cannot reach {}: {why}", p.name)),
        CallError::Lost(why) => AdminError(format!(
            "no answer from {} ({why}); nothing was stored",
            p.name
        )),
    }
}

/// One token call, judged: the transport failure is the command's error, the
/// provider's refusal is the caller's to read.
async fn token_call(
    ctx: &ConnectCtx<'_>,
    call: &Call,
) -> Result<Result<TokenAnswer, Refusal>, AdminError> {
    let answer = ctx
        .upstream
        .post(call)
        .await
        .map_err(|e| call_error(ctx.provider, e))?;
    Ok(engine::read_token_answer(ctx.provider.quirks(), &answer))
}

/// The password grant, through the ChangePassword step when the provider
/// asks for it and the operator gave a new password. `Some(changed)` when a
/// change was asked for.
async fn password_grant(
    ctx: &ConnectCtx<'_>,
    client: &UpstreamClient<'_>,
    l: &UpstreamLogin,
) -> Result<(TokenAnswer, Option<bool>), AdminError> {
    let p = ctx.provider;
    let first = token_call(
        ctx,
        &engine::password_call(p, client, &l.username, &l.password),
    )
    .await?;
    let (user_id, new) = match (first, &l.new_password) {
        (Ok(a), new) => return Ok((a, new.as_ref().map(|_| false))),
        (Err(Refusal::PasswordChangeRequired { .. }), None) => return fail(MUST_CHANGE),
        (Err(Refusal::PasswordChangeRequired { user_id }), Some(new)) => (user_id, new),
        (Err(r), _) => return Err(refusal(p, r)),
    };
    let Some(user_id) = user_id else {
        return fail(format!(
            "{} asked for a password change but gave no usable userid; nothing was changed",
            p.name
        ));
    };
    let Some(call) = engine::password_change_call(p, client, &user_id, &l.password, new) else {
        return fail(format!(
            "{} asked for a password change but has no ChangePassword endpoint (provider add --password-change-url)",
            p.name
        ));
    };
    let answer = ctx.upstream.post(&call).await.map_err(|e| match e {
        CallError::Lost(why) => AdminError(format!(
            "no answer from {}'s ChangePassword ({why}): the password may or may not have changed; try the new one without --change-password",
            p.name
        )),
        e => call_error(p, e),
    })?;
    match engine::read_password_change_answer(&answer) {
        PasswordChange::Changed => {}
        PasswordChange::Refused { message } => {
            return fail(format!("{} refused the password change: {message}", p.name));
        }
        PasswordChange::Transient { class, retry_after } => {
            return Err(transient(p, class, retry_after));
        }
    }
    match token_call(ctx, &engine::password_call(p, client, &l.username, new)).await {
        Ok(Ok(a)) => Ok((a, Some(true))),
        Ok(Err(r)) => Err(AdminError(format!(
            "the upstream password was changed, but the grant with the new one failed: {}; run provider connect again with the new password",
            refusal(p, r)
        ))),
        Err(e) => Err(AdminError(format!(
            "the upstream password was changed, but {e}; run provider connect again with the new password"
        ))),
    }
}

/// Calls the provider, seals its answer and stores it as the tenant's
/// service connection (replacing any earlier one).
pub(crate) async fn connect_service(
    ctx: &ConnectCtx<'_>,
    login: Option<&UpstreamLogin>,
) -> Result<Value, AdminError> {
    let p = ctx.provider;
    refuse_code_grant(p)?;
    let client = UpstreamClient {
        id: &p.client_id,
        secret: ctx.client_secret,
    };
    let (answer, changed) = match (p.grant, login) {
        (UpstreamGrant::Password, Some(l)) => password_grant(ctx, &client, l).await?,
        (UpstreamGrant::Password, None) => {
            return fail("a password provider needs the upstream username and password on stdin");
        }
        (_, Some(_)) => {
            return fail(format!(
                "provider {} uses the client_credentials grant: it takes no username or password",
                p.name
            ));
        }
        (_, None) => {
            let first = token_call(ctx, &engine::client_credentials_call(p, &client)).await?;
            (first.map_err(|r| refusal(p, r))?, None)
        }
    };
    let provider = ProviderName::parse(&p.name)
        .map_err(|e| AdminError(format!("provider name {:?}: {e}", p.name)))?;
    let key = ConnectionKey {
        tenant: p.tenant.clone(),
        owner: Owner::Service,
        provider,
    };
    let new = new_connection(ctx.vault, key, p.quirks(), &answer, None, ctx.now)
        .map_err(|e| AdminError(format!("cannot seal the tokens: {e}")))?;
    let stored = ctx.connections.connect(&new, ctx.now).await?;
    audit::upstream(
        UpstreamEvent::Connected,
        &p.tenant,
        &p.name,
        Owner::Service.as_key(),
        p.grant.as_str(),
    );
    let mut out = json!({
        "tenant": p.tenant.as_str(),
        "provider": p.name,
        "status": stored.status.as_str(),
        "expires_in": answer.expires_in,
        "scope": stored.scope,
        "has_refresh_token": stored.refresh_token.is_some(),
        "replaced": stored.generation > 1,
    });
    if let Some(c) = changed {
        out["password_changed"] = json!(c);
    }
    Ok(out)
}

impl Admin {
    /// `provider connect`: `read_login` is asked for the upstream credentials
    /// only for a password provider (the CLI reads stdin then; a
    /// client_credentials provider reads nothing), after the provider was
    /// found and before anything is called.
    pub async fn connect_provider(
        &self,
        alias: &str,
        name: &str,
        read_login: impl FnOnce(UpstreamGrant) -> Result<Option<UpstreamLogin>, AdminError>,
    ) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let p = match crate::domain::providers::check_name(name) {
            Ok(()) => ProviderStore::provider(&self.db, &tenant, name).await?,
            Err(_) => None,
        };
        let Some(p) = p else {
            return fail(format!("unknown provider: {name}"));
        };
        refuse_code_grant(&p)?;
        let login = read_login(p.grant)?;
        let client_secret = if p.has_client_secret {
            let secret = self.config.upstream_secret_name(&tenant, name);
            match self.secrets.fetch(&secret).await? {
                Some(s) => Some(SecretString::from(s)),
                None => {
                    return fail(format!(
                        "the client secret of provider {name} is missing ({secret}): provider update --client-secret-stdin"
                    ));
                }
            }
        } else {
            None
        };
        // Tenants made before the vault get their key set here too (idempotent).
        self.ensure_vault_keys(&tenant).await?;
        let keys = self.config.vault_key_secret(&tenant);
        let raw = Zeroizing::new(
            self.secrets
                .fetch(&keys)
                .await?
                .ok_or_else(|| AdminError(format!("the vault key set {keys} is missing")))?,
        );
        let vault = VaultKeys::parse(&raw)
            .and_then(|k| k.vault())
            .map_err(|e| AdminError(format!("tenant {tenant}: {e}")))?;
        let upstream = ReqwestUpstream::new(OutboundPolicy::for_stack(&self.config));
        let ctx = ConnectCtx {
            provider: &p,
            client_secret: client_secret.as_ref(),
            upstream: &upstream,
            connections: &self.db,
            vault: &vault,
            now: Now::system(),
        };
        connect_service(&ctx, login.as_ref()).await
    }
}

#[cfg(test)]
mod tests;
