//! Background upkeep of upstream connections (SPEC: Background upkeep): the
//! maintenance function refreshes connections whose refresh token would
//! otherwise expire unused (Keap after 30 of its 45 days, Maximizer well
//! inside its 180, B2C inside its 14), under the same lease and generation
//! fence as an exchange (`oauth::upstream`), each refresh with its own
//! deadline. A connection whose provider is gone is skipped (`provider
//! remove` purges them); one that fails transiently stays due for the next
//! run; a dead one leaves the work list.

use crate::AppState;
use crate::domain::connections::Status;
use crate::domain::upstream_refresh::FUNCTION_TIMEOUT;
use crate::oauth::upstream::{self, Mode, Unserved};
use std::time::Duration;
use tokio::time::Instant;

/// What one run did (counts only; the audit lines say which).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpkeepReport {
    pub refreshed: u32,
    pub failed: u32,
    pub reconnect_required: u32,
    pub skipped: u32,
    /// The run stopped at its deadline with connections still due.
    pub unfinished: bool,
}

/// How many due connections one query returns.
const PAGE: usize = 25;

/// Refreshes the connections due at the state's clock, stopping before
/// `deadline` (no refresh starts without a whole [`FUNCTION_TIMEOUT`] left).
pub async fn refresh_due(state: &AppState, deadline: Instant) -> UpkeepReport {
    let mut report = UpkeepReport::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = match state
            .ports()
            .connections
            .due(state.now(), PAGE, cursor.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "upkeep: listing due connections failed");
                report.unfinished = true;
                return report;
            }
        };
        for c in &page.items {
            if Instant::now() + FUNCTION_TIMEOUT >= deadline {
                report.unfinished = true;
                return report;
            }
            // The index lags the items: what the consistent read says counts.
            let now = state.now().secs();
            if c.status == Status::ReconnectRequired || c.refresh_due_at.is_none_or(|due| due > now)
            {
                report.skipped += 1;
                continue;
            }
            let provider = match state.provider(&c.key.tenant, c.key.provider.as_str()).await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    report.skipped += 1;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "upkeep: reading a provider failed");
                    report.failed += 1;
                    continue;
                }
            };
            // Each refresh as if it were a function of its own: a deadline
            // inside FUNCTION_TIMEOUT, and stopped at it (as Lambda would stop
            // the token function; the lease outlives it either way).
            let own_deadline = Instant::now() + FUNCTION_TIMEOUT - Duration::from_secs(1);
            let refresh = upstream::token(
                state,
                &provider,
                &c.key,
                Mode::Upkeep(c.generation),
                own_deadline,
            );
            match tokio::time::timeout(FUNCTION_TIMEOUT, refresh).await {
                Ok(Ok(_)) => report.refreshed += 1,
                Ok(Err(Unserved::ReconnectRequired)) => report.reconnect_required += 1,
                Ok(Err(Unserved::NotLinked)) => report.skipped += 1,
                Ok(Err(Unserved::Unavailable { .. })) | Err(_) => report.failed += 1,
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return report;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Now;
    use crate::domain::connections::{ConnectionKey, Owner};
    use crate::domain::providers::engine::{HttpAnswer, read_token_answer};
    use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
    use crate::ids::{ProviderName, TenantId, UserId};
    use crate::ports::{Clock, ConnectionStore, ProviderStore};
    use crate::testing::fakes::{Fakes, Fault};
    use crate::tokens::vault::VaultKeys;

    const T0: u64 = 1_700_000_000;

    async fn world() -> (AppState, Fakes, Vec<ConnectionKey>) {
        let fakes = Fakes::new(T0);
        let config = crate::Config::from_lookup(|k| match k {
            "TOLLGATE_FUNCTION_URL_TEMPLATE" => Some("https://fn.example/{function}".into()),
            _ => None,
        });
        let tenant = TenantId::parse("acme").unwrap();
        fakes.secrets.put(
            config.vault_key_secret(&tenant),
            secrecy::ExposeSecret::expose_secret(&VaultKeys::generate().to_json().unwrap())
                .to_owned(),
        );
        let state = AppState::with_ports(config, fakes.ports());
        let provider = Provider {
            tenant: tenant.clone(),
            name: "keap".into(),
            preset: Preset::Keap,
            vars: Default::default(),
            endpoints: Endpoints {
                authorize: Some("https://up.example/authorize".into()),
                token: "https://up.example/token".into(),
                ..Endpoints::default()
            },
            client_id: "cid".into(),
            has_client_secret: false,
            scopes: vec![],
            grant: UpstreamGrant::AuthorizationCode,
            display_name: "Keap".into(),
            sign_in: false,
            create_users: false,
            created_at: T0,
        };
        fakes.store.create_provider(&provider).await.unwrap();
        let vault = state.vault(&tenant).await.unwrap();
        let mut keys = Vec::new();
        for _ in 0..3 {
            let key = ConnectionKey {
                tenant: tenant.clone(),
                owner: Owner::User(UserId::generate()),
                provider: ProviderName::parse("keap").unwrap(),
            };
            let rt = fakes.upstream.grant();
            let body = serde_json::json!({"access_token": "at", "refresh_token": rt});
            let answer = read_token_answer(
                Preset::Keap.quirks(),
                &HttpAnswer {
                    status: 200,
                    body: body.to_string().into_bytes(),
                    retry_after: None,
                },
            )
            .unwrap();
            let new = crate::tokens::upstream::new_connection(
                &vault,
                key.clone(),
                Preset::Keap.quirks(),
                &answer,
                None,
                Now(T0),
            )
            .unwrap();
            fakes.store.connect(&new, Now(T0)).await.unwrap();
            keys.push(key);
        }
        (state, fakes, keys)
    }

    #[tokio::test]
    async fn idle_connections_are_refreshed_when_due_and_not_before() {
        let (state, fakes, keys) = world().await;
        let far = Instant::now() + Duration::from_secs(300);
        // Keap: refresh tokens die unused after 45 days; upkeep after 30.
        fakes.clock.advance(29 * 86_400);
        assert_eq!(refresh_due(&state, far).await, UpkeepReport::default());
        assert_eq!(fakes.upstream.refreshes(), 0);
        // The FakeUpstream model has one live grant: only the last
        // connection's refresh token is current, the others are refused.
        fakes.clock.advance(2 * 86_400);
        let report = refresh_due(&state, far).await;
        assert_eq!(
            report.refreshed + report.reconnect_required,
            3,
            "{report:?}"
        );
        assert_eq!(report.refreshed, 1, "{report:?}");
        assert_eq!(fakes.upstream.refreshes(), 3);
        let refreshed = fakes.store.connection_raw(&keys[2]).unwrap();
        assert_eq!(refreshed.status, Status::Active);
        assert!(refreshed.last_refresh_at.is_some(), "{refreshed:?}");
        assert!(refreshed.refresh_due_at.unwrap() > fakes.clock.now().secs() + 29 * 86_400);
        // Nothing is due any more: a second run calls no one.
        assert_eq!(refresh_due(&state, far).await, UpkeepReport::default());
        assert_eq!(fakes.upstream.refreshes(), 3);
    }

    #[tokio::test]
    async fn a_transient_failure_stays_due_and_a_short_run_starts_nothing() {
        let (state, fakes, keys) = world().await;
        fakes.clock.advance(31 * 86_400);
        let soon = Instant::now() + Duration::from_secs(5);
        let report = refresh_due(&state, soon).await;
        assert!(report.unfinished);
        assert_eq!(fakes.upstream.refreshes(), 0);
        for _ in 0..3 {
            fakes
                .upstream
                .push_fault(Fault::Answer(503, "busy".into(), None));
        }
        let report = refresh_due(&state, Instant::now() + Duration::from_secs(300)).await;
        assert_eq!(report.failed, 3, "{report:?}");
        let c = fakes.store.connection_raw(&keys[0]).unwrap();
        assert_eq!(c.status, Status::Degraded);
        // Still due after the cooldown.
        fakes.clock.advance(60);
        let page = fakes.store.due(fakes.clock.now(), 10, None).await.unwrap();
        assert_eq!(page.items.len(), 3);
    }
}
