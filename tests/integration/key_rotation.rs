//! Keys that rotate themselves (SPEC: Tokens): the maintenance function's
//! schedule driven with a controlled clock against DynamoDB Local and the
//! Secrets Manager emulator, `key rotate`'s publish-then-sign rule, every key
//! that signed a live token kept in the tenant's published JWKS, a rotation
//! racing the maintenance (keys and JWKS always agree), and the maintenance
//! run itself (only the tenants due, resumed when its time runs out, one
//! failing tenant holding up no other).

use crate::fault_proxy::{Fault, FaultProxy, Ops, Service};
use crate::helpers::*;
use serde_json::Value;
use tollgate::admin::Admin;
use tollgate::admin::keys::{Budget, KeyOutcome};
use tollgate::admin::tenants::TenantOpts;
use tollgate::domain::key_rotation::{COMMIT_GRACE, PROPAGATION, RETRY_FAILED, signs_from};
use tollgate::ports::Directory;
use tollgate::store::{Db, KeyCommit};
use tollgate::testing::fakes::ManualClock;
use tollgate::tokens::keys::KeySet;

/// The kids the tenant publishes, read from the table (the discovery function
/// caches tenant records for 30 s).
async fn published(t: &TestTenant) -> Vec<String> {
    published_in(&db().await, &t.tenant_id()).await
}

async fn published_in(db: &Db, id: &tollgate::TenantId) -> Vec<String> {
    let tenant = db.tenant(id).await.unwrap().unwrap();
    let keys: Value = serde_json::from_str(&tenant.public_jwks).unwrap();
    keys.as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn admin_lib() -> Admin {
    crate::helpers::admin_over(config(), &sdk().await)
}

/// The key set as stored in Secrets Manager.
async fn stored_set(a: &Admin, id: &tollgate::TenantId) -> KeySet {
    let raw = tollgate::ports::SecretSource::fetch(&a.secrets, &a.config.signing_key_secret(id))
        .await
        .unwrap()
        .unwrap();
    serde_json::from_str(&raw).unwrap()
}

/// The two stores agree: the tenant item publishes exactly the key set's
/// keys, at the key set's generation, and every key it may sign with.
async fn assert_agree(a: &Admin, id: &tollgate::TenantId) -> KeySet {
    let t = a.db.get_tenant_consistent(id).await.unwrap().unwrap();
    let set = stored_set(a, id).await;
    assert_eq!(
        t.keys.generation, set.generation,
        "the key set is the one the tenant item's generation names"
    );
    assert_eq!(t.public_jwks, set.public_jwks(), "JWKS and key set agree");
    set
}

fn changed(o: KeyOutcome) -> Option<KeySet> {
    match o {
        KeyOutcome::Changed(s) => Some(s),
        KeyOutcome::Unchanged(_) => None,
        KeyOutcome::Busy => panic!("busy"),
    }
}

#[tokio::test]
async fn the_schedule_publishes_then_signs_then_retires() {
    let t = TestTenant::with(&["--key-rotation-days", "30"]).await;
    let a = admin_lib().await;
    let id = t.tenant_id();
    let start = now_secs();
    let original = published(&t).await[0].clone();

    // Not due yet: nothing changes.
    assert!(changed(a.upkeep(&id, start + 29 * 86_400).await.unwrap()).is_none());

    // Due: a next key is published, and the current one still signs.
    let due = start + 30 * 86_400 + 5;
    let set = changed(a.upkeep(&id, due).await.unwrap()).expect("a next key");
    let next = set.next.as_ref().unwrap().kid.clone();
    assert_eq!(set.signing(due).kid, original);
    let now_published = published(&t).await;
    assert!(now_published.contains(&next) && now_published.contains(&original));
    let signer = t.signer().await;
    assert_eq!(signer.kid(due + PROPAGATION - 1), original);
    assert_eq!(
        signer.kid(signs_from(due)),
        next,
        "signs after the caches expired"
    );
    assert_eq!(
        a.db.tenant(&id).await.unwrap().unwrap().keys.due,
        signs_from(due),
        "the maintenance looks again at the switch"
    );

    // After the switch the old key stays published (tokens it signed live on)…
    let set = changed(a.upkeep(&id, signs_from(due) + 1).await.unwrap()).unwrap();
    assert_eq!(set.current.kid, next);
    assert_eq!(set.retiring[0].kid, original);
    assert!(published(&t).await.contains(&original));

    // …and leaves only when every token it signed has expired.
    let much_later = signs_from(due) + 2 * 86_400;
    a.upkeep(&id, much_later).await.unwrap();
    assert_eq!(published(&t).await, [next]);
    assert_agree(&a, &id).await;
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

// ---- every key that signed a live token stays in the published JWKS ---------

#[tokio::test]
async fn three_key_rotates_391_seconds_apart_keep_every_key_that_signed_published() {
    let t = TestTenant::new().await;
    let a = admin_lib().await;
    let id = t.tenant_id();
    let k0 = published(&t).await[0].clone();
    let t0 = now_secs();
    let mut kids = vec![k0.clone()];
    for i in 0..3 {
        let out = a.rotate_key_at(&t.alias, t0 + i * 391).await.unwrap();
        kids.push(out["kid"].as_str().unwrap().to_owned());
    }
    // k0 signed until t0 + 390 (and warm copies 5 minutes more): its tokens
    // live 600 s. Every key is published, newest first.
    kids.reverse();
    assert_eq!(published(&t).await, kids);
    // The maintenance in between changes nothing of that…
    a.upkeep(&id, t0 + 800).await.unwrap();
    assert!(published(&t).await.contains(&k0));
    // …and retires k0 only after its last token expired.
    let k0_until = signs_from(t0) + 300 + 600 + 60;
    a.upkeep(&id, k0_until - 1).await.unwrap();
    assert!(published(&t).await.contains(&k0));
    a.upkeep(&id, k0_until).await.unwrap();
    assert!(!published(&t).await.contains(&k0));
    assert_agree(&a, &id).await;
}

#[tokio::test]
async fn a_sliding_maximum_longer_than_the_rotation_period_keeps_every_key_published() {
    // Tokens may live 30 days; keys rotate every day.
    let t = TestTenant::with(&["--sliding-max", "2592000", "--key-rotation-days", "1"]).await;
    let a = admin_lib().await;
    let id = t.tenant_id();
    let start = now_secs();
    let mut signed = vec![published(&t).await[0].clone()];
    // Hourly runs for four days: a rotation a day, each key switching in.
    for hour in 1..=4 * 24 {
        let now = start + hour * 3_600;
        if let Some(set) = changed(a.upkeep(&id, now).await.unwrap()) {
            let k = set.signing(now).kid.clone();
            if !signed.contains(&k) {
                signed.push(k);
            }
        }
    }
    assert!(signed.len() >= 4, "rotated daily: {signed:?}");
    let now_published = published(&t).await;
    for k in &signed {
        assert!(
            now_published.contains(k),
            "{k} signed tokens that live 30 days; published: {now_published:?}"
        );
    }
    // The first key leaves 30 days after it stopped signing, not before.
    let first_until = stored_set(&a, &id)
        .await
        .retiring
        .iter()
        .find(|r| r.kid == signed[0])
        .unwrap()
        .until;
    assert!(first_until >= start + 30 * 86_400);
    assert_agree(&a, &id).await;
}

// ---- a key change racing another: keys and JWKS always agree ----------------

/// An Admin whose calls go through `proxy`, without SDK timeouts (a parked
/// write waits as long as the test needs).
async fn admin_through(proxy: &FaultProxy) -> Admin {
    let sdk = proxy.sdk_config().await;
    Admin {
        config: config(),
        db: Db::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            std::env::var("TOLLGATE_TABLE").unwrap(),
        ),
        secrets: tollgate::store::secrets_manager::SecretsManager::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
        ),
    }
}

#[tokio::test]
async fn a_rotation_racing_the_maintenance_leaves_jwks_and_keys_agreeing() {
    let t = TestTenant::new().await;
    let id = t.tenant_id();
    let maintenance = admin_lib().await;
    let proxy = FaultProxy::start().await;
    proxy.plan(Service::SecretsManager, Ops::Writes, 0, Fault::Hold);
    let rotating = admin_through(&proxy).await;
    let now = now_secs();
    // The rotation commits the tenant's JWKS; its key set write is held.
    let alias = t.alias.clone();
    let rotation = tokio::spawn(async move { rotating.rotate_key_at(&alias, now).await });
    proxy.until_held(1).await;
    // The hourly run meanwhile: it must not write a JWKS from the key set
    // the rotation is replacing.
    let outcome = maintenance.upkeep(&id, now + 5).await.unwrap();
    assert!(
        matches!(outcome, KeyOutcome::Busy),
        "the maintenance waits for the rotation's key set"
    );
    proxy.release();
    let out = rotation.await.unwrap().unwrap();
    let pending = out["kid"].as_str().unwrap();
    let set = assert_agree(&maintenance, &id).await;
    assert_eq!(set.next.as_ref().unwrap().kid, pending);
    // And the other way round: the maintenance's key set is held while a
    // `key rotate` comes; the rotation waits, writes nothing, says so.
    let proxy = FaultProxy::start().await;
    proxy.plan(Service::SecretsManager, Ops::Writes, 0, Fault::Hold);
    let held = admin_through(&proxy).await;
    let id2 = id.clone();
    let switch = signs_from(now) + 1;
    let upkeep = tokio::spawn(async move { held.upkeep(&id2, switch).await.map(changed) });
    proxy.until_held(1).await;
    let e = maintenance
        .rotate_key_at(&t.alias, switch + 5)
        .await
        .unwrap_err();
    assert!(e.0.contains("run it again"), "{e}");
    proxy.release();
    let promoted = upkeep.await.unwrap().unwrap().unwrap();
    assert_eq!(promoted.current.kid, pending);
    assert_agree(&maintenance, &id).await;
}

#[tokio::test]
async fn a_key_change_abandoned_between_its_two_writes_is_carried_on_keeping_its_key_published() {
    let t = TestTenant::new().await;
    let id = t.tenant_id();
    let a = admin_lib().await;
    let proxy = FaultProxy::start().await;
    proxy.plan(Service::SecretsManager, Ops::Writes, 0, Fault::Refuse);
    let dying = admin_through(&proxy).await;
    let now = now_secs();
    // The JWKS (with the new key) is committed; the key set never arrives.
    assert!(dying.rotate_key_at(&t.alias, now).await.is_err());
    let lost = published(&t).await[0].clone();
    // While it may still arrive, nobody writes over it.
    assert!(matches!(
        a.upkeep(&id, now + 1).await.unwrap(),
        KeyOutcome::Busy
    ));
    // After that, the next writer carries on from the stored key set and
    // keeps the lost key published (should its key set land after all).
    let later = now + COMMIT_GRACE;
    changed(a.upkeep(&id, later).await.unwrap()).expect("repaired");
    let set = assert_agree(&a, &id).await;
    assert!(set.kids().contains(&lost.as_str()));
    // Rotations go on as usual.
    a.rotate_key_at(&t.alias, later + 10).await.unwrap();
    assert_agree(&a, &id).await;
}

#[tokio::test]
async fn concurrent_rotations_and_upkeeps_never_leave_a_signing_key_unpublished() {
    let t = TestTenant::new().await;
    let id = t.tenant_id();
    let now = now_secs();
    admin_lib()
        .await
        .rotate_key_at(&t.alias, now)
        .await
        .unwrap();
    // At the switch, rotations (promote, publish) and upkeeps (promote) at once.
    let at = signs_from(now);
    let mut runs = Vec::new();
    for i in 0..8u64 {
        let (alias, id) = (t.alias.clone(), id.clone());
        runs.push(tokio::spawn(async move {
            let a = admin_lib().await;
            let wrote = if i % 2 == 0 {
                a.rotate_key_at(&alias, at + i).await.is_ok()
            } else {
                matches!(a.upkeep(&id, at + i).await, Ok(KeyOutcome::Changed(_)))
            };
            // What a function could read (and sign with) right after.
            if wrote {
                Some(stored_set(&a, &id).await)
            } else {
                None
            }
        }));
    }
    let mut seen = Vec::new();
    for r in runs {
        seen.extend(r.await.unwrap());
    }
    assert!(!seen.is_empty());
    let a = admin_lib().await;
    a.upkeep(&id, at + 60).await.unwrap();
    let set = assert_agree(&a, &id).await;
    let final_kids = set.kids();
    for s in &seen {
        for k in [Some(&s.current), s.next.as_ref()].into_iter().flatten() {
            assert!(
                final_kids.contains(&k.kid.as_str()),
                "{} could sign (a key set that was stored) but is not published",
                k.kid
            );
        }
    }
}

#[tokio::test]
async fn key_commits_are_fenced_by_the_tenants_key_generation() {
    let t = TestTenant::new().await;
    let id = t.tenant_id();
    let db = db().await;
    let before = db.get_tenant_consistent(&id).await.unwrap().unwrap();
    let commit = |read_gen, jwks: &'static str| KeyCommit {
        public_jwks: jwks,
        current_kid: "k",
        alg: before.signing_alg,
        read_gen,
        read_jwks: "",
        at: 1,
        due: 2,
    };
    // The JWKS read must match too.
    assert!(!db.commit_keys(&id, &commit(0, "[]")).await.unwrap());
    let c = KeyCommit {
        read_jwks: &before.public_jwks,
        ..commit(0, "[\"one\"]")
    };
    assert!(db.commit_keys(&id, &c).await.unwrap());
    // A second writer that read generation 0 loses.
    assert!(!db.commit_keys(&id, &c).await.unwrap());
    let after = db.get_tenant_consistent(&id).await.unwrap().unwrap();
    assert_eq!(after.keys.generation, 1);
    assert_eq!((after.keys.changed_at, after.keys.due), (1, 2));
    // The schedule moves only at the generation it was computed for.
    assert!(!db.set_tenant_due(&id, 0, 50).await.unwrap());
    assert!(db.set_tenant_due(&id, 1, 50).await.unwrap());
    // A tenant being deleted takes no key change.
    assert!(db.mark_tenant_deleting(&id).await.unwrap());
    let c = KeyCommit {
        read_jwks: "[\"one\"]",
        ..commit(1, "[\"two\"]")
    };
    assert!(!db.commit_keys(&id, &c).await.unwrap());
    assert!(!db.set_tenant_due(&id, 1, 60).await.unwrap());
    admin(&["tenant", "delete", &t.alias], None).unwrap();
}

// ---- the maintenance run ---------------------------------------------------

/// A table of the test's own (the run goes through every due tenant of its
/// table), with an Admin on it.
struct OwnTable {
    admin: Admin,
    table: String,
}

impl OwnTable {
    fn config(table: &str) -> tollgate::Config {
        let name = table.to_owned();
        tollgate::Config::from_lookup(move |k| match k {
            "TOLLGATE_TABLE" => Some(name.clone()),
            _ => std::env::var(k).ok(),
        })
    }

    async fn new() -> OwnTable {
        let table = format!("tollgate-maint-{}", random_alias());
        let admin = crate::helpers::admin_over(Self::config(&table), &sdk().await);
        admin.db.create_table().await.unwrap();
        OwnTable { admin, table }
    }

    /// The same table, every call through `proxy` (which counts them).
    async fn through(&self, proxy: &FaultProxy) -> Admin {
        crate::helpers::admin_over(Self::config(&self.table), &proxy.sdk_config().await)
    }

    async fn tenant(&self, rotation_days: u64) -> tollgate::TenantId {
        let alias = random_alias();
        self.admin
            .create_tenant(
                &alias,
                TenantOpts {
                    name: None,
                    access_token_ttl: None,
                    refresh_token_ttl: None,
                    audiences: Vec::new(),
                    signing_alg: None,
                    sliding_max: None,
                    key_rotation_days: Some(rotation_days),
                },
            )
            .await
            .unwrap();
        tollgate::TenantId::parse(&alias).unwrap()
    }

    async fn drop_all(self, tenants: &[tollgate::TenantId]) {
        for t in tenants {
            let _ = self.admin.delete_tenant(t.as_str()).await;
        }
        aws_sdk_dynamodb::Client::new(&sdk().await)
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .unwrap();
    }
}

fn tenants_of(changed: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = changed
        .iter()
        .map(|c| c["tenant"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_maintenance_run_out_of_time_is_resumed_by_the_next_which_reads_only_tenants_due() {
    let own = OwnTable::new().await;
    let mut due = Vec::new();
    for _ in 0..5 {
        due.push(own.tenant(1).await);
    }
    let not_due = own.tenant(90).await;
    let clock = ManualClock::new(now_secs() + 2 * 86_400);
    // Time for two tenants.
    let first = own.admin.maintain(&clock, &Budget::steps(2)).await.unwrap();
    assert_eq!(first.changed.len(), 2, "{:?}", first.to_json());
    assert!(first.more, "time ran out with tenants left");
    // The next run goes on with the three left, and only those.
    let second = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(second.changed.len(), 3, "{:?}", second.to_json());
    assert!(!second.more);
    // (A new table has nothing to sweep in; the sweep, done, never runs again.)
    assert_eq!(second.swept, 0);
    assert!(own.admin.db.sweep().await.unwrap().done);
    let mut all = tenants_of(&first.changed);
    all.extend(tenants_of(&second.changed));
    all.sort();
    let mut want: Vec<String> = due.iter().map(|t| t.as_str().to_owned()).collect();
    want.sort();
    assert_eq!(all, want, "each due tenant once; never the one not due");
    // Nothing is due until the new keys switch in.
    let third = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert!(third.changed.is_empty(), "{:?}", third.to_json());
    clock.advance(PROPAGATION);
    let switched = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(tenants_of(&switched.changed), want);
    due.push(not_due);
    own.drop_all(&due).await;
}

#[tokio::test]
async fn a_tenant_whose_upkeep_fails_neither_stops_nor_reruns_the_others() {
    let own = OwnTable::new().await;
    let tenants = vec![
        own.tenant(1).await,
        own.tenant(1).await,
        own.tenant(1).await,
    ];
    let broken = &tenants[1];
    own.admin
        .secrets
        .put(
            &own.admin.config.signing_key_secret(broken),
            "not a key set",
        )
        .await
        .unwrap();
    let clock = ManualClock::new(now_secs() + 2 * 86_400);
    let run = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(run.changed.len(), 2, "{:?}", run.to_json());
    assert_eq!(run.failed.len(), 1);
    assert_eq!(run.failed[0]["tenant"], broken.as_str());
    assert!(run.into_result().is_err(), "the failure is reported");
    // A retry of the invocation (Lambda retries failed runs) reruns nobody:
    // it reads no tenant's keys at all.
    let proxy = FaultProxy::start().await;
    let retry = own
        .through(&proxy)
        .await
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(proxy.requests(Service::SecretsManager), 0);
    assert!(
        retry.changed.is_empty() && retry.failed.is_empty(),
        "{:?}",
        retry.to_json()
    );
    // The broken tenant is looked at again an hour later.
    clock.advance(RETRY_FAILED);
    let later = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(later.failed.len(), 1, "{:?}", later.to_json());
    own.drop_all(&tenants).await;
}

#[tokio::test]
async fn tenants_written_before_the_due_index_are_swept_in_once() {
    let own = OwnTable::new().await;
    let old = own.tenant(90).await;
    // As a tenant item written before the due index: no `dpk`, no `due`.
    aws_sdk_dynamodb::Client::new(&sdk().await)
        .update_item()
        .table_name(&own.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{old}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("TENANT".into()),
        )
        .update_expression("REMOVE dpk, due")
        .send()
        .await
        .unwrap();
    let clock = ManualClock::new(now_secs() + 91 * 86_400);
    let first = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(first.swept, 1, "{:?}", first.to_json());
    assert!(own.admin.db.sweep().await.unwrap().done);
    // Entered due at once: the next run looks after it; the sweep is over.
    let second = own
        .admin
        .maintain(&clock, &Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(second.swept, 0);
    assert_eq!(tenants_of(&second.changed), [old.as_str().to_owned()]);
    own.drop_all(&[old]).await;
}

#[tokio::test]
async fn a_new_token_lifetime_brings_the_tenant_back_to_the_maintenance() {
    let t = TestTenant::new().await;
    let db = db().await;
    let before = db.tenant(&t.tenant_id()).await.unwrap().unwrap();
    assert!(
        before.keys.due > now_secs() + 80 * 86_400,
        "due at the rotation"
    );
    // A retirement computed with the old lifetime must be looked at again.
    admin(
        &["tenant", "update", &t.alias, "--sliding-max", "86400"],
        None,
    )
    .unwrap();
    let after = db.tenant(&t.tenant_id()).await.unwrap().unwrap();
    assert!(after.keys.due <= now_secs(), "due at once");
    // A name alone changes nothing of the schedule.
    let a = admin_lib().await;
    a.upkeep(&t.tenant_id(), now_secs()).await.unwrap();
    let settled = db.tenant(&t.tenant_id()).await.unwrap().unwrap().keys.due;
    assert!(settled > now_secs() + 80 * 86_400);
    admin(&["tenant", "update", &t.alias, "--name", "Renamed"], None).unwrap();
    assert_eq!(
        db.tenant(&t.tenant_id()).await.unwrap().unwrap().keys.due,
        settled
    );
}
