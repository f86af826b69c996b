//! `provider add|get|list|update|remove` (SPEC: Provisioning CLI, Upstream
//! providers): the tenant's upstream providers. The upstream client secret
//! goes to Secrets Manager (`{prefix}/{tenant}/upstream/{name}`), never into
//! the table, never into an answer.

use super::issuers::{fetchable, printable};
use super::*;
use crate::clock::Now;
use crate::domain::outbound::OutboundPolicy;
use crate::domain::providers::{
    self, Discovered, MAX_CLIENT_ID, MAX_DISPLAY_NAME, Overrides, Preset, Provider, SecretRule,
    check_endpoint,
};
use crate::domain::scope;
use crate::ports::{JsonFetcher, ProviderChanges, ProviderStore, SecretSource};
use crate::store::issuer_fetch::ReqwestFetcher;
use std::collections::BTreeMap;

/// The longest upstream client secret accepted.
pub const MAX_CLIENT_SECRET: usize = 1024;

pub struct ProviderOpts {
    pub tenant: String,
    pub name: String,
    pub preset: String,
    /// `KEY=VALUE`.
    pub vars: Vec<String>,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub refresh_url: Option<String>,
    pub revocation_url: Option<String>,
    /// Profix's ChangePassword endpoint, when not next to `--token-url`.
    pub password_change_url: Option<String>,
    pub client_id: String,
    /// Read from stdin by the CLI (`--client-secret-stdin`).
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub grant: Option<String>,
    pub display_name: Option<String>,
    pub sign_in: bool,
    pub create_users: bool,
}

/// `provider update`: `None` keeps the value; `--scope`s replace the old ones.
#[derive(Default)]
pub struct ProviderUpdate {
    pub tenant: String,
    pub name: String,
    pub display_name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub sign_in: Option<bool>,
    pub create_users: Option<bool>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub refresh_url: Option<String>,
    pub revocation_url: Option<String>,
}

fn invalid(e: providers::Invalid) -> AdminError {
    AdminError(e.0)
}

fn parse_vars(raw: &[String]) -> Result<BTreeMap<String, String>, AdminError> {
    let mut out = BTreeMap::new();
    for kv in raw {
        let Some((k, v)) = kv.split_once('=') else {
            return fail(format!("--var must be KEY=VALUE: {kv:?}"));
        };
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            return fail(format!("--var {k} given twice"));
        }
    }
    Ok(out)
}

fn check_client_id(id: &str) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID || !id.bytes().all(|c| (0x21..0x7f).contains(&c)) {
        return fail(format!(
            "--client-id must be 1 to {MAX_CLIENT_ID} printable characters without spaces"
        ));
    }
    Ok(())
}

fn check_secret_value(s: &str) -> Result<(), AdminError> {
    if s.is_empty() || s.len() > MAX_CLIENT_SECRET || !s.bytes().all(|c| (0x20..0x7f).contains(&c))
    {
        return fail(format!(
            "the client secret (stdin) must be 1 to {MAX_CLIENT_SECRET} printable characters on one line"
        ));
    }
    Ok(())
}

/// A sign-in provider's ID tokens are validated against its issuer and the
/// keys at its `jwks_uri`: both must be known (from discovery).
fn check_openid(sign_in: bool, e: &providers::Endpoints) -> Result<(), AdminError> {
    if sign_in && (e.issuer.is_none() || e.jwks_uri.is_none()) {
        return fail("--sign-in needs an OpenID issuer whose discovery document names a jwks_uri");
    }
    Ok(())
}

fn check_display_name(s: &str) -> Result<(), AdminError> {
    if !printable(s, MAX_DISPLAY_NAME) || s.trim().is_empty() {
        return fail(format!(
            "--display-name must be 1 to {MAX_DISPLAY_NAME} printable characters"
        ));
    }
    Ok(())
}

fn parse_scopes(raw: &[String]) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for s in raw {
        for p in scope::parse(s).map_err(|_| AdminError(format!("malformed scope: {s}")))? {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if out.len() > scope::MAX_TOKENS {
        return fail(format!("at most {} scopes", scope::MAX_TOKENS));
    }
    Ok(out)
}

/// A string member of a discovery document, if present.
fn member(doc: &serde_json::Value, k: &str) -> Result<Option<String>, AdminError> {
    match doc.get(k) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => fail(format!("the discovery document's {k} is not a string")),
    }
}

impl Admin {
    /// The public URLs: the environment, completed by the stack's URL
    /// document when it has one.
    async fn public_config(&self) -> Result<Config, AdminError> {
        let Some(name) = &self.config.urls_secret else {
            return Ok(self.config.clone());
        };
        let raw = self
            .secrets
            .fetch(name)
            .await?
            .ok_or_else(|| AdminError(format!("the URL document {name} does not exist yet")))?;
        let doc: serde_json::Map<String, Value> = serde_json::from_str(&raw)
            .map_err(|_| AdminError(format!("the URL document {name} is not a JSON object")))?;
        Ok(self.config.with_url_document(&doc))
    }

    /// `{issuer}/.well-known/openid-configuration`, fetched under `policy`;
    /// its `issuer` must be `issuer` exactly.
    async fn discover(
        &self,
        policy: OutboundPolicy,
        issuer: &str,
    ) -> Result<Discovered, AdminError> {
        fetchable(policy, "--issuer", issuer)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let fetcher = ReqwestFetcher::new(policy);
        let doc = fetcher
            .get_json(&url)
            .await
            .map_err(|e| AdminError(format!("cannot read {url}: {e}")))?;
        if member(&doc, "issuer")?.as_deref() != Some(issuer) {
            return fail(format!(
                "the discovery document at {url} names another issuer than {issuer}"
            ));
        }
        Ok(Discovered {
            issuer: issuer.to_owned(),
            authorize: member(&doc, "authorization_endpoint")?,
            token: member(&doc, "token_endpoint")?,
            revocation: member(&doc, "revocation_endpoint")?,
            jwks_uri: member(&doc, "jwks_uri")?,
        })
    }

    fn provider_json(&self, urls: &Config, p: &Provider) -> Value {
        let e = &p.endpoints;
        json!({
            "tenant": p.tenant.as_str(),
            "name": p.name,
            "preset": p.preset.as_str(),
            "vars": p.vars,
            "authorize_url": e.authorize,
            "token_url": e.token,
            "refresh_url": e.refresh,
            "revocation_url": e.revocation,
            "password_change_url": e.password_change,
            "issuer": e.issuer,
            "jwks_uri": e.jwks_uri,
            "client_id": p.client_id,
            "has_client_secret": p.has_client_secret,
            "scopes": p.scopes,
            "grant": p.grant.as_str(),
            "display_name": p.display_name,
            "sign_in": p.sign_in,
            "create_users": p.create_users,
            "created_at": p.created_at,
            "client_scope": providers::upstream_scope(&p.name),
            "callback_uri": urls.upstream_callback(&p.tenant, &p.name),
        })
    }

    /// Writes a provider's client secret (a new one, or over a leftover).
    async fn put_upstream_secret(&self, name: &str, secret: &str) -> Result<(), AdminError> {
        match self.secrets.create(name, secret).await {
            Err(SecretError::AlreadyExists) => Ok(self.secrets.put(name, secret).await?),
            r => Ok(r?),
        }
    }

    pub async fn add_provider(&self, o: ProviderOpts) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(&o.tenant).await?;
        providers::check_name(&o.name).map_err(invalid)?;
        let Some(preset) = Preset::parse(&o.preset) else {
            let all: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
            return fail(format!("--preset must be one of {}", all.join(", ")));
        };
        check_client_id(&o.client_id)?;
        if let Some(s) = &o.client_secret {
            check_secret_value(s)?;
        }
        providers::check_secret(preset, o.client_secret.is_some()).map_err(invalid)?;
        let grant = providers::choose_grant(preset, o.grant.as_deref()).map_err(invalid)?;
        providers::check_sign_in(preset, grant, o.sign_in).map_err(invalid)?;
        if o.create_users && !o.sign_in {
            return fail("--create-users needs --sign-in");
        }
        let display_name = o
            .display_name
            .clone()
            .unwrap_or_else(|| preset.display_name().unwrap_or(&o.name).to_owned());
        check_display_name(&display_name)?;
        let scopes = providers::scopes_for(preset, &parse_scopes(&o.scopes)?).map_err(invalid)?;
        let vars = parse_vars(&o.vars)?;
        let policy = OutboundPolicy::for_stack(&self.config);
        let discovered = match (&o.issuer, preset) {
            (Some(i), Preset::Oidc) => Some(self.discover(policy, i).await?),
            (None, Preset::Oidc) => return fail("the oidc preset needs --issuer"),
            (Some(_), _) => return fail("--issuer is for the oidc preset only"),
            (None, _) => None,
        };
        let overrides = Overrides {
            authorize: o.authorize_url,
            token: o.token_url,
            refresh: o.refresh_url,
            revocation: o.revocation_url,
            password_change: o.password_change_url,
        };
        let endpoints = providers::resolve_endpoints(
            preset,
            grant,
            &vars,
            &overrides,
            discovered.as_ref(),
            policy,
        )
        .map_err(invalid)?;
        check_openid(o.sign_in, &endpoints)?;
        let urls = self.public_config().await?;
        let p = Provider {
            tenant: tenant.clone(),
            name: o.name.clone(),
            preset,
            vars,
            endpoints,
            client_id: o.client_id,
            has_client_secret: o.client_secret.is_some(),
            scopes,
            grant,
            display_name,
            sign_in: o.sign_in,
            create_users: o.create_users,
            created_at: Now::system().secs(),
        };
        // Tenants created before the vault get its key set with their first
        // provider (the functions never create it; idempotent).
        self.ensure_vault_keys(&tenant).await?;
        // The record first: a secret never exists without its provider.
        match ProviderStore::create_provider(&self.db, &p).await {
            Err(StoreError::AlreadyExists) => {
                return fail(format!("provider {} already exists", o.name));
            }
            r => r?,
        }
        if let Some(secret) = &o.client_secret {
            let name = self.config.upstream_secret_name(&tenant, &o.name);
            if let Err(e) = self.put_upstream_secret(&name, secret).await {
                // Undo: no provider that claims a secret it does not have.
                let _ = ProviderStore::remove_provider(&self.db, &tenant, &o.name).await;
                return Err(e);
            }
        }
        Ok(self.provider_json(&urls, &p))
    }

    pub async fn get_provider(&self, alias: &str, name: &str) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let urls = self.public_config().await?;
        match ProviderStore::provider(&self.db, &tenant, name).await? {
            Some(p) => Ok(self.provider_json(&urls, &p)),
            None => fail(format!("unknown provider: {name}")),
        }
    }

    pub async fn list_providers(&self, alias: &str) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let urls = self.public_config().await?;
        let items: Vec<Value> = ProviderStore::providers(&self.db, &tenant)
            .await?
            .iter()
            .map(|p| self.provider_json(&urls, p))
            .collect();
        Ok(json!({ "items": items }))
    }

    /// Changes the named fields only (one conditional write), and the
    /// client secret when one is given.
    pub async fn update_provider(&self, u: ProviderUpdate) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(&u.tenant).await?;
        // Preset, grant and vars never change: validating against them is safe.
        let Some(current) = ProviderStore::provider(&self.db, &tenant, &u.name).await? else {
            return fail(format!("unknown provider: {}", u.name));
        };
        let policy = OutboundPolicy::for_stack(&self.config);
        let url = |what: &str, v: &Option<String>| -> Result<Option<String>, AdminError> {
            v.as_deref()
                .map(|v| check_endpoint(policy, what, v).map_err(invalid))
                .transpose()
        };
        if let Some(id) = &u.client_id {
            check_client_id(id)?;
        }
        if let Some(d) = &u.display_name {
            check_display_name(d)?;
        }
        if let Some(s) = &u.client_secret {
            check_secret_value(s)?;
            if current.quirks().secret == SecretRule::Refused {
                return fail(format!(
                    "the {} preset is a public client: it takes no client secret",
                    current.preset
                ));
            }
        }
        if let Some(true) = u.sign_in {
            providers::check_sign_in(current.preset, current.grant, true).map_err(invalid)?;
            check_openid(true, &current.endpoints)?;
        }
        let signs_in = u.sign_in.unwrap_or(current.sign_in);
        if u.create_users == Some(true) && !signs_in {
            return fail("--create-users needs --sign-in");
        }
        let changes = ProviderChanges {
            display_name: u.display_name,
            scopes: u
                .scopes
                .as_deref()
                .map(|s| providers::scopes_for(current.preset, &parse_scopes(s)?).map_err(invalid))
                .transpose()?,
            client_id: u.client_id,
            has_client_secret: u.client_secret.as_ref().map(|_| true),
            sign_in: u.sign_in,
            // A provider that stops signing users in stops creating them.
            create_users: u
                .create_users
                .or((u.sign_in == Some(false)).then_some(false)),
            authorize_url: url("--authorize-url", &u.authorize_url)?,
            token_url: url("--token-url", &u.token_url)?,
            refresh_url: url("--refresh-url", &u.refresh_url)?.map(Some),
            revocation_url: url("--revocation-url", &u.revocation_url)?.map(Some),
        };
        let urls = self.public_config().await?;
        let Some(p) = ProviderStore::update_provider(&self.db, &tenant, &u.name, &changes).await?
        else {
            return fail(format!("unknown provider: {}", u.name));
        };
        // After the record (never a secret without its provider).
        if let Some(secret) = &u.client_secret {
            let name = self.config.upstream_secret_name(&tenant, &u.name);
            self.put_upstream_secret(&name, secret).await?;
        }
        Ok(self.provider_json(&urls, &p))
    }

    /// Removes the provider's connections (each refresh token revoked at
    /// the provider where it can, while its client secret still exists),
    /// then its client secret and the record (the secret first: a secret is
    /// never left without its provider).
    pub async fn remove_provider(&self, alias: &str, name: &str) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let Ok(provider_name) = crate::ids::ProviderName::parse(name) else {
            return fail(format!("unknown provider: {name}"));
        };
        if ProviderStore::provider(&self.db, &tenant, name)
            .await?
            .is_none()
        {
            return fail(format!("unknown provider: {name}"));
        }
        let purged = self
            .purge_connections(&tenant, &super::connections::Purge::Provider(provider_name))
            .await?;
        let secret = self.config.upstream_secret_name(&tenant, name);
        let deleted_secret = self.secrets.fetch(&secret).await?.is_some();
        if deleted_secret {
            self.secrets.delete_now(&secret).await?;
        }
        if ProviderStore::remove_provider(&self.db, &tenant, name)
            .await?
            .is_none()
        {
            return fail(format!("unknown provider: {name}"));
        }
        Ok(json!({
            "tenant": tenant.as_str(),
            "name": name,
            "removed": true,
            "deleted_secret": deleted_secret,
            "connections_removed": purged.removed,
            "connections_revoked": purged.revoked,
        }))
    }
}

#[cfg(test)]
mod sign_in_tests {
    use super::*;

    #[test]
    fn sign_in_needs_a_discovered_issuer_and_jwks() {
        let full = providers::Endpoints {
            issuer: Some("https://idp.example".into()),
            jwks_uri: Some("https://idp.example/jwks".into()),
            ..Default::default()
        };
        assert!(check_openid(true, &full).is_ok());
        let no_jwks = providers::Endpoints {
            jwks_uri: None,
            ..full.clone()
        };
        assert!(check_openid(true, &no_jwks).is_err());
        assert!(check_openid(false, &no_jwks).is_ok());
        let no_issuer = providers::Endpoints {
            issuer: None,
            ..full
        };
        assert!(check_openid(true, &no_issuer).is_err());
    }
}
