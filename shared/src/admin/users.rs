//! `user create|get|list|update|enable|disable|delete|set-password|unlock|revoke-tokens`.

use super::*;
use crate::clock::Now;
use crate::crypto::hash_password;
use crate::domain::records::User;
use crate::domain::throttling::throttle_key;
use crate::ids::UserId;
use crate::ports::StoreError;
use crate::store::UserChanges;
use serde_json::Value;
use serde_json::json;
use std::collections::BTreeMap;

pub struct UserOpts {
    pub tenant: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub attrs: Vec<String>,
    pub require_password_change: bool,
}

/// Never the password hash.
pub(super) fn user_json(u: &User) -> Value {
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

impl Admin {
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

    /// Deletes the user with its upstream connections (each revoked at its
    /// provider where it can): first the connections, then the user, then
    /// once more any connection a callback stored meanwhile.
    pub async fn delete_user(&self, alias: &str, user_id: &str) -> Result<Value, AdminError> {
        use super::connections::Purge;
        let (tenant, u) = self.user_of(alias, user_id).await?;
        let which = Purge::User(u.user_id.clone());
        let mut purged = self.purge_connections(&tenant, &which).await?;
        self.db.delete_user(&u).await?;
        let late = self.purge_connections(&tenant, &which).await?;
        purged.removed += late.removed;
        purged.revoked += late.revoked;
        Ok(json!({
            "user_id": user_id,
            "deleted": true,
            "connections_removed": purged.removed,
            "connections_revoked": purged.revoked,
        }))
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
