//! The contract of [`FederationStore`]: trusted issuers by exact name, links
//! per tenant, and the just-in-time user made at most once however many first
//! exchanges race (the link, the username pointer and the user all or nothing).

use super::{Outcome, Seed, Violation, join_all, new_user_id, sibling, user_record};
use crate::domain::records::TrustedIssuer;
use crate::ids::TenantId;
use crate::ports::StoreError;
use crate::ports::{BoxFuture, FederationStore, StoreResult, UserStore};
use crate::store::Db;
use crate::testing::fakes::FakeStore;

/// What `issuer add` writes, per backend.
pub trait IssuerSeed: Send + Sync {
    fn seed_issuer<'a>(&'a self, t: &'a TrustedIssuer) -> BoxFuture<'a, StoreResult<()>>;
}

impl IssuerSeed for FakeStore {
    fn seed_issuer<'a>(&'a self, t: &'a TrustedIssuer) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.put_trusted_issuer(t);
            Ok(())
        })
    }
}

impl IssuerSeed for Db {
    fn seed_issuer<'a>(&'a self, t: &'a TrustedIssuer) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.put_trusted_issuer(t))
    }
}

const ISS: &str = "https://idp.contract.example/tenant-1";

pub async fn federation_contract(
    fed: &dyn FederationStore,
    users: &dyn UserStore,
    seed: &dyn Seed,
    issuers: &dyn IssuerSeed,
    tenant: &TenantId,
) -> Outcome {
    let other = sibling(tenant)?;
    // Trusted issuers: exact names, per tenant.
    ensure!(
        fed.trusted_issuer(tenant, ISS).await?.is_none(),
        "an issuer never added is trusted"
    );
    let t = TrustedIssuer {
        tenant: tenant.clone(),
        issuer: ISS.into(),
        audiences: vec!["api://acme".into(), "acme-app".into()],
        jwks_uri: Some("https://idp.contract.example/keys".into()),
        create_users: true,
        created_at: 7,
    };
    issuers.seed_issuer(&t).await?;
    let read = fed.trusted_issuer(tenant, ISS).await?;
    ensure!(
        read.as_ref() == Some(&t),
        "the issuer reads back changed: {read:?}"
    );
    ensure!(
        fed.trusted_issuer(tenant, &format!("{ISS}/"))
            .await?
            .is_none(),
        "an issuer matched by prefix, not exactly"
    );
    ensure!(
        fed.trusted_issuer(&other, ISS).await?.is_none(),
        "another tenant's trusted issuer is trusted here"
    );

    // Links: absent until made; the first of racing creations wins alone.
    ensure!(
        fed.linked_user(tenant, ISS, "sub-1").await?.is_none(),
        "a link exists before any was made"
    );
    let racers: Vec<_> = (0..4)
        .map(|i| {
            Ok(user_record(
                tenant,
                &new_user_id()?,
                &format!("sub-1-racer-{i}@idp"),
            ))
        })
        .collect::<Result<_, Violation>>()?;
    let results = join_all(
        racers
            .iter()
            .map(|u| fed.create_linked_user(u, ISS, "sub-1"))
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    ensure!(
        winners.len() == 1,
        "racing first exchanges created {} users",
        winners.len()
    );
    for r in &results {
        ensure!(
            matches!(r, Ok(()) | Err(StoreError::AlreadyExists)),
            "a losing creation failed otherwise: {r:?}"
        );
    }
    let winner = &racers[winners[0]];
    let linked = fed.linked_user(tenant, ISS, "sub-1").await?;
    ensure!(
        linked.as_ref() == Some(&winner.user_id),
        "the link names {linked:?}, not the winner"
    );
    for (i, u) in racers.iter().enumerate() {
        let exists = users.user(tenant, &u.user_id).await?.is_some();
        ensure!(
            exists == (i == winners[0]),
            "racer {i}: user exists = {exists}"
        );
    }
    let by_name = users.user_by_username(tenant, &winner.username).await?;
    ensure!(
        by_name.is_some_and(|u| u.user_id == winner.user_id),
        "the created user has no username pointer"
    );
    ensure!(
        fed.linked_user(&other, ISS, "sub-1").await?.is_none(),
        "another tenant sees this tenant's link"
    );
    ensure!(
        fed.linked_user(tenant, ISS, "sub-2").await?.is_none()
            && fed
                .linked_user(tenant, "https://other-idp.example", "sub-1")
                .await?
                .is_none(),
        "a link answers for another subject or issuer"
    );

    // A taken username: nothing is written at all.
    let taken = user_record(tenant, &new_user_id()?, "taken-name");
    seed.seed_user(&taken).await?;
    let clash = user_record(tenant, &new_user_id()?, "TAKEN-name");
    let r = fed.create_linked_user(&clash, ISS, "sub-3").await;
    ensure!(
        matches!(r, Err(StoreError::AlreadyExists)),
        "a taken username: {r:?}"
    );
    ensure!(
        fed.linked_user(tenant, ISS, "sub-3").await?.is_none()
            && users.user(tenant, &clash.user_id).await?.is_none(),
        "a failed creation left a link or a user behind"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fake_federation_keeps_the_contract() {
        let f = FakeStore::new();
        let tenant = TenantId::parse("contract-fed").unwrap();
        if let Err(v) = federation_contract(&f, &f, &f, &f, &tenant).await {
            panic!("fakes: {v}");
        }
    }
}
