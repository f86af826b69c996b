//! The provisioning library behind `tollgate-admin` and the maintenance
//! function, by resource: `tenants`, `clients`, `users`, `issuers` (trusted
//! issuers and links), `providers` (upstream providers), `connect` (service
//! connections), `connections` (connections' health, removal and purges),
//! `keys` (rotation and the scheduled upkeep) and `vault` (the key set that
//! encrypts upstream tokens).
//! Every command answers one JSON value or an [`AdminError`] (one line).

pub mod clients;
pub mod connect;
pub mod connections;
pub mod issuers;
pub mod keys;
pub mod providers;
pub mod tenants;
pub mod users;
pub mod vault;

use crate::config::Config;
use crate::crypto::random_token;
use crate::domain::records::Tenant;
use crate::domain::records::User;
use crate::ids::TenantId;
use crate::ids::UserId;
use crate::ports::Directory;
use crate::ports::SecretError;
use crate::ports::StoreError;
use crate::ports::UserStore;
use crate::store::Db;
use crate::store::Page;
use crate::store::aws::Clients;
use crate::store::secrets_manager::SecretsManager;
use serde_json::Value;
use serde_json::json;

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

pub struct Admin {
    pub config: Config,
    pub db: Db,
    pub secrets: SecretsManager,
}

pub(crate) fn one_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// How many records a list prints at most per call (`--limit`).
pub const MAX_PAGE: i32 = 100;

pub(super) fn fail<T>(msg: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError(msg.into()))
}

pub(super) fn page_json<T>(p: Page<T>, f: impl Fn(&T) -> Value) -> Value {
    let mut out = json!({"items": p.items.iter().map(f).collect::<Vec<_>>()});
    if let Some(n) = p.next {
        out["next"] = json!(n);
    }
    out
}

pub(super) fn limit(l: Option<i32>) -> Result<i32, AdminError> {
    match l {
        None => Ok(MAX_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => fail(format!("--limit must be 1 to {MAX_PAGE}")),
    }
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

    pub(super) async fn tenant(&self, alias: &str) -> Result<(TenantId, Tenant), AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        match self.db.tenant(&id).await? {
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

    pub(crate) async fn tenant_id(&self, alias: &str) -> Result<TenantId, AdminError> {
        let id = TenantId::parse(alias).map_err(|e| AdminError(format!("{e}: {alias:?}")))?;
        match self.db.tenant(&id).await? {
            Some(t) if !t.deleting => Ok(id),
            Some(_) => fail(format!(
                "tenant {alias} is being deleted (run `tenant delete` again to finish)"
            )),
            None => fail(format!("unknown tenant: {alias}")),
        }
    }

    pub(crate) async fn user_of(
        &self,
        alias: &str,
        user_id: &str,
    ) -> Result<(TenantId, User), AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let id = UserId::parse(user_id).map_err(|e| AdminError(format!("{e}: {user_id:?}")))?;
        match self.db.user(&tenant, &id).await? {
            Some(u) => Ok((tenant, u)),
            None => fail(format!("unknown user: {user_id}")),
        }
    }
}
