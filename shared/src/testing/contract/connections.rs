//! The contract of [`ConnectionStore`]: the storage side of exactly-once
//! refresh (research §4.2) — one lease among any number of concurrent
//! takers, the generation fence on lease and commit (never the lease owner),
//! the cooldown and health rules, removal and the two listings.

use super::{Outcome, Violation, join_all, new_user_id, sibling};
use crate::clock::Now;
use crate::crypto::random_token;
use crate::domain::connections::*;
use crate::ids::{ProviderName, TenantId};
use crate::ports::{BoxFuture, ConnectionStore, StoreResult};

fn provider(name: &str) -> Result<ProviderName, Violation> {
    ProviderName::parse(name).map_err(|e| Violation(e.to_string()))
}

fn sealed() -> Sealed {
    Sealed::from_stored(format!("v1.kid.{}", random_token(24)))
}

fn token(now: Now) -> CachedToken {
    CachedToken {
        sealed: sealed(),
        issued_at: now.secs(),
        expires_at: now.plus(600),
    }
}

fn new_connection(key: &ConnectionKey, now: Now) -> NewConnection {
    NewConnection {
        key: key.clone(),
        refresh_token: Some(sealed()),
        access_token: Some(token(now)),
        scope: "read write".into(),
        account: Some("acme-co".into()),
        refresh_due_at: Some(now.plus(86_400)),
    }
}

fn refreshed(key: &ConnectionKey, rotated: bool, now: Now) -> Refreshed {
    Refreshed {
        key: key.clone(),
        refresh_token: rotated.then(sealed),
        access_token: token(now),
        scope: None,
        refresh_due_at: None,
    }
}

async fn stored(s: &dyn ConnectionStore, k: &ConnectionKey) -> Result<Connection, Violation> {
    s.get(k)
        .await?
        .ok_or_else(|| Violation(format!("{:?}/{}: not found", k.owner, k.provider)))
}

pub async fn connections_contract(s: &dyn ConnectionStore, tenant: &TenantId, now: Now) -> Outcome {
    let user = Owner::User(new_user_id()?);
    let key = ConnectionKey {
        tenant: tenant.clone(),
        owner: user.clone(),
        provider: provider("maximizer")?,
    };
    ensure!(s.get(&key).await?.is_none(), "a connection before connect");

    // Connect: a first generation, everything as given, healthy. The first
    // generation is never 0 or 1 but starts from the clock (so a connection
    // removed and made again never meets its old generations); `g(n)` is the
    // n-th generation of this grant.
    let first = new_connection(&key, now);
    let c = s.connect(&first, now).await?;
    let g0 = c.generation;
    let g = |n: u64| g0 + n - 1;
    ensure!(
        g0 > now.secs() && c.status == Status::Active && c.lease.is_none(),
        "connect: {c:?}"
    );
    let got = stored(s, &key).await?;
    ensure!(got == c, "get after connect: {got:?} != {c:?}");
    ensure!(
        got.refresh_token == first.refresh_token
            && got.access_token == first.access_token
            && got.account.as_deref() == Some("acme-co")
            && got.connected_at == now.secs()
            && got.refresh_due_at == first.refresh_due_at,
        "connect did not store the grant: {got:?}"
    );

    // Exactly one of 20 concurrent leases wins.
    let until = now.plus(30);
    let owners: Vec<String> = (0..20).map(|i| format!("holder-{i}")).collect();
    let takers: Vec<BoxFuture<'_, StoreResult<Option<Leased>>>> = owners
        .iter()
        .map(|o| s.lease(&key, g(1), o, until, now))
        .collect();
    let mut winners = Vec::new();
    for r in join_all(takers).await {
        if let Some(l) = r? {
            winners.push(l);
        }
    }
    ensure!(
        winners.len() == 1,
        "{} of 20 concurrent leases won",
        winners.len()
    );
    let won = &winners[0];
    let holder = won.connection.lease.clone();
    ensure!(
        holder.as_ref().is_some_and(|l| l.until == until)
            && won.connection.attempt
                == Some(Attempt {
                    generation: g(1),
                    at: now.secs()
                })
            && won.previous_attempt.is_none()
            && !won.interrupted()
            && won.connection.refresh_token == first.refresh_token,
        "the lease's re-read: {won:?}"
    );
    ensure!(stored(s, &key).await?.lease == holder, "lease not stored");

    // A live lease cannot be retaken; at its last second neither; after, yes.
    ensure!(
        s.lease(&key, g(1), "late", until, Now(now.plus(10)))
            .await?
            .is_none(),
        "a live lease was retaken"
    );
    ensure!(
        s.lease(&key, g(1), "late", until + 30, Now(until))
            .await?
            .is_none(),
        "a lease was retaken at its last second"
    );
    // A stale generation can never lease, even once the lease expired.
    ensure!(
        s.lease(&key, g0 - 1, "stale", until + 30, Now(until + 1))
            .await?
            .is_none(),
        "a stale generation took the lease"
    );
    let second = s
        .lease(&key, g(1), "second", until + 30, Now(until + 1))
        .await?
        .ok_or_else(|| Violation("an expired lease could not be retaken".into()))?;
    // The first holder's attempt on this generation never committed.
    ensure!(
        second.interrupted(),
        "an interrupted attempt went unnoticed: {second:?}"
    );

    // The slow first holder still commits its successor: nobody advanced the
    // generation (the fence is the generation, not the lease owner). Without
    // a new refresh token the old ciphertext is kept.
    let slow = refreshed(&key, false, Now(until + 2));
    ensure!(
        s.commit(&slow, g(1), Now(until + 2)).await?,
        "the slow holder's commit was refused"
    );
    let c = stored(s, &key).await?;
    ensure!(
        c.generation == g(2)
            && c.refresh_token == first.refresh_token
            && c.access_token.as_ref() == Some(&slow.access_token)
            && c.lease.is_none()
            && c.status == Status::Active
            && c.last_refresh_at == Some(until + 2),
        "commit without a refresh token: {c:?}"
    );
    // The second holder (same generation) can no longer commit, nor anyone
    // with the stale generation lease.
    let lost = refreshed(&key, true, Now(until + 3));
    ensure!(
        !s.commit(&lost, g(1), Now(until + 3)).await?,
        "a stale generation committed"
    );
    ensure!(
        s.lease(&key, g(1), "x", until + 60, Now(until + 3))
            .await?
            .is_none(),
        "a stale generation leased after a commit"
    );
    ensure!(
        stored(s, &key).await?.refresh_token == first.refresh_token,
        "a refused commit wrote"
    );

    // A rotated refresh token replaces the old ciphertext.
    let t = Now(until + 10);
    ensure!(
        s.lease(&key, g(2), "third", t.plus(30), t).await?.is_some(),
        "lease of generation 2"
    );
    let rotated = refreshed(&key, true, t);
    ensure!(s.commit(&rotated, g(2), t).await?, "commit of generation 2");
    let c = stored(s, &key).await?;
    ensure!(
        c.generation == g(3) && c.refresh_token == rotated.refresh_token,
        "rotation not stored: {c:?}"
    );

    // A slow holder whose lease expired cannot commit once someone advanced
    // the generation.
    ensure!(
        s.lease(&key, g(3), "slow", t.plus(30), t).await?.is_some(),
        "lease of generation 3"
    );
    let t2 = Now(t.plus(31));
    ensure!(
        s.lease(&key, g(3), "fast", t2.plus(30), t2)
            .await?
            .is_some(),
        "expired lease of generation 3"
    );
    let fast = refreshed(&key, true, t2);
    ensure!(s.commit(&fast, g(3), t2).await?, "the fast holder's commit");
    ensure!(
        !s.commit(&refreshed(&key, true, t2), g(3), t2).await?,
        "the slow holder overwrote its successor"
    );
    ensure!(
        stored(s, &key).await?.refresh_token == fast.refresh_token,
        "the successor was lost"
    );

    failures(s, &key, g(4), Now(t2.plus(100))).await?;
    reconnect_and_remove(s, &key, now).await?;
    listings(s, tenant, &user, now).await?;
    due_listing(s, tenant).await
}

/// The upkeep's work list: due connections only, the longest overdue
/// first, paged; a commit moves one out (its new due time), a dead grant
/// leaves it. The times are far in the past, unique to this run, so other
/// tests' connections (due months from now) never interfere; leftovers of
/// other runs are skipped by tenant.
async fn due_listing(s: &dyn ConnectionStore, tenant: &TenantId) -> Outcome {
    let base = 1_000_000 + u64::from(crate::crypto::random_bytes::<2>()[0]) * 1000;
    let mut keys = Vec::new();
    for (i, due) in [
        (0u64, base + 30),
        (1, base + 10),
        (2, base + 20),
        (3, base + 500),
    ] {
        let key = ConnectionKey {
            tenant: tenant.clone(),
            owner: Owner::User(new_user_id()?),
            provider: provider(&format!("due{i}"))?,
        };
        let mut new = new_connection(&key, Now(base));
        new.refresh_due_at = Some(due);
        let generation = s.connect(&new, Now(base)).await?.generation;
        keys.push((key, generation));
    }
    let mine = |page: &crate::ports::ConnectionPage| -> Vec<String> {
        page.items
            .iter()
            .filter(|c| &c.key.tenant == tenant)
            .map(|c| c.key.provider.to_string())
            .collect()
    };
    let at = Now(base + 100);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = s.due(at, 2, cursor.as_deref()).await?;
        ensure!(page.items.len() <= 2, "a page over its limit");
        seen.extend(mine(&page));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    ensure!(
        seen == ["due1", "due2", "due0"],
        "due at {}: {seen:?}, expected due1, due2, due0 (due3 is not due yet)",
        at.secs()
    );
    // A commit moves its connection's due time on; a dead grant leaves the list.
    let mut r = refreshed(&keys[1].0, true, at);
    r.refresh_due_at = Some(base + 10_000);
    ensure!(s.commit(&r, keys[1].1, at).await?, "commit of due1");
    let dead = Failure::Dead {
        reason: "invalid_grant".into(),
    };
    ensure!(
        s.record_failure(&keys[2].0, keys[2].1, &dead, at).await?,
        "due2 marked dead"
    );
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = s.due(at, 50, cursor.as_deref()).await?;
        seen.extend(mine(&page));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    ensure!(seen == ["due0"], "after a commit and a death: {seen:?}");
    for (k, _) in &keys {
        s.remove(k).await?;
    }
    Ok(())
}

/// Transient failures degrade and cool down but never kill the grant; a dead
/// one does, and then nothing leases it.
async fn failures(
    s: &dyn ConnectionStore,
    key: &ConnectionKey,
    generation: u64,
    now: Now,
) -> Outcome {
    let mut t = now;
    for i in 1..=5u32 {
        ensure!(
            s.lease(key, generation, "h", t.plus(30), t)
                .await?
                .is_some(),
            "lease before failure {i}"
        );
        let retry_at = t.plus(30);
        // The first failure's outcome is unknown (its attempt stays), the
        // others' are known (their attempts are cleared).
        let transient = Failure::Transient {
            class: "upstream_5xx".into(),
            retry_at,
            outcome_unknown: i == 1,
        };
        ensure!(
            s.record_failure(key, generation, &transient, t).await?,
            "transient failure {i} not recorded"
        );
        let c = stored(s, key).await?;
        ensure!(
            c.status == Status::Degraded
                && c.failures == i
                && c.reason.as_deref() == Some("upstream_5xx")
                && c.lease
                    .as_ref()
                    .is_some_and(|l| l.is_cooldown() && l.until == retry_at)
                && c.attempt.is_some() == (i == 1),
            "after {i} transient failures (attempt kept only when the outcome is unknown): {c:?}"
        );
        // The cooldown: nobody calls the provider again before retry_at.
        ensure!(
            s.lease(key, generation, "h2", t.plus(60), Now(retry_at))
                .await?
                .is_none(),
            "leased during the cooldown"
        );
        t = Now(retry_at + 1);
    }
    // A failure of a stale generation records nothing.
    let dead = Failure::Dead {
        reason: "invalid_grant".into(),
    };
    ensure!(
        !s.record_failure(key, generation - 1, &dead, t).await?,
        "a stale failure was recorded"
    );
    ensure!(
        stored(s, key).await?.status == Status::Degraded,
        "a stale failure changed the status"
    );
    // A degraded connection can still be leased and refreshed: healthy again.
    ensure!(
        s.lease(key, generation, "h", t.plus(30), t)
            .await?
            .is_some(),
        "a degraded connection could not be leased"
    );
    ensure!(
        s.commit(&refreshed(key, true, t), generation, t).await?,
        "commit after failures"
    );
    let c = stored(s, key).await?;
    ensure!(
        c.status == Status::Active && c.failures == 0 && c.reason.is_none(),
        "recovery: {c:?}"
    );
    // Dead: reconnect_required with its reason; no lease, and a transient
    // failure cannot bring it back.
    let g = generation + 1;
    ensure!(
        s.lease(key, g, "h", t.plus(30), t).await?.is_some(),
        "lease before the dead failure"
    );
    ensure!(
        s.record_failure(key, g, &dead, t).await?,
        "dead failure not recorded"
    );
    let c = stored(s, key).await?;
    ensure!(
        c.status == Status::ReconnectRequired
            && c.reason.as_deref() == Some("invalid_grant")
            && c.lease.is_none(),
        "after a dead failure: {c:?}"
    );
    let late = Now(t.plus(100));
    ensure!(
        s.lease(key, g, "h", late.plus(30), late).await?.is_none(),
        "a dead grant was leased"
    );
    let transient = Failure::Transient {
        class: "timeout".into(),
        retry_at: late.plus(30),
        outcome_unknown: true,
    };
    ensure!(
        !s.record_failure(key, g, &transient, late).await?,
        "a transient failure was recorded over a dead grant"
    );
    ensure!(
        stored(s, key).await?.status == Status::ReconnectRequired,
        "a transient failure revived a dead grant"
    );
    Ok(())
}

/// A reconnect starts a newer generation and heals the connection; removal
/// hands back what was stored.
async fn reconnect_and_remove(s: &dyn ConnectionStore, key: &ConnectionKey, now: Now) -> Outcome {
    let before = stored(s, key).await?;
    let mut fresh = new_connection(key, now);
    fresh.account = None;
    fresh.access_token = None;
    let c = s.connect(&fresh, now).await?;
    ensure!(
        c.generation > before.generation
            && c.status == Status::Active
            && c.reason.is_none()
            && c.failures == 0
            && c.lease.is_none()
            && c.attempt.is_none()
            && c.account.is_none()
            && c.access_token.is_none()
            && c.refresh_token == fresh.refresh_token,
        "reconnect: {c:?}"
    );
    ensure!(stored(s, key).await? == c, "get after reconnect");
    // A holder of the old grant cannot commit over the new one.
    ensure!(
        !s.commit(&refreshed(key, true, now), before.generation, now)
            .await?,
        "an old grant's commit landed on a new one"
    );
    let removed = s.remove(key).await?;
    ensure!(removed.as_ref() == Some(&c), "remove returned {removed:?}");
    ensure!(
        s.get(key).await?.is_none(),
        "a removed connection is still there"
    );
    ensure!(
        s.remove(key).await?.is_none(),
        "removing twice found something"
    );
    // Made again after the removal: its generations start from the clock and
    // a random offset (here the same second: only the offset differs), so
    // they are not the removed grant's, and nothing a holder of the removed
    // grant does lands on it.
    let again = s.connect(&new_connection(key, now), now).await?;
    ensure!(
        again.generation != c.generation && again.generation != c.generation + 1,
        "a connection made again reused generation {} (had {})",
        again.generation,
        c.generation
    );
    ensure!(
        !s.commit(&refreshed(key, true, now), c.generation, now)
            .await?
            && !s
                .record_failure(
                    key,
                    c.generation,
                    &Failure::Dead {
                        reason: "invalid_grant".into()
                    },
                    now
                )
                .await?,
        "the removed grant's holder wrote on the new one"
    );
    s.remove(key).await?;
    Ok(())
}

async fn listings(s: &dyn ConnectionStore, tenant: &TenantId, user: &Owner, now: Now) -> Outcome {
    let other_user = Owner::User(new_user_id()?);
    let other_tenant = sibling(tenant)?;
    let (keap, maxi, profix) = (
        provider("keap")?,
        provider("maximizer")?,
        provider("profix")?,
    );
    let at = |t: &TenantId, o: &Owner, p: &ProviderName| ConnectionKey {
        tenant: t.clone(),
        owner: o.clone(),
        provider: p.clone(),
    };
    let keys = [
        at(tenant, user, &maxi),
        at(tenant, user, &keap),
        at(tenant, &other_user, &maxi),
        at(tenant, &Owner::Service, &profix),
        at(tenant, &Owner::Service, &maxi),
        at(&other_tenant, user, &maxi),
    ];
    for k in &keys {
        s.connect(&new_connection(k, now), now).await?;
    }
    let names = |v: &[Connection]| {
        v.iter()
            .map(|c| format!("{}/{}", c.key.owner.as_key(), c.key.provider))
            .collect::<Vec<_>>()
    };
    let mine = s.list_for_owner(tenant, user).await?;
    ensure!(
        names(&mine)
            == [
                format!("{}/keap", user.as_key()),
                format!("{}/maximizer", user.as_key())
            ],
        "by owner: {:?}",
        names(&mine)
    );
    let service = s.list_for_owner(tenant, &Owner::Service).await?;
    ensure!(
        names(&service) == ["~/maximizer", "~/profix"],
        "service: {:?}",
        names(&service)
    );
    let nobody = s
        .list_for_owner(tenant, &Owner::User(new_user_id()?))
        .await?;
    ensure!(nobody.is_empty(), "a stranger has connections");

    // By tenant and provider, a page of 1 at a time: every maximizer
    // connection of this tenant, each once, none of the sibling tenant's.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let page = s
            .list_for_tenant(tenant, Some(&maxi), 1, cursor.as_deref())
            .await?;
        ensure!(
            page.items.len() <= 1,
            "a page of 1 held {}",
            page.items.len()
        );
        seen.extend(page.items);
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let mut got = names(&seen);
    got.sort();
    let mut want = vec![
        format!("{}/maximizer", user.as_key()),
        format!("{}/maximizer", other_user.as_key()),
        "~/maximizer".to_owned(),
    ];
    want.sort();
    ensure!(got == want, "by tenant and provider: {got:?} != {want:?}");
    let all = s.list_for_tenant(tenant, None, 100, None).await?;
    ensure!(
        all.items.len() == 5 && all.next.is_none(),
        "by tenant: {:?}",
        names(&all.items)
    );
    ensure!(
        all.items.iter().all(|c| c.key.tenant == *tenant),
        "another tenant's connection listed"
    );
    for k in &keys {
        s.remove(k).await?;
    }
    ensure!(
        s.list_for_tenant(tenant, None, 100, None)
            .await?
            .items
            .is_empty(),
        "connections left after removal"
    );
    Ok(())
}
