//! The contract of [`UpstreamTxStore`]: a transaction is written once, found
//! by its state hash until it expires, and taken exactly once — by the
//! browser it is bound to, never after expiry, never across tenants.

use super::{Outcome, Violation, join_all, new_client_id, new_user_id, sibling};
use crate::clock::Now;
use crate::crypto::random_token;
use crate::domain::upstream_tx::{ClientRequest, Leg, UpstreamTx, binding_hash, state_key};
use crate::ids::{ProviderName, TenantId};
use crate::ports::{BoxFuture, StoreError, StoreResult, UpstreamTxStore};

fn tx(tenant: &TenantId, binding: &str, now: Now) -> Result<UpstreamTx, Violation> {
    Ok(UpstreamTx {
        tenant: tenant.clone(),
        state_hash: state_key(&random_token(24)),
        binding_hash: binding_hash(binding),
        provider: ProviderName::parse("maximizer").map_err(|e| Violation(e.to_string()))?,
        leg: Leg::Connect(new_user_id()?),
        auth_time: now.secs(),
        client: ClientRequest {
            client_id: new_client_id()?,
            redirect_uri: "https://client.example/cb?x=1".into(),
            redirect_uri_in_request: true,
            scope: "openid upstream:maximizer".into(),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            // A client's state and nonce may hold any text, up to 4 KiB.
            nonce: Some("n \"0\" é".repeat(400)),
            state: Some("st <&> \u{1}".into()),
            lang: Some("fr".into()),
        },
        expires_at: now.plus(600),
    })
}

pub async fn upstream_tx_contract(s: &dyn UpstreamTxStore, tenant: &TenantId, now: Now) -> Outcome {
    let binding = random_token(32);
    let t = tx(tenant, &binding, now)?;
    s.put(&t).await?;
    ensure!(
        matches!(s.put(&t).await, Err(StoreError::AlreadyExists)),
        "a second put under the same state hash must be refused"
    );
    let got = s.get(tenant, &t.state_hash, now).await?;
    ensure!(
        got.as_ref() == Some(&t),
        "get returns what was put: {got:?}"
    );
    ensure!(
        s.get(&sibling(tenant)?, &t.state_hash, now)
            .await?
            .is_none(),
        "another tenant does not see it"
    );
    ensure!(
        s.get(tenant, &t.state_hash, Now(t.expires_at))
            .await?
            .is_none(),
        "an expired transaction is absent"
    );
    // Another browser's binding, another tenant, or after expiry: nothing
    // is taken, and the transaction stays for its own browser.
    let other = binding_hash(&random_token(32));
    ensure!(
        s.take(tenant, &t.state_hash, &other, now).await?.is_none(),
        "another browser's binding takes nothing"
    );
    ensure!(
        s.take(&sibling(tenant)?, &t.state_hash, &t.binding_hash, now)
            .await?
            .is_none(),
        "another tenant takes nothing"
    );
    ensure!(
        s.take(tenant, &t.state_hash, &t.binding_hash, Now(t.expires_at))
            .await?
            .is_none(),
        "an expired transaction is not taken"
    );
    // Ten concurrent takes by its own browser: exactly one wins.
    let takes: Vec<BoxFuture<'_, StoreResult<Option<UpstreamTx>>>> = (0..10)
        .map(|_| s.take(tenant, &t.state_hash, &t.binding_hash, now))
        .collect();
    let mut won = 0;
    for r in join_all(takes).await {
        if let Some(taken) = r? {
            ensure!(taken == t, "the take returns the transaction: {taken:?}");
            won += 1;
        }
    }
    ensure!(
        won == 1,
        "exactly one of 10 concurrent takes wins, not {won}"
    );
    ensure!(
        s.get(tenant, &t.state_hash, now).await?.is_none(),
        "a taken transaction is gone"
    );
    ensure!(
        s.take(tenant, &t.state_hash, &t.binding_hash, now)
            .await?
            .is_none(),
        "a taken transaction cannot be taken again"
    );
    // Optional fields absent round-trip as absent.
    let mut bare = tx(tenant, &binding, now)?;
    bare.client.code_challenge = None;
    bare.client.nonce = None;
    bare.client.state = None;
    bare.client.lang = None;
    bare.client.redirect_uri_in_request = false;
    s.put(&bare).await?;
    let got = s
        .take(tenant, &bare.state_hash, &bare.binding_hash, now)
        .await?;
    ensure!(
        got.as_ref() == Some(&bare),
        "absent fields stay absent: {got:?}"
    );
    // A sign-in's leg (with and without the connect) round-trips.
    for connect in [false, true] {
        let mut signin = tx(tenant, &binding, now)?;
        signin.leg = Leg::SignIn { connect };
        s.put(&signin).await?;
        let got = s
            .take(tenant, &signin.state_hash, &signin.binding_hash, now)
            .await?;
        ensure!(
            got.as_ref() == Some(&signin),
            "a sign-in transaction round-trips: {got:?}"
        );
    }
    Ok(())
}
