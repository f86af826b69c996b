//! The contract of [`ProviderStore`]: create-if-absent, read and list per
//! tenant, an update that changes only the fields it names (on an existing
//! provider only, concurrent updates of different fields both kept), and a
//! remove that returns what it removed, once.

use super::{Outcome, Violation, join_all, sibling};
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::ids::TenantId;
use crate::ports::StoreError;
use crate::ports::{BoxFuture, ProviderChanges, ProviderStore, StoreResult};
use std::collections::BTreeMap;

fn record(tenant: &TenantId, name: &str) -> Provider {
    Provider {
        tenant: tenant.clone(),
        name: name.to_owned(),
        preset: Preset::Maximizer,
        vars: BTreeMap::from([
            ("region".to_owned(), "caw".to_owned()),
            ("company_alias".to_owned(), "whitecaps".to_owned()),
        ]),
        endpoints: Endpoints {
            authorize: Some("https://caw.maximizercrmlive.com/OAuth2/whitecaps/Authorize".into()),
            token: "https://caw.maximizercrmlive.com/OAuth2/whitecaps/Token".into(),
            refresh: Some("https://refresh.contract.example/token".into()),
            revocation: None,
            password_change: None,
            issuer: None,
            jwks_uri: None,
        },
        client_id: "abcdefghij0123456789".into(),
        has_client_secret: true,
        scopes: vec!["read".into(), "write".into()],
        grant: UpstreamGrant::AuthorizationCode,
        display_name: "Maximizer".into(),
        sign_in: false,
        create_users: false,
        created_at: 11,
    }
}

pub async fn providers_contract(store: &dyn ProviderStore, tenant: &TenantId) -> Outcome {
    let other = sibling(tenant)?;
    ensure!(
        store.provider(tenant, "crm").await?.is_none(),
        "a provider never added is read"
    );
    let p = record(tenant, "crm");
    store.create_provider(&p).await?;
    let read = store.provider(tenant, "crm").await?;
    ensure!(
        read.as_ref() == Some(&p),
        "the provider reads back changed: {read:?}"
    );
    ensure!(
        store.provider(&other, "crm").await?.is_none(),
        "a provider is read from another tenant"
    );
    // Create-if-absent.
    let mut again = record(tenant, "crm");
    again.client_id = "another".into();
    match store.create_provider(&again).await {
        Err(StoreError::AlreadyExists) => {}
        r => return Err(Violation(format!("a second add of a name gave {r:?}"))),
    }
    ensure!(
        store.provider(tenant, "crm").await?.map(|p| p.client_id) == Some(p.client_id.clone()),
        "a refused add overwrote the provider"
    );
    // Two concurrent adds of one name: exactly one wins.
    let (a, b) = (record(tenant, "race"), record(tenant, "race"));
    let results = join_all(vec![store.create_provider(&a), store.create_provider(&b)]).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    ensure!(
        won == 1,
        "{won} of two concurrent adds of one name succeeded"
    );
    // Lists: the tenant's only.
    let oddball = record(&other, "elsewhere");
    store.create_provider(&oddball).await?;
    let mut names: Vec<String> = store
        .providers(tenant)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    ensure!(names == ["crm", "race"], "the tenant lists {names:?}");
    // Update: the named fields only, on an existing provider only.
    let missing = ProviderChanges {
        display_name: Some("x".into()),
        ..ProviderChanges::default()
    };
    ensure!(
        store
            .update_provider(tenant, "nope", &missing)
            .await?
            .is_none(),
        "an update created a provider"
    );
    ensure!(
        store.provider(tenant, "nope").await?.is_none(),
        "an update of a missing provider wrote one"
    );
    let c1 = ProviderChanges {
        display_name: Some("Maximizer CRM".into()),
        refresh_url: Some(None),
        ..ProviderChanges::default()
    };
    let c2 = ProviderChanges {
        scopes: Some(vec!["read".into()]),
        has_client_secret: Some(false),
        revocation_url: Some(Some("https://revoke.contract.example/r".into())),
        ..ProviderChanges::default()
    };
    let both: Vec<BoxFuture<'_, StoreResult<Option<Provider>>>> = vec![
        store.update_provider(tenant, "crm", &c1),
        store.update_provider(tenant, "crm", &c2),
    ];
    for r in join_all(both).await {
        ensure!(r?.is_some(), "an update of an existing provider found none");
    }
    let mut want = p.clone();
    want.display_name = "Maximizer CRM".into();
    want.endpoints.refresh = None;
    want.scopes = vec!["read".into()];
    want.has_client_secret = false;
    want.endpoints.revocation = Some("https://revoke.contract.example/r".into());
    let read = store.provider(tenant, "crm").await?;
    ensure!(
        read.as_ref() == Some(&want),
        "concurrent updates of different fields did not both land: {read:?}"
    );
    // Remove: what was there, once; the other tenant's untouched.
    let removed = store.remove_provider(tenant, "crm").await?;
    ensure!(
        removed.as_ref() == Some(&want),
        "remove returned {removed:?}"
    );
    ensure!(
        store.remove_provider(tenant, "crm").await?.is_none(),
        "a provider was removed twice"
    );
    ensure!(
        store.provider(tenant, "crm").await?.is_none(),
        "a removed provider is read"
    );
    ensure!(
        store.provider(&other, "elsewhere").await?.is_some(),
        "another tenant's provider went"
    );
    store.remove_provider(tenant, "race").await?;
    store.remove_provider(&other, "elsewhere").await?;
    Ok(())
}
