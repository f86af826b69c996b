//! The tenant's "Sign in with …" providers, for the login page (cached like
//! the records: a `provider add|update|remove` shows within 30 s).

use super::AppState;
use crate::ids::TenantId;
use crate::ports::StoreError;
use std::sync::Arc;

/// (name, display name) of each sign-in provider, by name.
pub(super) type SignInList = Arc<Vec<(String, String)>>;

impl AppState {
    /// The providers the login page offers for `tenant` (a tenant that
    /// exists: the page is rendered only for one).
    pub async fn sign_in_providers(&self, tenant: &TenantId) -> Result<SignInList, StoreError> {
        if let Some(list) = self.sign_in_providers.get(tenant) {
            return Ok(list);
        }
        let list: SignInList = Arc::new(
            self.ports
                .providers
                .providers(tenant)
                .await?
                .into_iter()
                .filter(|p| p.offers_sign_in())
                .map(|p| (p.name, p.display_name))
                .collect(),
        );
        self.sign_in_providers.insert(tenant.clone(), list.clone());
        Ok(list)
    }
}
