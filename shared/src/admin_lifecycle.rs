//! The lifecycle half of `tollgate-admin`: read, list, change and remove
//! tenants, clients and users (SPEC: Provisioning CLI). Listings paginate
//! and never print a secret or a hash. Disabling or deleting takes effect at
//! once for users (read fresh on every use) and within the functions' 30 s
//! record cache for clients and tenants.

use crate::admin::{Admin, AdminError, ClientOpts, TenantOpts, UserOpts};
use crate::clock::Now;
use crate::crypto::{client_secret_hash, client_secret_record, hash_password, random_alphanumeric};
use crate::domain::records::{Client, Tenant, User};
use crate::domain::throttling::throttle_key;
use crate::ids::{ClientId, TenantId, UserId};
use crate::ports::SecretError;
use crate::store::secrets_manager::SecretSource;
use crate::store::{Page, UserChanges};
use serde_json::{Value, json};

/// How many records a list prints at most per call (`--limit`).
pub const MAX_PAGE: i32 = 100;

fn fail<T>(msg: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError(msg.into()))
}

fn tenant_json(t: &Tenant) -> Value {
    json!({
        "tenant": t.id.as_str(),
        "name": t.name,
        "access_token_ttl": t.access_token_ttl,
        "refresh_token_ttl": t.refresh_token_ttl,
        "audiences": t.audiences,
        "signing_alg": t.signing_alg.as_str(),
        "kid": t.current_kid,
        "sliding_max": t.sliding_max,
        "branding": crate::admin::branding_json(&t.branding),
        "created_at": t.created_at,
    })
}

fn client_json(c: &Client) -> Value {
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

/// Never the password hash.
fn user_json(u: &User) -> Value {
    json!({
        "user_id": u.user_id.as_str(),
        "username": u.username,
        "email": u.email,
        "name": u.name,
        "attrs": u.attrs,
        "require_password_change": u.require_password_change,
        "enabled": u.enabled,
        "created_at": u.created_at,
    })
}

fn page_json<T>(p: Page<T>, f: impl Fn(&T) -> Value) -> Value {
    let mut out = json!({"items": p.items.iter().map(f).collect::<Vec<_>>()});
    if let Some(n) = p.next {
        out["next"] = json!(n);
    }
    out
}

fn limit(l: Option<i32>) -> Result<i32, AdminError> {
    match l {
        None => Ok(MAX_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => fail(format!("--limit must be 1 to {MAX_PAGE}")),
    }
}

impl Admin {
    pub(crate) async fn tenant_id(&self, alias: &str) -> Result<TenantId, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        match self.db.get_tenant(&id).await? {
            Some(t) if !t.deleting => Ok(id),
            Some(_) => fail(format!(
                "tenant {alias} is being deleted (run `tenant delete` again to finish)"
            )),
            None => fail(format!("unknown tenant: {alias}")),
        }
    }

    async fn client_of(
        &self,
        alias: &str,
        client_id: &str,
    ) -> Result<(TenantId, Client), AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let id =
            ClientId::parse(client_id).map_err(|e| AdminError(format!("{e}: {client_id:?}")))?;
        match self.db.get_client(&tenant, &id).await? {
            Some(c) => Ok((tenant, c)),
            None => fail(format!("unknown client: {client_id}")),
        }
    }

    pub(crate) async fn user_of(
        &self,
        alias: &str,
        user_id: &str,
    ) -> Result<(TenantId, User), AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let id = UserId::parse(user_id).map_err(|e| AdminError(format!("{e}: {user_id:?}")))?;
        match self.db.get_user(&tenant, &id).await? {
            Some(u) => Ok((tenant, u)),
            None => fail(format!("unknown user: {user_id}")),
        }
    }

    // ---- tenants -------------------------------------------------------------

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
        match self.db.get_tenant(&id).await? {
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
    /// key change commits on it and the maintenance leaves it. Then the
    /// secrets (the clients' are found through their records), then the
    /// items. Safe to run again if interrupted.
    pub async fn delete_tenant(&self, alias: &str) -> Result<Value, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        let marked = self.db.mark_tenant_deleting(&id).await?;
        let mut secrets = vec![self.config.signing_key_secret(&id)];
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
        Ok(json!({"tenant": alias, "deleted_items": items, "deleted_secrets": deleted_secrets}))
    }

    // ---- clients -------------------------------------------------------------

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

    // ---- users -----------------------------------------------------------------

    pub async fn get_user(&self, alias: &str, user_id: &str) -> Result<Value, AdminError> {
        Ok(user_json(&self.user_of(alias, user_id).await?.1))
    }

    pub async fn list_users(
        &self,
        alias: &str,
        l: Option<i32>,
        next: Option<&str>,
    ) -> Result<Value, AdminError> {
        let id = self.tenant_id(alias).await?;
        Ok(page_json(
            self.db.list_users(&id, limit(l)?, next).await?,
            user_json,
        ))
    }

    /// Changes a user's profile: `--email`, `--name` (empty removes),
    /// `--attr KEY=VALUE` (empty value removes), `--require-password-change`.
    pub async fn update_user(
        &self,
        alias: &str,
        user_id: &str,
        email: Option<String>,
        name: Option<String>,
        attrs: Vec<String>,
        require_password_change: Option<bool>,
    ) -> Result<Value, AdminError> {
        let (tenant, u) = self.user_of(alias, user_id).await?;
        // Only the named fields (each `--attr` key on its own) are written,
        // in one write: a concurrent change of anything else is kept.
        let mut changes = UserChanges {
            require_password_change,
            ..UserChanges::default()
        };
        for (flag, v, field) in [
            ("--email", email, &mut changes.email),
            ("--name", name, &mut changes.name),
        ] {
            if let Some(v) = v {
                if v.len() > 256 || v.chars().any(char::is_control) {
                    return fail(format!("{flag} must be at most 256 printable characters"));
                }
                *field = Some((!v.is_empty()).then_some(v));
            }
        }
        for a in &attrs {
            let Some((k, v)) = a.split_once('=') else {
                return fail(format!("--attr must be KEY=VALUE: {a}"));
            };
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                return fail(format!("--attr key must be letters, digits, _ or -: {k}"));
            }
            changes
                .attrs
                .insert(k.to_owned(), (!v.is_empty()).then(|| v.to_owned()));
        }
        match self.db.update_user(&tenant, &u.user_id, &changes).await? {
            Some(u) => Ok(user_json(&u)),
            None => fail(format!("unknown user: {user_id}")),
        }
    }

    pub async fn set_user_enabled(
        &self,
        alias: &str,
        user_id: &str,
        enabled: bool,
    ) -> Result<Value, AdminError> {
        let (tenant, u) = self.user_of(alias, user_id).await?;
        // One conditional write of the flag: deleted meanwhile is unknown,
        // never re-created.
        if !self
            .db
            .set_user_enabled(&tenant, &u.user_id, enabled)
            .await?
        {
            return fail(format!("unknown user: {user_id}"));
        }
        Ok(json!({"user_id": user_id, "enabled": enabled}))
    }

    pub async fn delete_user(&self, alias: &str, user_id: &str) -> Result<Value, AdminError> {
        let (_, u) = self.user_of(alias, user_id).await?;
        self.db.delete_user(&u).await?;
        Ok(json!({"user_id": user_id, "deleted": true}))
    }

    /// Sets the password (read from stdin) and ends every session of the user.
    pub async fn set_user_password(
        &self,
        alias: &str,
        user_id: &str,
        password: &str,
        require_change: bool,
    ) -> Result<Value, AdminError> {
        if password.is_empty() || password.len() > 1024 {
            return fail("the password (read from stdin) must be 1 to 1024 bytes");
        }
        let (tenant, u) = self.user_of(alias, user_id).await?;
        let hash = hash_password(password).map_err(|e| AdminError(e.to_string()))?;
        self.db
            .bump_password_version(&tenant, &u.user_id, Some(&hash), Some(require_change))
            .await?;
        Ok(
            json!({"user_id": user_id, "password_set": true, "require_password_change": require_change}),
        )
    }

    /// Lifts the password-check throttle of the user (and of the username).
    pub async fn unlock_user(&self, alias: &str, user_id: &str) -> Result<Value, AdminError> {
        let (tenant, u) = self.user_of(alias, user_id).await?;
        self.db
            .clear_throttle(&tenant, &throttle_key(Some(&u), &u.username))
            .await?;
        self.db
            .clear_throttle(&tenant, &throttle_key(None, &u.username))
            .await?;
        Ok(json!({"user_id": user_id, "unlocked": true}))
    }

    /// Revokes every refresh token (every session) of the user at once.
    pub async fn revoke_user_tokens(
        &self,
        alias: &str,
        user_id: &str,
    ) -> Result<Value, AdminError> {
        let (tenant, u) = self.user_of(alias, user_id).await?;
        self.db
            .bump_password_version(&tenant, &u.user_id, None, None)
            .await?;
        Ok(json!({"user_id": user_id, "tokens_revoked": true}))
    }
}
