//! `tenant create|get|list|update|delete` and the demo bootstrap.

use super::clients::ClientOpts;
use super::users::UserOpts;
use super::*;
use crate::clock::Now;
use crate::config::Function;
use crate::domain::branding::{self, Branding, Logo, Rgb};
use crate::domain::records::{
    DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_REFRESH_TOKEN_TTL, KeyState, SigningAlg, Tenant,
};
use crate::ids::TenantId;
use crate::ports::Directory;
use crate::ports::SecretError;
use crate::ports::StoreError;
use crate::store::secrets_manager::SecretSource;
use crate::store::{MapChange, TenantChanges, Updated};
use crate::tokens::keys;
use crate::tokens::keys::KeySet;
use serde_json::Value;
use serde_json::json;
use std::collections::BTreeMap;

pub struct TenantOpts {
    pub name: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub audiences: Vec<String>,
    pub signing_alg: Option<String>,
    pub sliding_max: Option<u64>,
    pub key_rotation_days: Option<u64>,
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
pub(super) fn read_logo(path: &std::path::Path) -> Result<Logo, AdminError> {
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

pub(super) fn tenant_json(t: &Tenant) -> Value {
    json!({
        "tenant": t.id.as_str(),
        "name": t.name,
        "access_token_ttl": t.access_token_ttl,
        "refresh_token_ttl": t.refresh_token_ttl,
        "audiences": t.audiences,
        "signing_alg": t.signing_alg.as_str(),
        "kid": t.current_kid,
        "sliding_max": t.sliding_max,
        "branding": super::tenants::branding_json(&t.branding),
        "created_at": t.created_at,
    })
}

impl Admin {
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
        if self.db.tenant(&id).await?.is_some() {
            return err(format!("tenant already exists: {alias}"));
        }
        // First, and idempotent: an interrupted create can simply be run again.
        self.ensure_vault_keys(&id).await?;
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

    /// Zero to a tenant in one command: the tenant, its first client and its
    /// first user. If the client or the user cannot be made, the tenant is
    /// removed again: nothing is left half-written.
    pub async fn bootstrap_tenant(
        &self,
        alias: &str,
        tenant: TenantOpts,
        client: ClientOpts,
        user: UserOpts,
        password: &str,
    ) -> Result<Value, AdminError> {
        let t = self.create_tenant(alias, tenant).await?;
        let undo = |e: AdminError| async move {
            let _ = self.delete_tenant(alias).await;
            Err::<Value, _>(e)
        };
        let c = match self
            .create_client(ClientOpts {
                tenant: alias.to_owned(),
                ..client
            })
            .await
        {
            Ok(c) => c,
            Err(e) => return undo(e).await,
        };
        let u = match self
            .create_user(
                UserOpts {
                    tenant: alias.to_owned(),
                    ..user
                },
                password,
            )
            .await
        {
            Ok(u) => u,
            Err(e) => return undo(e).await,
        };
        Ok(json!({"tenant": t, "client": c, "user": u}))
    }

    pub async fn get_tenant(&self, alias: &str) -> Result<Value, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        match self.db.tenant(&id).await? {
            Some(t) => Ok(tenant_json(&t)),
            None => fail(format!("unknown tenant: {alias}")),
        }
    }

    pub async fn list_tenants(
        &self,
        l: Option<i32>,
        next: Option<&str>,
    ) -> Result<Value, AdminError> {
        Ok(page_json(
            self.db.list_tenants(limit(l)?, next).await?,
            tenant_json,
        ))
    }

    /// Removes every item and secret of the tenant, and nothing of any other.
    /// First the tenant is marked as being deleted: it serves nothing any
    /// more (once the functions' 30 s record cache has passed; until then a
    /// request that needs its vanished signing key gets 503, never 500), no
    /// key change commits on it and the maintenance leaves it. Then its
    /// upstream connections (each revoked at its provider, while the vault
    /// keys and client secrets exist), the secrets (the clients' are found
    /// through their records), then the items. Safe to run again if interrupted.
    pub async fn delete_tenant(&self, alias: &str) -> Result<Value, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        let marked = self.db.mark_tenant_deleting(&id).await?;
        let purged = self
            .purge_connections(&id, &super::connections::Purge::Tenant)
            .await?;
        let mut secrets = vec![
            self.config.signing_key_secret(&id),
            self.config.vault_key_secret(&id),
        ];
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .db
                .list_clients(&id, MAX_PAGE, cursor.as_deref())
                .await?;
            secrets.extend(
                page.items
                    .iter()
                    .map(|c| self.config.client_secret_name(&id, &c.client_id)),
            );
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        // Upstream providers' client secrets (their items go with the partition).
        for p in crate::ports::ProviderStore::providers(&self.db, &id).await? {
            secrets.push(self.config.upstream_secret_name(&id, &p.name));
        }
        let mut deleted_secrets = 0;
        for name in &secrets {
            if self.secrets.fetch(name).await?.is_some() {
                self.secrets.delete_now(name).await?;
                deleted_secrets += 1;
            }
        }
        let items = self.db.purge_tenant(&id).await?;
        if !marked && items == 0 && deleted_secrets == 0 {
            return fail(format!("unknown tenant: {alias}"));
        }
        Ok(
            json!({"tenant": alias, "deleted_items": items, "deleted_secrets": deleted_secrets,
            "connections_removed": purged.removed, "connections_revoked": purged.revoked}),
        )
    }
}
