//! Storage primitives against DynamoDB Local: consume-once, expiry on read,
//! atomic rotation, family revocation.

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;
use tollgate::clock::Now;
use tollgate::crypto::{random_token, token_hash};
use tollgate::domain::records::{AuthCode, Family, RefreshChain};
use tollgate::ports::{CodeStore, RefreshStore, StoreError};
use tollgate::{ClientId, UserId};

fn code_for(t: &TestTenant, code: &str, expires_at: u64) -> AuthCode {
    AuthCode {
        tenant: t.tenant_id(),
        code_hash: token_hash(code),
        client_id: ClientId::parse("abcdefghij0123456789").unwrap(),
        redirect_uri: REDIRECT.into(),
        redirect_uri_in_request: true,
        scope: "api".into(),
        code_challenge: None,
        nonce: None,
        user_id: UserId::parse("user1").unwrap(),
        auth_time: 1,
        expires_at,
        family_id: None,
    }
}

fn family(t: &TestTenant, id: &str, now: Now) -> Family {
    Family {
        tenant: t.tenant_id(),
        family_id: id.into(),
        client_id: ClientId::parse("abcdefghij0123456789").unwrap(),
        user_id: UserId::parse("user1").unwrap(),
        pwd_version: 0,
        revoked: false,
        created_at: now.secs(),
        expires_at: now.plus(3600),
        auth_time: Some(now.secs()),
        refresh: Some(chain(now, 3600)),
    }
}

fn chain(now: Now, ttl: u64) -> RefreshChain {
    tollgate::testing::contract::chain_record(now, ttl)
}

fn next(c: &RefreshChain, now: Now) -> RefreshChain {
    tollgate::testing::contract::next_of(c, now, "")
}

#[tokio::test]
async fn consume_once_has_exactly_one_winner_among_20_concurrent_callers() {
    let t = TestTenant::new().await;
    let db = db().await;
    let now = Now::system();
    let code = random_token(32);
    CodeStore::put(&db, &code_for(&t, &code, now.plus(60)))
        .await
        .unwrap();
    let hash = token_hash(&code);
    let results = join_all((0..20).map(|i| {
        let db = db.clone();
        let tenant = t.tenant_id();
        let hash = hash.clone();
        async move {
            db.consume_code(&tenant, &hash, &format!("fam{i}"), now)
                .await
                .unwrap()
        }
    }))
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one caller gets the code");
    let winner_family = winners[0].family_id.clone().unwrap();
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        let seen = r.as_ref().expect("losers see the consumed code");
        assert_eq!(seen.family_id.as_deref(), Some(winner_family.as_str()));
    }
}

#[tokio::test]
async fn create_if_absent_refuses_a_second_create() {
    let t = TestTenant::new().await;
    let db = db().await;
    let c = code_for(&t, "same-code", Now::system().plus(60));
    CodeStore::put(&db, &c).await.unwrap();
    assert!(matches!(
        CodeStore::put(&db, &c).await,
        Err(StoreError::AlreadyExists)
    ));
}

#[tokio::test]
async fn expired_items_still_in_the_table_are_absent() {
    let t = TestTenant::new().await;
    let db = db().await;
    let now = Now::system();
    // Expired a second ago: DynamoDB's TTL sweeper has certainly not deleted it.
    let code = random_token(32);
    CodeStore::put(&db, &code_for(&t, &code, now.secs() - 1))
        .await
        .unwrap();
    let r = db
        .consume_code(&t.tenant_id(), &token_hash(&code), "f", now)
        .await
        .unwrap();
    assert!(r.is_err(), "an expired code cannot be consumed");

    // A family whose current token expired a second ago rotates no more;
    // one whose own expiry passed reads as absent.
    let mut f = family(&t, &random_token(16), now);
    f.refresh = Some(chain(Now(now.secs() - 3600), 3599));
    db.put_family_raw(&f).await.unwrap();
    let c = f.refresh.clone().unwrap();
    assert!(
        !db.rotate(&f, &next(&c, now), now.plus(3600), now)
            .await
            .unwrap()
    );
    assert!(
        db.rotate(&f, &next(&c, now), now.plus(3600), Now(now.secs() - 10))
            .await
            .unwrap(),
        "the same item rotates for a writer whose clock is before its expiry"
    );
    let mut f = family(&t, "expired-fam", now);
    f.expires_at = now.secs() - 1;
    db.put_family_raw(&f).await.unwrap();
    assert!(
        db.family(&t.tenant_id(), "expired-fam", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.family(&t.tenant_id(), "expired-fam", Now(now.secs() - 10))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn failed_rotate_leaves_the_current_token_usable() {
    let t = TestTenant::new().await;
    let db = db().await;
    let now = Now::system();
    let f = family(&t, &random_token(16), now);
    db.put_family_raw(&f).await.unwrap();
    let c1 = f.refresh.clone().unwrap();

    // A rotation from a stale read (someone else's current token) fails...
    let stale = Family {
        refresh: Some(chain(now, 3600)),
        ..f.clone()
    };
    assert!(
        !db.rotate(&stale, &next(&c1, now), now.plus(3600), now)
            .await
            .unwrap()
    );
    // ...and leaves the current token as it was, rotatable.
    let read = db
        .family(&t.tenant_id(), &f.family_id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.refresh.as_ref(), Some(&c1));
    let c2 = next(&c1, now);
    assert!(db.rotate(&read, &c2, now.plus(3600), now).await.unwrap());
    let after = db
        .family(&t.tenant_id(), &f.family_id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.refresh.as_ref(), Some(&c2));
    // A second rotation from the same read is refused.
    assert!(
        !db.rotate(&read, &next(&c1, now), now.plus(3600), now)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn revoked_family_cannot_rotate() {
    let t = TestTenant::new().await;
    let db = db().await;
    let now = Now::system();
    let f = family(&t, &random_token(16), now);
    db.put_family_raw(&f).await.unwrap();
    db.revoke_family(&t.tenant_id(), &f.family_id, now)
        .await
        .unwrap();
    assert!(
        db.family(&t.tenant_id(), &f.family_id, now)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let c = f.refresh.clone().unwrap();
    assert!(
        !db.rotate(&f, &next(&c, now), now.plus(3600), now)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn hot_items_of_one_tenant_each_have_their_own_partition_key() {
    let t = TestTenant::new().await;
    t.user("spread", &[]).await;
    let c = t.code_client().await;
    // A failed login (a throttle item), a login (login transaction and code),
    // a code exchange (the family with its refresh token), a refresh (the
    // same family item, rotated).
    let page = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
        ])
        .await
        .text()
        .await
        .unwrap();
    t.submit(&page, "spread", "wrong", "allow").await;
    let code = t.code(&c, &[], "spread").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t.refresh(&c, v["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let items = db().await.tenant_items(&t.tenant_id()).await.unwrap();
    let tenant_pk = format!("T#{}", t.alias);
    let mut hot: Vec<&str> = Vec::new();
    for i in &items {
        if i.partition_key == tenant_pk {
            // Only the tenant and its clients share the tenant's partition.
            assert!(
                i.sort_key == "TENANT" || i.sort_key.starts_with("CLIENT#"),
                "{} lives in the tenant partition",
                i.sort_key
            );
        } else {
            assert!(i.partition_key.starts_with(&format!("{tenant_pk}#")));
            hot.push(&i.partition_key);
        }
    }
    let kinds: std::collections::BTreeSet<&str> = items
        .iter()
        .map(|i| i.sort_key.split('#').next().unwrap())
        .collect();
    for kind in ["USER", "UNAME", "THR", "TX", "CODE", "FAM"] {
        assert!(kinds.contains(kind), "no {kind} item among {kinds:?}");
    }
    assert!(
        !kinds.contains("RT"),
        "refresh tokens live on their family item, not items of their own: {kinds:?}"
    );
    let distinct: std::collections::BTreeSet<&&str> = hot.iter().collect();
    assert_eq!(
        distinct.len(),
        hot.len(),
        "every hot item has a partition key of its own: {hot:#?}"
    );
    println!("partition keys of one login + exchange + refresh: {hot:#?}");
}
