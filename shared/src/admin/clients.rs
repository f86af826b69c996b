//! `client create|get|list|update|enable|disable|delete|rotate-secret`.

use super::*;
use crate::clock::Now;
use crate::crypto::client_secret_hash;
use crate::crypto::client_secret_record;
use crate::crypto::random_alphanumeric;
use crate::domain::records::Client;
use crate::domain::records::Grant;
use crate::domain::redirect;
use crate::domain::scope;
use crate::ids::ClientId;
use crate::ids::TenantId;
use crate::ports::Directory;
use crate::ports::SecretError;
use crate::store::ClientChanges;
use crate::store::secrets_manager::SecretSource;
use serde_json::Value;
use serde_json::json;

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

pub(super) fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.client_id.as_str(),
        "name": c.name,
        "grants": c.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": c.redirect_uris,
        "scopes": c.scopes,
        "public": c.public,
        "require_pkce": c.require_pkce,
        "require_offline_access": c.require_offline_access,
        "web_origins": c.web_origins,
        "introspect": c.introspect,
        "enabled": c.enabled,
        "created_at": c.created_at,
    })
}

impl Admin {
    /// Changes a client's settings; flags left out keep their values. Never
    /// prints or touches the secret. One write of the named fields only, so
    /// a concurrent `disable` (or any other change) is never undone; the
    /// read is for the checks against what no command changes (its grants,
    /// public or not).
    pub async fn update_client(&self, o: ClientUpdate) -> Result<Value, AdminError> {
        let (tenant_id, _) = self.tenant(&o.tenant).await?;
        let id = ClientId::parse(&o.client_id)
            .map_err(|e| AdminError(format!("{e}: {:?}", o.client_id)))?;
        let Some(c) = self.db.client(&tenant_id, &id).await? else {
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

    pub(super) async fn client_of(
        &self,
        alias: &str,
        client_id: &str,
    ) -> Result<(TenantId, Client), AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let id =
            ClientId::parse(client_id).map_err(|e| AdminError(format!("{e}: {client_id:?}")))?;
        match self.db.client(&tenant, &id).await? {
            Some(c) => Ok((tenant, c)),
            None => fail(format!("unknown client: {client_id}")),
        }
    }

    pub async fn get_client(&self, alias: &str, client_id: &str) -> Result<Value, AdminError> {
        Ok(client_json(&self.client_of(alias, client_id).await?.1))
    }

    pub async fn list_clients(
        &self,
        alias: &str,
        l: Option<i32>,
        next: Option<&str>,
    ) -> Result<Value, AdminError> {
        let id = self.tenant_id(alias).await?;
        Ok(page_json(
            self.db.list_clients(&id, limit(l)?, next).await?,
            client_json,
        ))
    }

    pub async fn set_client_enabled(
        &self,
        alias: &str,
        client_id: &str,
        enabled: bool,
    ) -> Result<Value, AdminError> {
        let (tenant, c) = self.client_of(alias, client_id).await?;
        // One conditional write of the flag: deleted meanwhile is unknown,
        // never re-created.
        if !self
            .db
            .set_client_enabled(&tenant, &c.client_id, enabled)
            .await?
        {
            return fail(format!("unknown client: {client_id}"));
        }
        Ok(json!({"client_id": client_id, "enabled": enabled}))
    }

    pub async fn delete_client(&self, alias: &str, client_id: &str) -> Result<Value, AdminError> {
        let (tenant, c) = self.client_of(alias, client_id).await?;
        // The record first: without it the client cannot authenticate at all.
        self.db.delete_client(&tenant, &c.client_id).await?;
        let name = self.config.client_secret_name(&tenant, &c.client_id);
        match self.secrets.delete_now(&name).await {
            Ok(()) | Err(SecretError::AlreadyExists) => {}
            Err(e) if !c.public => return Err(e.into()),
            Err(_) => {}
        }
        Ok(json!({"client_id": client_id, "deleted": true}))
    }

    /// A new secret (printed once); the old one keeps working for `grace`
    /// seconds (default 0: it stops at once).
    pub async fn rotate_client_secret(
        &self,
        alias: &str,
        client_id: &str,
        grace: u64,
    ) -> Result<Value, AdminError> {
        if grace > 30 * 86_400 {
            return fail("--grace must be at most 30 days");
        }
        let (tenant, c) = self.client_of(alias, client_id).await?;
        if c.public {
            return fail("a public client has no secret");
        }
        let name = self.config.client_secret_name(&tenant, &c.client_id);
        let old = self.secrets.fetch(&name).await?;
        let secret = random_alphanumeric(64);
        let new_hash = client_secret_hash(&secret);
        let previous_hash = old
            .as_deref()
            .and_then(|r| r.lines().next())
            .map(str::to_owned);
        let until = Now::system().plus(grace);
        let record = match (&previous_hash, grace) {
            (Some(h), g) if g > 0 => client_secret_record(&new_hash, Some((h, until))),
            _ => client_secret_record(&new_hash, None),
        };
        match old {
            Some(_) => self.secrets.put(&name, &record).await?,
            None => self.secrets.create(&name, &record).await?,
        }
        let mut out = json!({"client_id": client_id, "client_secret": secret});
        if grace > 0 && previous_hash.is_some() {
            out["previous_secret_valid_until"] = json!(until);
        }
        Ok(out)
    }
}
