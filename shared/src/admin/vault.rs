//! The tenant's vault key set (`tokens::vault`): created by `tenant create`,
//! and — for tenants created before the vault existed — by the first command
//! that needs it (`provider add` calls [`Admin::ensure_vault_keys`]; it is
//! idempotent). The functions never create it: a function that finds none
//! answers 503, so nothing a caller sends can make a key appear. `tenant
//! delete` deletes it with the tenant's other secrets.

use super::*;
use crate::tokens::vault::VaultKeys;
use secrecy::ExposeSecret;

impl Admin {
    /// Creates the tenant's vault key set unless it exists; `true` if created.
    pub async fn ensure_vault_keys(&self, tenant: &TenantId) -> Result<bool, AdminError> {
        let name = self.config.vault_key_secret(tenant);
        let keys = VaultKeys::generate()
            .to_json()
            .map_err(|e| AdminError(e.to_string()))?;
        match self.secrets.create(&name, keys.expose_secret()).await {
            Ok(()) => Ok(true),
            Err(SecretError::AlreadyExists) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
