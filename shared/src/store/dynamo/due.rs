//! The maintenance's schedule: the due index (the tenants whose keys need
//! looking after, by when), and the one-time sweep that enters tenants
//! written before the index existed. Neither reads the whole table per run:
//! a run queries the tenants due; the sweep goes through the table once,
//! resuming from a cursor stored in the table, and then never again.

use super::lifecycle::{cursor_of, start_of};
use super::*;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

/// Where a listing of due tenants goes on (opaque).
pub struct DueCursor(Item);

/// The sweep's progress, on one item of its own (`MAINT`/`SWEEP`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Every tenant item older than the due index has been entered in it.
    pub done: bool,
    /// Where the next page starts (`None`: at the beginning).
    pub cursor: Option<String>,
}

fn sweep_key() -> Item {
    HashMap::from([(PK.to_owned(), s("MAINT")), (SK.to_owned(), s("SWEEP"))])
}

impl Db {
    /// One page (at most `limit`) of the tenants due at `now`, the longest
    /// overdue first, and where the next page starts.
    pub async fn due_tenants(
        &self,
        now: u64,
        limit: i32,
        start: Option<DueCursor>,
    ) -> Result<(Vec<TenantId>, Option<DueCursor>), StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression(format!("{DPK} = :t AND {DUE} <= :now"))
            .expression_attribute_values(":t", s(DUE_TENANTS))
            .expression_attribute_values(":now", n(now))
            .limit(limit)
            .set_exclusive_start_key(start.map(|c| c.0))
            .send()
            .await
            .map_err(backend)?;
        let ids = page
            .items()
            .iter()
            .map(|i| Get(i).tenant())
            .collect::<Result<_, _>>()?;
        Ok((ids, page.last_evaluated_key().cloned().map(DueCursor)))
    }

    /// The sweep's progress (a consistent read).
    pub async fn sweep(&self) -> Result<Sweep, StoreError> {
        let Some(item) = self.get_item(sweep_key(), true).await? else {
            return Ok(Sweep::default());
        };
        let g = Get(&item);
        Ok(Sweep {
            done: g.bool_or("done", false),
            cursor: g.opt_s("cursor"),
        })
    }

    pub async fn save_sweep(&self, sweep: &Sweep) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(sweep_key()))
            .expression_attribute_values(":d", b(sweep.done));
        req = match &sweep.cursor {
            Some(c) => req
                .update_expression("SET done = :d, #c = :c")
                .expression_attribute_names("#c", "cursor")
                .expression_attribute_values(":c", s(c.clone())),
            None => req
                .update_expression("SET done = :d REMOVE #c")
                .expression_attribute_names("#c", "cursor"),
        };
        req.send().await.map(|_| ()).map_err(backend)
    }

    /// One page of the sweep from `cursor`: every tenant item on it that is
    /// not in the due index (and not being deleted) enters it, due at `now`.
    /// Returns how many did and where the next page starts (`None`: the
    /// table is done).
    pub async fn sweep_page(
        &self,
        cursor: Option<&str>,
        now: u64,
    ) -> Result<(usize, Option<String>), StoreError> {
        let page = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(format!(
                "sk = :t AND attribute_not_exists({DPK}) AND attribute_not_exists({DELETING})"
            ))
            .expression_attribute_values(":t", s(sk::TENANT))
            .projection_expression("pk, sk")
            .set_exclusive_start_key(start_of(cursor)?)
            .send()
            .await
            .map_err(backend)?;
        let mut entered = 0;
        for k in page.items() {
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(k.clone()))
                .update_expression(format!("SET {DPK} = :dpk, {DUE} = :now"))
                .condition_expression(format!(
                    "attribute_exists(pk) AND attribute_not_exists({DPK}) AND attribute_not_exists({DELETING})"
                ))
                .expression_attribute_values(":dpk", s(DUE_TENANTS))
                .expression_attribute_values(":now", n(now))
                .send()
                .await;
            match r {
                Ok(_) => entered += 1,
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok((entered, cursor_of(page.last_evaluated_key())))
    }
}
