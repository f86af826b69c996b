//! Provisioning, as used by `tollgate-admin`: every operation validates all of
//! its input before it writes anything, and undoes its own first write if the
//! second fails, so nothing is left half-written.

use crate::clock::Now;
use crate::config::{Config, Function};
use crate::crypto::{client_secret_hash, hash_password, random_alphanumeric, random_token};
use crate::domain::branding::{self, Branding, Logo, Rgb};
use crate::domain::records::{
    Client, DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_REFRESH_TOKEN_TTL, Grant, KeyState, SigningAlg,
    Tenant, User,
};
use crate::domain::{redirect, scope};
use crate::ids::{ClientId, TenantId, UserId};
use crate::ports::SecretError;
use crate::ports::StoreError;
use crate::store::aws::Clients;
use crate::store::secrets_manager::SecretsManager;
use crate::store::{ClientChanges, Db, MapChange, TenantChanges, Updated};
use crate::tokens::keys::{self, KeySet};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A one-line, user-facing error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AdminError(pub String);

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError(format!("DynamoDB: {e}"))
    }
}

impl From<SecretError> for AdminError {
    fn from(e: SecretError) -> Self {
        AdminError(format!("Secrets Manager: {e}"))
    }
}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError(msg.into()))
}

pub struct TenantOpts {
    pub name: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub audiences: Vec<String>,
    pub signing_alg: Option<String>,
    pub sliding_max: Option<u64>,
    pub key_rotation_days: Option<u64>,
}

pub struct ClientOpts {
    pub tenant: String,
    pub name: String,
    pub grants: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub require_pkce: bool,
    pub require_offline_access: bool,
    pub web_origins: Vec<String>,
    pub introspect: bool,
}

/// `tenant update`: `None` keeps the value.
pub struct TenantUpdate {
    pub name: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub audiences: Option<Vec<String>>,
    /// `Some(0)` turns sliding expiry off.
    pub sliding_max: Option<u64>,
    pub key_rotation_days: Option<u64>,
    /// The sign-in page's branding (`--display-name`, `--logo`, …).
    pub branding: BrandingUpdate,
}

/// `tenant update`'s branding flags: `None`/empty keeps the value; an empty
/// string removes it (`--display-name ''`, `--primary-color ''`, a
/// `--scope-description SCOPE=` with no text); `--no-logo` removes the logo;
/// `--clear-branding` removes everything first.
#[derive(Debug, Default)]
pub struct BrandingUpdate {
    pub clear: bool,
    pub display_name: Option<String>,
    /// A PNG file, at most 32 KiB.
    pub logo_file: Option<std::path::PathBuf>,
    pub no_logo: bool,
    /// `#RRGGBB`.
    pub primary_color: Option<String>,
    /// `SCOPE=TEXT`, repeatable.
    pub scope_descriptions: Vec<String>,
}

/// The branding flags, checked (and the logo read) once, before anything
/// is read or written. An inner `None` removes the setting; a scope
/// description without text removes it.
struct BrandingEdit {
    clear: bool,
    display_name: Option<Option<String>>,
    logo: Option<Option<Logo>>,
    primary_color: Option<Option<Rgb>>,
    scope_descriptions: Vec<(String, Option<String>)>,
}

impl BrandingUpdate {
    fn check(self) -> Result<BrandingEdit, AdminError> {
        let display_name = match self.display_name {
            None => None,
            Some(name) if name.is_empty() => Some(None),
            Some(name) => Some(Some(
                branding::parse_display_name(&name)
                    .map_err(|e| AdminError(format!("--display-name: {e}")))?,
            )),
        };
        if self.no_logo && self.logo_file.is_some() {
            return err("--logo and --no-logo cannot be used together");
        }
        let logo = match (self.logo_file, self.no_logo) {
            (Some(path), _) => Some(Some(read_logo(&path)?)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let primary_color = match self.primary_color {
            None => None,
            Some(c) if c.is_empty() => Some(None),
            Some(c) => Some(Some(
                Rgb::parse(&c).map_err(|e| AdminError(format!("--primary-color: {e}")))?,
            )),
        };
        let mut scope_descriptions = Vec::new();
        for d in &self.scope_descriptions {
            if let Some(scope) = d.strip_suffix('=').filter(|s| !s.contains('=')) {
                scope_descriptions.push((scope.to_owned(), None));
                continue;
            }
            let (scope, text) = branding::parse_scope_description(d)
                .map_err(|e| AdminError(format!("--scope-description: {e}")))?;
            scope_descriptions.push((scope, Some(text)));
        }
        Ok(BrandingEdit {
            clear: self.clear,
            display_name,
            logo,
            primary_color,
            scope_descriptions,
        })
    }
}

impl BrandingEdit {
    /// The branding fields this edit names (every one with
    /// `--clear-branding`), into `c`; the scope descriptions are edited as
    /// `old` has them, and written only if they are still that.
    fn changes(&self, old: &Branding, c: &mut TenantChanges) -> Result<(), AdminError> {
        c.display_name = self.display_name.clone().or(self.clear.then_some(None));
        c.logo = self.logo.clone().or(self.clear.then_some(None));
        c.primary_color = self.primary_color.or(self.clear.then_some(None));
        if !self.clear && self.scope_descriptions.is_empty() {
            return Ok(());
        }
        let mut map = if self.clear {
            BTreeMap::new()
        } else {
            old.scope_descriptions.clone()
        };
        for (scope, text) in &self.scope_descriptions {
            match text {
                Some(t) => map.insert(scope.clone(), t.clone()),
                None => map.remove(scope),
            };
        }
        if map.len() > branding::MAX_SCOPE_DESCRIPTIONS {
            return err(format!(
                "a tenant may describe at most {} scopes",
                branding::MAX_SCOPE_DESCRIPTIONS
            ));
        }
        c.scope_descriptions = Some(MapChange {
            expected: (!self.clear).then(|| old.scope_descriptions.clone()),
            new: map,
        });
        Ok(())
    }
}

/// Reads a PNG logo, never more than the limit (plus one byte, to tell).
fn read_logo(path: &std::path::Path) -> Result<Logo, AdminError> {
    use std::io::Read;
    let fail = |e: std::io::Error| AdminError(format!("--logo {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(branding::MAX_LOGO_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    Logo::from_png(bytes).map_err(|e| AdminError(format!("--logo {}: {e}", path.display())))
}

/// What `tenant get` and `tenant update` print of the branding (the logo by
/// its size, never its bytes).
pub fn branding_json(b: &Branding) -> Value {
    json!({
        "display_name": b.display_name,
        "logo_bytes": b.logo.as_ref().map(|l| l.bytes().len()),
        "primary_color": b.primary_color.map(Rgb::css),
        "scope_descriptions": b.scope_descriptions,
    })
}

/// `client update`: `None` keeps the value; a list replaces the old one.
pub struct ClientUpdate {
    pub tenant: String,
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub introspect: Option<bool>,
}

pub struct UserOpts {
    pub tenant: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub attrs: Vec<String>,
    pub require_password_change: bool,
}

pub struct Admin {
    pub config: Config,
    pub db: Db,
    pub secrets: SecretsManager,
}

/// A browser app's origin, exactly as browsers send it in `Origin`:
/// `https://host[:port]` (or `http://` on localhost / loopback), nothing else.
pub fn validate_web_origin(origin: &str) -> Result<String, AdminError> {
    let bad = || {
        AdminError(format!(
            "--web-origin must be an origin such as https://app.example (no path): {origin}"
        ))
    };
    let u = url::Url::parse(origin).map_err(|_| bad())?;
    let serialized = match u.origin() {
        o @ url::Origin::Tuple(..) => o.ascii_serialization(),
        url::Origin::Opaque(_) => return Err(bad()),
    };
    if serialized != origin.trim_end_matches('/') || !one_line(origin) {
        return Err(bad());
    }
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => Ok(serialized),
        "http" if loopback => Ok(serialized),
        _ => Err(AdminError(format!(
            "--web-origin must be https (http only on localhost or loopback): {origin}"
        ))),
    }
}

pub(crate) fn one_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

impl Admin {
    /// The CLI and the maintenance function, over clients built with the
    /// functions' explicit SDK timeouts (`store::aws::Clients`), so a call
    /// that hangs fails within seconds instead of holding a run (or a key
    /// change between its two writes) open.
    pub fn new(config: Config, clients: Clients) -> Admin {
        Admin {
            db: clients.db,
            secrets: clients.secrets,
            config,
        }
    }

    async fn tenant(&self, alias: &str) -> Result<(TenantId, Tenant), AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        match self.db.get_tenant(&id).await? {
            Some(t) if !t.deleting => Ok((id, t)),
            Some(_) => err(format!(
                "tenant {alias} is being deleted (run `tenant delete` again to finish)"
            )),
            None => err(format!("unknown tenant: {alias}")),
        }
    }

    /// Creates the table (TTL on) and the stack's login-transaction key if missing.
    pub async fn init(&self) -> Result<Value, AdminError> {
        let created = self.db.create_table().await?;
        let name = self.config.login_key_secret();
        let login_key = match self.secrets.create(&name, &random_token(48)).await {
            Ok(()) => "created",
            Err(SecretError::AlreadyExists) => "exists",
            Err(e) => return Err(e.into()),
        };
        Ok(json!({
            "table": self.config.table,
            "table_created": created,
            "login_key_secret": name,
            "login_key": login_key,
        }))
    }

    pub async fn create_tenant(&self, alias: &str, o: TenantOpts) -> Result<Value, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        let name = o.name.unwrap_or_else(|| alias.to_owned());
        if name.trim().is_empty() || name.len() > 200 || !one_line(&name) {
            return err("--name must be 1 to 200 printable characters");
        }
        let access = o.access_token_ttl.unwrap_or(DEFAULT_ACCESS_TOKEN_TTL);
        if !(60..=86_400).contains(&access) {
            return err("--access-token-ttl must be between 60 and 86400 seconds");
        }
        let refresh = o.refresh_token_ttl.unwrap_or(DEFAULT_REFRESH_TOKEN_TTL);
        if !(300..=5 * 365 * 86_400).contains(&refresh) {
            return err("--refresh-token-ttl must be between 300 seconds and 5 years");
        }
        if o.key_rotation_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return err("--key-rotation-days must be 1 to 3650");
        }
        if let Some(m) = o.sliding_max
            && !(access..=30 * 86_400).contains(&m)
        {
            return err(
                "--sliding-max must be at least the access token lifetime and at most 30 days",
            );
        }
        for a in &o.audiences {
            if url::Url::parse(a).is_err() || !one_line(a) {
                return err(format!("--audience must be an absolute URI: {a}"));
            }
        }
        let alg = match o.signing_alg.as_deref() {
            None => SigningAlg::ES256,
            Some(a) => SigningAlg::parse(a).ok_or_else(|| {
                AdminError(format!("--signing-alg must be ES256 or RS256, not {a}"))
            })?,
        };
        if self.db.get_tenant(&id).await?.is_some() {
            return err(format!("tenant already exists: {alias}"));
        }
        let now = Now::system().secs();
        let set = KeySet::new(
            keys::generate(alg).map_err(|e| AdminError(e.to_string()))?,
            now,
        );
        let secret_name = self.config.signing_key_secret(&id);
        let secret_json = serde_json::to_string(&set).map_err(|e| AdminError(e.to_string()))?;
        match self.secrets.create(&secret_name, &secret_json).await {
            Ok(()) => {}
            Err(SecretError::AlreadyExists) => {
                return err(format!(
                    "signing key secret {secret_name} already exists (tenant already exists or was deleted without its secret)"
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let tenant = Tenant {
            id: id.clone(),
            name,
            access_token_ttl: access,
            refresh_token_ttl: refresh,
            audiences: o.audiences,
            signing_alg: alg,
            public_jwks: set.public_jwks(),
            current_kid: set.current.kid.clone(),
            sliding_max: o.sliding_max,
            key_rotation_days: o.key_rotation_days,
            branding: Branding::default(),
            created_at: now,
            keys: KeyState {
                generation: 0,
                changed_at: now,
                due: crate::domain::key_rotation::rotation_at(
                    now,
                    o.key_rotation_days
                        .unwrap_or(crate::domain::key_rotation::DEFAULT_ROTATION_DAYS),
                ),
            },
            deleting: false,
        };
        if let Err(e) = self.db.create_tenant(&tenant).await {
            let _ = self.secrets.delete_now(&secret_name).await;
            return match e {
                StoreError::AlreadyExists => err(format!("tenant already exists: {alias}")),
                e => Err(e.into()),
            };
        }
        Ok(json!({
            "tenant": alias,
            "issuer": self.config.issuer(&id),
            "discovery": format!("{}/.well-known/openid-configuration", self.config.issuer(&id)),
            "authorization_endpoint": self.config.endpoint(Function::Authorize, &id),
            "token_endpoint": self.config.endpoint(Function::Token, &id),
            "signing_alg": alg.as_str(),
            "kid": set.current.kid,
        }))
    }

    /// Changes a tenant's settings; flags left out keep their values. One
    /// write of the named settings only (never the keys, so a concurrent key
    /// rotation stays); what depends on a stored value (the sliding maximum
    /// against the access-token lifetime, the scope descriptions edited) is
    /// written only if that value is still what was read, else read again.
    pub async fn update_tenant(&self, alias: &str, o: TenantUpdate) -> Result<Value, AdminError> {
        if let Some(name) = &o.name
            && (name.trim().is_empty() || name.len() > 200 || !one_line(name))
        {
            return err("--name must be 1 to 200 printable characters");
        }
        if o.access_token_ttl
            .is_some_and(|a| !(60..=86_400).contains(&a))
        {
            return err("--access-token-ttl must be between 60 and 86400 seconds");
        }
        if o.refresh_token_ttl
            .is_some_and(|r| !(300..=5 * 365 * 86_400).contains(&r))
        {
            return err("--refresh-token-ttl must be between 300 seconds and 5 years");
        }
        for a in o.audiences.iter().flatten() {
            if url::Url::parse(a).is_err() || !one_line(a) {
                return err(format!("--audience must be an absolute URI: {a}"));
            }
        }
        if o.key_rotation_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return err("--key-rotation-days must be 1 to 3650");
        }
        let branding = o.branding.check()?;
        let sliding_max = o.sliding_max.map(|m| (m != 0).then_some(m));
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        for _ in 0..3 {
            let t = match self.db.get_tenant_for_update(&id).await? {
                Some(t) if !t.deleting => t,
                Some(_) => {
                    return err(format!(
                        "tenant {alias} is being deleted (run `tenant delete` again to finish)"
                    ));
                }
                None => return err(format!("unknown tenant: {alias}")),
            };
            let access = o.access_token_ttl.unwrap_or(t.access_token_ttl);
            if let Some(m) = sliding_max.unwrap_or(t.sliding_max)
                && !(access..=30 * 86_400).contains(&m)
            {
                return err(
                    "--sliding-max must be at least the access token lifetime and at most 30 days (0 turns it off)",
                );
            }
            let mut changes = TenantChanges {
                name: o.name.clone(),
                access_token_ttl: o.access_token_ttl,
                refresh_token_ttl: o.refresh_token_ttl,
                audiences: o.audiences.clone(),
                sliding_max,
                key_rotation_days: o.key_rotation_days,
                // The key schedule depends on these: the next maintenance run
                // looks again (a retirement waits for a longer lifetime).
                keys_due: (o.access_token_ttl.is_some()
                    || sliding_max.is_some()
                    || o.key_rotation_days.is_some())
                .then(|| Now::system().secs()),
                ..TenantChanges::default()
            };
            branding.changes(&t.branding, &mut changes)?;
            match self.db.update_tenant(&id, &changes).await? {
                Updated::Done(t) => {
                    return Ok(json!({
                        "tenant": alias,
                        "name": t.name,
                        "access_token_ttl": t.access_token_ttl,
                        "refresh_token_ttl": t.refresh_token_ttl,
                        "audiences": t.audiences,
                        "sliding_max": t.sliding_max,
                        "key_rotation_days": t.key_rotation_days,
                        "branding": branding_json(&t.branding),
                    }));
                }
                Updated::NoSuchRecord => return err(format!("unknown tenant: {alias}")),
                Updated::ChangedMeanwhile => continue,
            }
        }
        err(format!(
            "tenant {alias} keeps changing meanwhile (other updates); run the command again"
        ))
    }

    /// Changes a client's settings; flags left out keep their values. Never
    /// prints or touches the secret. One write of the named fields only, so
    /// a concurrent `disable` (or any other change) is never undone; the
    /// read is for the checks against what no command changes (its grants,
    /// public or not).
    pub async fn update_client(&self, o: ClientUpdate) -> Result<Value, AdminError> {
        let (tenant_id, _) = self.tenant(&o.tenant).await?;
        let id = ClientId::parse(&o.client_id)
            .map_err(|e| AdminError(format!("{e}: {:?}", o.client_id)))?;
        let Some(c) = self.db.get_client(&tenant_id, &id).await? else {
            return err(format!("unknown client: {}", o.client_id));
        };
        let mut changes = ClientChanges::default();
        if let Some(name) = o.name {
            if name.trim().is_empty() || name.len() > 200 || !one_line(&name) {
                return err("--name must be 1 to 200 printable characters");
            }
            changes.name = Some(name);
        }
        if let Some(uris) = o.redirect_uris {
            for r in &uris {
                redirect::validate_registration(r).map_err(AdminError)?;
            }
            let needs_redirect =
                c.has_grant(Grant::AuthorizationCode) || c.has_grant(Grant::Implicit);
            if needs_redirect && uris.is_empty() {
                return err(
                    "authorization_code and implicit clients need at least one --redirect-uri",
                );
            }
            changes.redirect_uris = Some(uris);
        }
        if let Some(scopes) = o.scopes {
            let mut out: Vec<String> = Vec::new();
            for s in &scopes {
                for p in scope::parse(s).map_err(|_| AdminError(format!("malformed scope: {s}")))? {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
            changes.scopes = Some(out);
        }
        if let Some(origins) = o.web_origins {
            let mut out: Vec<String> = Vec::new();
            for origin in &origins {
                let v = validate_web_origin(origin)?;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            changes.web_origins = Some(out);
        }
        if let Some(i) = o.introspect {
            if i && c.public {
                return err("a --public client cannot be an --introspect resource server");
            }
            changes.introspect = Some(i);
        }
        let Some(c) = self.db.update_client(&tenant_id, &id, &changes).await? else {
            return err(format!("unknown client: {}", o.client_id));
        };
        Ok(json!({
            "client_id": c.client_id.as_str(),
            "name": c.name,
            "redirect_uris": c.redirect_uris,
            "scopes": c.scopes,
            "web_origins": c.web_origins,
            "introspect": c.introspect,
        }))
    }

    pub async fn create_client(&self, o: ClientOpts) -> Result<Value, AdminError> {
        if o.name.trim().is_empty() || o.name.len() > 200 || !one_line(&o.name) {
            return err("--name must be 1 to 200 printable characters");
        }
        if o.grants.is_empty() {
            return err("at least one --grant is required");
        }
        let mut grants = Vec::new();
        for g in &o.grants {
            match Grant::parse(g) {
                Some(g) if !grants.contains(&g) => grants.push(g),
                Some(_) => {}
                None => {
                    return err(format!(
                        "unknown grant: {g} (use authorization_code, client_credentials, password, implicit, token_exchange)"
                    ));
                }
            }
        }
        for r in &o.redirect_uris {
            redirect::validate_registration(r).map_err(AdminError)?;
        }
        let needs_redirect =
            grants.contains(&Grant::AuthorizationCode) || grants.contains(&Grant::Implicit);
        if needs_redirect && o.redirect_uris.is_empty() {
            return err("authorization_code and implicit clients need at least one --redirect-uri");
        }
        if o.public && grants.contains(&Grant::ClientCredentials) {
            return err("a --public client cannot use client_credentials");
        }
        if o.public && grants.contains(&Grant::TokenExchange) {
            return err("a --public client cannot use token_exchange");
        }
        let mut scopes: Vec<String> = Vec::new();
        for s in &o.scopes {
            let parsed =
                scope::parse(s).map_err(|_| AdminError(format!("malformed scope: {s}")))?;
            for p in parsed {
                if !scopes.contains(&p) {
                    scopes.push(p);
                }
            }
        }
        let mut web_origins: Vec<String> = Vec::new();
        for origin in &o.web_origins {
            let o = validate_web_origin(origin)?;
            if !web_origins.contains(&o) {
                web_origins.push(o);
            }
        }
        if o.introspect && o.public {
            return err("a --public client cannot be an --introspect resource server");
        }
        let (tenant_id, _) = self.tenant(&o.tenant).await?;
        let client_id = ClientId::parse(&random_alphanumeric(ClientId::LEN))
            .map_err(|e| AdminError(e.to_string()))?;
        let secret = (!o.public).then(|| random_alphanumeric(64));
        let secret_name = self.config.client_secret_name(&tenant_id, &client_id);
        if let Some(s) = &secret {
            self.secrets
                .create(&secret_name, &client_secret_hash(s))
                .await?;
        }
        let client = Client {
            tenant: tenant_id,
            client_id: client_id.clone(),
            name: o.name,
            grants,
            redirect_uris: o.redirect_uris,
            scopes,
            public: o.public,
            require_pkce: o.require_pkce || o.public,
            require_offline_access: o.require_offline_access,
            web_origins,
            introspect: o.introspect,
            enabled: true,
            created_at: Now::system().secs(),
        };
        if let Err(e) = self.db.create_client(&client).await {
            if secret.is_some() {
                let _ = self.secrets.delete_now(&secret_name).await;
            }
            return Err(e.into());
        }
        let mut out = json!({"client_id": client_id.as_str()});
        if let Some(s) = secret {
            out["client_secret"] = json!(s);
        }
        Ok(out)
    }

    pub async fn create_user(&self, o: UserOpts, password: &str) -> Result<Value, AdminError> {
        let username = o.username.trim();
        if username.is_empty() || username.len() > 256 || !one_line(username) {
            return err("--username must be 1 to 256 printable characters");
        }
        if password.is_empty() {
            return err("the password (read from stdin) is empty");
        }
        if password.len() > 1024 {
            return err("the password is longer than 1024 bytes");
        }
        let mut attrs = BTreeMap::new();
        for a in &o.attrs {
            let Some((k, v)) = a.split_once('=') else {
                return err(format!("--attr must be KEY=VALUE: {a}"));
            };
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                return err(format!("--attr key must be letters, digits, _ or -: {k}"));
            }
            attrs.insert(k.to_owned(), v.to_owned());
        }
        for (flag, v) in [("--email", &o.email), ("--name", &o.name)] {
            if let Some(v) = v
                && (v.is_empty() || v.len() > 256 || !one_line(v))
            {
                return err(format!("{flag} must be 1 to 256 printable characters"));
            }
        }
        let (tenant_id, _) = self.tenant(&o.tenant).await?;
        let user_id = UserId::generate();
        let password_hash = hash_password(password).map_err(|e| AdminError(e.to_string()))?;
        let user = User {
            tenant: tenant_id,
            user_id: user_id.clone(),
            username: username.to_owned(),
            password_hash,
            email: o.email,
            name: o.name,
            attrs,
            require_password_change: o.require_password_change,
            pwd_version: 0,
            enabled: true,
            created_at: Now::system().secs(),
        };
        match self.db.create_user(&user).await {
            Ok(()) => Ok(json!({"user_id": user_id.as_str()})),
            Err(StoreError::AlreadyExists) => err(format!("username already exists: {username}")),
            Err(e) => Err(e.into()),
        }
    }
}
