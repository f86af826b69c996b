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
    // Whether this replaces a connection (for the operator; connect itself
    // creates or replaces in one write).
    let replaced = ctx.connections.get(&new.key).await?.is_some();
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
        "replaced": replaced,
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
mod tests {
    // `provider connect` over the fakes (FakeUpstream, the fake connection
    // store): what is sent, what is stored (sealed, under the service owner),
    // what is printed, and every refusal stores nothing and echoes nothing.

    use super::*;
    use crate::domain::connections::{Connection, Field};
    use crate::domain::providers::{Overrides, Preset, resolve_endpoints};
    use crate::ids::TenantId;
    use crate::testing::fakes::{Fakes, Fault};
    use secrecy::ExposeSecret;
    use std::collections::BTreeMap;

    const SECRET: &str = "upstream-client-secret-!#";
    const USER: &str = "svc-account@acme";
    const PASS: &str = "current pass\u{e9}word";
    const NEW: &str = "the new passw0rd!";

    struct World {
        fakes: Fakes,
        vault: Vault,
        secret: SecretString,
    }

    impl World {
        fn new() -> World {
            World {
                fakes: Fakes::new(1_000),
                vault: VaultKeys::generate().vault().unwrap(),
                secret: SecretString::from(SECRET.to_owned()),
            }
        }

        async fn connect(
            &self,
            p: &Provider,
            login: Option<UpstreamLogin>,
        ) -> Result<Value, AdminError> {
            let ctx = ConnectCtx {
                provider: p,
                client_secret: p.has_client_secret.then_some(&self.secret),
                upstream: &*self.fakes.upstream,
                connections: &*self.fakes.store,
                vault: &self.vault,
                now: Now(1_000),
            };
            connect_service(&ctx, login.as_ref()).await
        }

        fn stored(&self, p: &Provider) -> Option<Connection> {
            self.fakes.store.connection_raw(&key(p))
        }

        fn access_token(&self, p: &Provider) -> String {
            let c = self.stored(p).expect("a stored connection");
            let at = c.access_token.expect("a cached access token");
            self.vault
                .open(&key(p), Field::AccessToken, &at.sealed)
                .unwrap()
                .expose_secret()
                .to_owned()
        }
    }

    fn key(p: &Provider) -> ConnectionKey {
        ConnectionKey {
            tenant: p.tenant.clone(),
            owner: Owner::Service,
            provider: ProviderName::parse(&p.name).unwrap(),
        }
    }

    fn provider(preset: Preset, grant: UpstreamGrant, secret: bool) -> Provider {
        let overrides = Overrides {
            authorize: Some("https://up.example.com/authorize".into()),
            token: Some("https://up.example.com/token".into()),
            ..Overrides::default()
        };
        let mut vars = BTreeMap::new();
        if preset == Preset::B2cRopc {
            vars.insert("tenant".to_owned(), "maxcp".to_owned());
            vars.insert("policy".to_owned(), "B2C_1_ROPC".to_owned());
        }
        let endpoints = resolve_endpoints(
            preset,
            grant,
            &vars,
            &overrides,
            None,
            OutboundPolicy::PUBLIC,
        )
        .unwrap();
        Provider {
            tenant: TenantId::parse("acme").unwrap(),
            name: "svc".into(),
            preset,
            vars,
            endpoints,
            client_id: "client-1".into(),
            has_client_secret: secret,
            scopes: vec![],
            grant,
            display_name: "Svc".into(),
            sign_in: false,
            create_users: false,
            created_at: 0,
        }
    }

    fn profix() -> Provider {
        provider(Preset::Profix, UpstreamGrant::Password, true)
    }

    fn login(change: bool) -> UpstreamLogin {
        let input = if change {
            format!("{USER}\n{PASS}\n{NEW}\n")
        } else {
            format!("{USER}\r\n{PASS}\r\n")
        };
        UpstreamLogin::from_lines(&input, change).unwrap()
    }

    /// Tollgate's own answer for a user who must change the password (SPEC:
    /// Token, password), which Profix's seed shows without a status.
    fn require_change() -> Fault {
        Fault::Answer(
            400,
            r#"{"error":"invalid_grant","error_description":"password change required","userid":"u_42","RequireChangePassword":true}"#.into(),
            None,
        )
    }

    /// Neither the credentials nor anything the upstream issued.
    fn assert_clean(text: &str) {
        for secret in [PASS, NEW, SECRET, "at-", "rt-"] {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }

    #[tokio::test]
    async fn a_client_credentials_connection_reads_nothing_and_stores_the_sealed_token() {
        let w = World::new();
        let p = provider(Preset::OAuth2, UpstreamGrant::ClientCredentials, true);
        let out = w.connect(&p, None).await.unwrap();
        assert_eq!(out["provider"], "svc");
        assert_eq!(out["status"], "active");
        assert_eq!(out["expires_in"], 600);
        assert_eq!(out["has_refresh_token"], false);
        assert_eq!(out["replaced"], false);
        assert!(out.get("password_changed").is_none());
        assert_clean(&out.to_string());
        let posts = w.fakes.upstream.posts();
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].url, "https://up.example.com/token");
        assert_eq!(posts[0].field("grant_type"), Some("client_credentials"));
        // oauth2: the client authenticates in the body.
        assert_eq!(posts[0].field("client_secret"), Some(SECRET));
        assert!(!posts[0].basic);
        let c = w.stored(&p).unwrap();
        assert_eq!(c.key.owner, Owner::Service);
        assert!(c.refresh_token.is_none());
        assert_eq!(c.access_token.as_ref().unwrap().expires_at, 1_600);
        assert!(w.access_token(&p).starts_with("at-"));
        // Credentials for a client_credentials provider are refused, unsent.
        let e = w.connect(&p, Some(login(false))).await.unwrap_err();
        assert!(e.0.contains("client_credentials"), "{e}");
        assert_eq!(w.fakes.upstream.posts().len(), 1);
        // Connecting again replaces the one service connection.
        let before = w.stored(&p).unwrap().generation;
        let again = w.connect(&p, None).await.unwrap();
        assert_eq!(again["replaced"], true);
        assert_eq!(w.stored(&p).unwrap().generation, before + 1);
    }

    #[tokio::test]
    async fn a_password_connection_sends_the_credentials_once_and_stores_both_tokens() {
        let w = World::new();
        let p = profix();
        let out = w.connect(&p, Some(login(false))).await.unwrap();
        assert_eq!(out["has_refresh_token"], true);
        assert_clean(&out.to_string());
        let posts = w.fakes.upstream.posts();
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].field("grant_type"), Some("password"));
        assert_eq!(posts[0].field("username"), Some(USER));
        assert_eq!(posts[0].field("password"), Some(PASS));
        assert_eq!(posts[0].field("client_id"), Some("client-1"));
        let c = w.stored(&p).unwrap();
        let rt = w
            .vault
            .open(
                &key(&p),
                Field::RefreshToken,
                c.refresh_token.as_ref().unwrap(),
            )
            .unwrap();
        assert_eq!(
            Some(rt.expose_secret().to_owned()),
            w.fakes.upstream.current_refresh_token()
        );
        // Nothing of the password is in the stored record.
        assert!(!format!("{c:?}").contains(PASS));
        // Without credentials a password provider refuses, unsent.
        let e = w.connect(&p, None).await.unwrap_err();
        assert!(e.0.contains("stdin"), "{e}");
        assert_eq!(w.fakes.upstream.posts().len(), 1);
    }

    #[tokio::test]
    async fn an_authorization_code_provider_is_refused_without_a_call() {
        let w = World::new();
        let p = provider(Preset::OAuth2, UpstreamGrant::AuthorizationCode, true);
        for l in [None, Some(login(false))] {
            let e = w.connect(&p, l).await.unwrap_err();
            assert!(e.0.contains("browser"), "{e}");
        }
        assert!(w.fakes.upstream.posts().is_empty());
        assert!(w.stored(&p).is_none());
    }

    #[tokio::test]
    async fn require_change_password_is_reported_and_nothing_is_stored() {
        let w = World::new();
        let p = profix();
        w.fakes.upstream.push_fault(require_change());
        let e = w.connect(&p, Some(login(false))).await.unwrap_err();
        assert!(e.0.contains("must change its password"), "{e}");
        assert!(e.0.contains("--change-password"), "{e}");
        assert_clean(&e.0);
        assert_eq!(w.fakes.upstream.posts().len(), 1);
        assert!(w.stored(&p).is_none());
    }

    #[tokio::test]
    async fn change_password_takes_the_step_with_the_upstream_userid_then_connects() {
        let w = World::new();
        let p = profix();
        w.fakes.upstream.push_fault(require_change());
        w.fakes.upstream.push_fault(Fault::Answer(
            200,
            r#"{"success": true, "message": "You can now login"}"#.into(),
            None,
        ));
        let out = w.connect(&p, Some(login(true))).await.unwrap();
        assert_eq!(out["password_changed"], true);
        assert_eq!(out["has_refresh_token"], true);
        assert_clean(&out.to_string());
        let posts = w.fakes.upstream.posts();
        assert_eq!(posts.len(), 3, "{posts:?}");
        assert_eq!(posts[0].field("password"), Some(PASS));
        assert_eq!(posts[1].url, "https://up.example.com/token/ChangePassword");
        assert_eq!(posts[1].field("userid"), Some("u_42"));
        assert_eq!(posts[1].field("password"), Some(PASS));
        assert_eq!(posts[1].field("newpassword"), Some(NEW));
        assert_eq!(posts[1].field("client_secret"), Some(SECRET));
        assert_eq!(posts[2].field("grant_type"), Some("password"));
        assert_eq!(posts[2].field("password"), Some(NEW));
        assert!(w.stored(&p).is_some());
    }

    #[tokio::test]
    async fn change_password_when_none_was_asked_connects_and_says_so() {
        let w = World::new();
        let p = profix();
        let out = w.connect(&p, Some(login(true))).await.unwrap();
        assert_eq!(out["password_changed"], false);
        assert_eq!(w.fakes.upstream.posts().len(), 1);
        assert!(w.stored(&p).is_some());
    }

    #[tokio::test]
    async fn a_refused_password_change_reports_a_bounded_message_and_stores_nothing() {
        let w = World::new();
        let p = profix();
        w.fakes.upstream.push_fault(require_change());
        let message = format!("Password\ntoo\u{202e} weak {}", "x".repeat(1000));
        w.fakes.upstream.push_fault(Fault::Answer(
            400,
            serde_json::json!({"success": false, "message": message}).to_string(),
            None,
        ));
        let e = w.connect(&p, Some(login(true))).await.unwrap_err();
        assert!(
            e.0.contains("refused the password change: Password too weak x"),
            "{e}"
        );
        assert!(!e.0.contains('\n') && !e.0.contains('\u{202e}'), "{e:?}");
        assert!(e.0.len() < 500, "unbounded: {}", e.0.len());
        assert_clean(&e.0);
        assert_eq!(
            w.fakes.upstream.posts().len(),
            2,
            "no grant after a refusal"
        );
        assert!(w.stored(&p).is_none());
        // A ChangePassword that answers HTML is no success either.
        w.fakes.upstream.push_fault(require_change());
        w.fakes
            .upstream
            .push_fault(Fault::Answer(500, "<html>oops</html>".into(), None));
        let e = w.connect(&p, Some(login(true))).await.unwrap_err();
        assert!(e.0.contains("server error") && !e.0.contains("oops"), "{e}");
        assert!(w.stored(&p).is_none());
    }

    #[tokio::test]
    async fn dead_and_transient_refusals_exit_with_one_clean_line_and_store_nothing() {
        let w = World::new();
        let p = profix();
        let cases: Vec<(Fault, &str)> = vec![
            (
                Fault::Answer(
                    400,
                    r#"{"error":"invalid_grant","error_description":"bad password rt-9"}"#.into(),
                    None,
                ),
                "refused the password grant (invalid_grant)",
            ),
            (
                Fault::Answer(
                    500,
                    "<html><body>at-secret stack trace</body></html>".into(),
                    Some(30),
                ),
                "server error, retry after 30 s",
            ),
            (
                Fault::Answer(429, "slow down".into(), Some(12)),
                "rate limited, retry after 12 s",
            ),
            (
                Fault::Answer(302, String::new(), None),
                "redirect, which is never followed",
            ),
            (
                Fault::Answer(401, r#"{"error":"invalid_client"}"#.into(), None),
                "check the client id and secret",
            ),
            (Fault::LoseAnswerAfterRotating, "no answer from svc"),
            (Fault::NotSent, "cannot reach svc"),
        ];
        for (fault, needle) in cases {
            w.fakes.upstream.push_fault(fault.clone());
            let e = w.connect(&p, Some(login(false))).await.unwrap_err();
            assert!(e.0.contains(needle), "{fault:?}: {e}");
            assert!(!e.0.contains('\n'), "{e:?}");
            assert!(
                !e.0.contains("stack trace") && !e.0.contains("bad password"),
                "{e}"
            );
            assert_clean(&e.0);
            assert!(w.stored(&p).is_none(), "{fault:?} stored a connection");
        }
    }

    #[tokio::test]
    async fn expires_in_as_a_string_or_missing_is_stored_sensibly() {
        let w = World::new();
        let p = provider(Preset::OAuth2, UpstreamGrant::Password, false);
        w.fakes
            .upstream
            .set_expires_in(Some(serde_json::json!("3600")));
        let out = w.connect(&p, Some(login(false))).await.unwrap();
        assert_eq!(out["expires_in"], 3600);
        assert_eq!(
            w.stored(&p).unwrap().access_token.unwrap().expires_at,
            4_600
        );
        // A public client sends its client_id only.
        assert_eq!(w.fakes.upstream.posts()[0].field("client_secret"), None);
        w.fakes
            .upstream
            .set_expires_in(Some(serde_json::Value::Null));
        let out = w.connect(&p, Some(login(false))).await.unwrap();
        // oauth2's default.
        assert_eq!(out["expires_in"], 3600);
        let b2c = provider(Preset::B2cRopc, UpstreamGrant::Password, false);
        w.fakes
            .upstream
            .set_expires_in(Some(serde_json::json!("12")));
        let out = w.connect(&b2c, Some(login(false))).await.unwrap();
        assert_eq!(out["expires_in"], 12);
    }

    #[test]
    fn stdin_must_hold_exactly_the_lines_asked_for() {
        for (input, change) in [
            ("", false),
            ("user\n", false),
            ("user\npass\nextra\n", false),
            ("user\npass\n", true),
            ("\npass\n", false),
            (" user\npass\n", false),
            ("user\n\n", false),
            ("user\nsame\nsame\n", true),
            ("user\np\u{7}ss\n", false),
        ] {
            let e = match UpstreamLogin::from_lines(input, change) {
                Err(e) => e,
                Ok(_) => panic!("{input:?} accepted"),
            };
            assert!(!e.0.contains("pass") || e.0.contains("password"), "{e}");
            assert!(!e.0.contains("same") && !e.0.contains("extra"), "{e}");
        }
        let l = UpstreamLogin::from_lines("u\np\nq", true).unwrap();
        assert_eq!(l.username.as_str(), "u");
        assert_eq!(l.new_password.unwrap().expose_secret(), "q");
        let long = format!("u\n{}\n", "p".repeat(MAX_PASSWORD + 1));
        assert!(UpstreamLogin::from_lines(&long, false).is_err());
    }
}
