//! The password-guess throttle (`domain::throttling`): one item per user key,
//! slots `s{i}` (reservation time) and `a{i}` (its source), and a version `v`.

use super::*;
use crate::domain::throttling::{Budget, Decision, Held, Slot, Source};
use crate::ports::{self, BoxFuture, StoreResult};

/// The slots of a throttle item, and its version (`None`: no version yet).
fn slots(item: &Item, budget: Budget) -> (Vec<Option<Held>>, Option<u64>) {
    let slots = (0..budget.all_sources)
        .map(|i| {
            Get(item).n(&format!("s{i}")).ok().map(|at| Held {
                at,
                // Items written before sources were recorded count as one
                // source of their own.
                source: Get(item).opt_s(&format!("a{i}")).unwrap_or_default(),
            })
        })
        .collect();
    (slots, Get(item).n("v").ok())
}

impl ports::ThrottleStore for Db {
    /// Reserves one slot for `k` *before* the expensive work. The decision is
    /// made on a strongly consistent read and written only if the item's
    /// version is still the one read (compare-and-swap): two racers can never
    /// both count the same free place, per source or overall.
    fn reserve<'a>(
        &'a self,
        tenant: &'a TenantId,
        k: &'a str,
        source: &'a Source,
        budget: Budget,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Reservation>> {
        Box::pin(async move {
            let item_key = key(tenant, sk::throttle(k));
            for _ in 0..budget.cas_attempts() {
                let item = self
                    .get_item(item_key.clone(), true)
                    .await?
                    .unwrap_or_default();
                let (held, version) = slots(&item, budget);
                let index = match ThrottleSlots(&held).decide(source, budget, now.secs()) {
                    Decision::Take(i) => i,
                    Decision::Deny { retry_after } => {
                        return Ok(Reservation::Denied { retry_after });
                    }
                };
                let mut update = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(item_key.clone()))
                    .update_expression(
                        "SET #s = :now, #a = :src, v = :next, expires_at = :exp, #ttl = :exp",
                    )
                    .expression_attribute_names("#s", format!("s{index}"))
                    .expression_attribute_names("#a", format!("a{index}"))
                    .expression_attribute_names("#ttl", TTL)
                    .expression_attribute_values(":now", n(now.secs()))
                    .expression_attribute_values(":src", s(source.as_str()))
                    .expression_attribute_values(":next", n(version.unwrap_or(0) + 1))
                    .expression_attribute_values(":exp", n(now.plus(budget.window)));
                update = match version {
                    None => update.condition_expression("attribute_not_exists(v)"),
                    Some(v) => update
                        .condition_expression("v = :seen")
                        .expression_attribute_values(":seen", n(v)),
                };
                match update.send().await {
                    Ok(_) => {
                        return Ok(Reservation::Granted(Slot {
                            index,
                            at: now.secs(),
                            source: source.as_str().to_owned(),
                        }));
                    }
                    Err(e) => match e.as_service_error() {
                        // Another reservation landed first: look again.
                        Some(se) if se.is_conditional_check_failed_exception() => continue,
                        _ => return Err(backend(e)),
                    },
                }
            }
            // Heavy contention on one user: refusing is the safe answer.
            Ok(Reservation::Denied { retry_after: 1 })
        })
    }

    /// Gives a slot back, only while it still holds that reservation. The
    /// version is left alone: freeing a place can only make a racer's view
    /// more cautious, never let it over-count.
    fn release<'a>(
        &'a self,
        tenant: &'a TenantId,
        k: &'a str,
        slot: &'a Slot,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(tenant, sk::throttle(k))))
                .update_expression("REMOVE #s, #a")
                .condition_expression("#s = :at AND #a = :src")
                .expression_attribute_names("#s", format!("s{}", slot.index))
                .expression_attribute_names("#a", format!("a{}", slot.index))
                .expression_attribute_values(":at", n(slot.at))
                .expression_attribute_values(":src", s(slot.source.as_str()))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) => match e.as_service_error() {
                    Some(se) if se.is_conditional_check_failed_exception() => Ok(()),
                    _ => Err(backend(e)),
                },
            }
        })
    }
}
