//! Keys that rotate themselves (SPEC: Tokens): the maintenance function's
//! schedule driven with a controlled clock against DynamoDB Local and the
//! Secrets Manager emulator, and `key rotate`'s publish-then-sign rule.

use crate::helpers::*;
use serde_json::Value;
use tollgate::domain::key_rotation::{PROPAGATION, signs_from};

/// The kids the tenant publishes, read from the table (the discovery function
/// caches tenant records for 30 s).
async fn published(t: &TestTenant) -> Vec<String> {
    let tenant = db()
        .await
        .get_tenant(&t.tenant_id())
        .await
        .unwrap()
        .unwrap();
    let keys: Value = serde_json::from_str(&tenant.public_jwks).unwrap();
    keys.as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn admin_lib() -> tollgate::admin::Admin {
    tollgate::admin::Admin::new(config(), &sdk().await)
}

#[tokio::test]
async fn the_schedule_publishes_then_signs_then_retires() {
    let t = TestTenant::with(&["--key-rotation-days", "30"]).await;
    let a = admin_lib().await;
    let start = now_secs();
    let original = published(&t).await[0].clone();

    // Not due yet: nothing changes.
    let out = a
        .rotate_keys_due(start + 29 * 86_400, Some(&t.tenant_id()))
        .await
        .unwrap();
    assert_eq!(out["changed"].as_array().unwrap().len(), 0, "{out}");

    // Due: a next key is published, and the current one still signs.
    let due = start + 30 * 86_400 + 5;
    let out = a.rotate_keys_due(due, Some(&t.tenant_id())).await.unwrap();
    let change = &out["changed"][0];
    let next = change["next_kid"].as_str().expect("a next key").to_owned();
    assert_eq!(change["signing_kid"], original.as_str());
    let now_published = published(&t).await;
    assert!(now_published.contains(&next) && now_published.contains(&original));
    let signer = t.signer().await;
    assert_eq!(signer.kid(due + PROPAGATION - 1), original);
    assert_eq!(
        signer.kid(signs_from(due)),
        next,
        "signs after the caches expired"
    );

    // After the switch the old key stays published (tokens it signed live on)…
    let out = a
        .rotate_keys_due(signs_from(due) + 1, Some(&t.tenant_id()))
        .await
        .unwrap();
    assert_eq!(out["changed"][0]["signing_kid"], next.as_str());
    assert_eq!(out["changed"][0]["previous_kid"], original.as_str());
    assert!(published(&t).await.contains(&original));

    // …and leaves only when every token it signed has expired.
    let much_later = signs_from(due) + 2 * 86_400;
    a.rotate_keys_due(much_later, Some(&t.tenant_id()))
        .await
        .unwrap();
    assert_eq!(published(&t).await, [next]);
}

#[tokio::test]
async fn key_rotate_publishes_now_and_a_second_rotate_keeps_the_pending_key() {
    let t = TestTenant::new().await;
    let before = published(&t).await;
    let out = admin(&["key", "rotate", "--tenant", &t.alias], None).unwrap();
    let pending = out["kid"].as_str().unwrap().to_owned();
    assert_eq!(out["previous_kid"], before[0].as_str());
    assert!(out["signs_from"].as_u64().unwrap() >= now_secs() + PROPAGATION - 5);
    let again = admin(&["key", "rotate", "--tenant", &t.alias], None).unwrap();
    assert_eq!(again["kid"], pending.as_str(), "the pending key stays next");
    let now_published = published(&t).await;
    assert_eq!(now_published, [pending, before[0].clone()]);
    // Tokens are still signed with the published current key meanwhile.
    let c = t.client(&["--grant", "client_credentials"]).await;
    let (_, v) = t
        .token(Some(&c), &[("grant_type", "client_credentials")])
        .await;
    let header = jsonwebtoken::decode_header(v["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(before[0].as_str()));
}
