//! The password-check throttle: reserve a slot before checking.

use super::*;
use crate::ports::{self, BoxFuture, StoreResult};

impl Db {
    // ---- throttling --------------------------------------------------------

    /// Reserves one attempt for `k` *before* the expensive work: at most `max`
    /// reservations in any `window` seconds (a sliding window, no edge), however
    /// many callers race. The item keeps the times of the last `max`
    /// reservations in slots `s0…`; a reservation takes a slot that is free or
    /// older than the window by one conditional write on that slot's old value
    /// (compare-and-swap), so two racers can never take the same slot.
    pub async fn throttle_reserve(
        &self,
        tenant: &TenantId,
        k: &str,
        max: usize,
        window: u64,
        now: Now,
    ) -> Result<Reservation, StoreError> {
        let item_key = key(tenant, sk::throttle(k));
        for _ in 0..THROTTLE_CAS_ATTEMPTS {
            let item = self.get(item_key.clone(), true).await?.unwrap_or_default();
            let slots: Vec<Option<u64>> = (0..max)
                .map(|i| Get(&item).n(&format!("s{i}")).ok())
                .collect();
            let Some(free) = ThrottleSlots(&slots).free(now.secs(), window) else {
                return Ok(Reservation::Denied {
                    retry_after: ThrottleSlots(&slots).retry_after(now.secs(), window),
                });
            };
            let slot = format!("s{free}");
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(item_key.clone()))
                .update_expression("SET #s = :now, expires_at = :exp, #ttl = :exp")
                .expression_attribute_names("#s", &slot)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":exp", n(now.plus(window)));
            update = match slots.get(free).copied().flatten() {
                None => update.condition_expression("attribute_not_exists(#s)"),
                Some(old) => update
                    .condition_expression("#s = :old")
                    .expression_attribute_values(":old", n(old)),
            };
            match update.send().await {
                Ok(_) => return Ok(Reservation::Granted),
                Err(e) => match e.as_service_error() {
                    // Someone took that slot first: look again.
                    Some(se) if se.is_conditional_check_failed_exception() => continue,
                    _ => return Err(backend(e)),
                },
            }
        }
        // Heavy contention on one user: refusing is the safe answer.
        Ok(Reservation::Denied { retry_after: 1 })
    }
}

impl ports::ThrottleStore for Db {
    fn reserve<'a>(
        &'a self,
        tenant: &'a TenantId,
        key: &'a str,
        max: usize,
        window: u64,
        now: Now,
    ) -> BoxFuture<'a, StoreResult<Reservation>> {
        Box::pin(self.throttle_reserve(tenant, key, max, window, now))
    }
}
