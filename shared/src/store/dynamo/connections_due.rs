//! The upkeep's work list: upstream connections whose refresh token would
//! otherwise expire unused (SPEC: Background upkeep), on the sparse `due`
//! index that also schedules the tenants' keys, in a partition of their own
//! (`dpk = UPSTREAM`, `due = refresh_due_at`). `connect` and `commit` set the
//! keys, a dead grant removes them; so a run queries only what is due, never
//! the table.

use super::*;
use crate::domain::connections::Connection;
use crate::ports::{ConnectionPage, StoreResult};

fn cursor_of(k: Option<&Item>) -> Option<String> {
    let k = k?;
    let text = |a: &str| match k.get(a) {
        Some(AttributeValue::S(v)) => v.clone(),
        Some(AttributeValue::N(v)) => v.clone(),
        _ => String::new(),
    };
    Some(crate::crypto::b64url(
        [text(PK), text(SK), text(DUE)].join("\t").as_bytes(),
    ))
}

fn start_of(cursor: Option<&str>) -> Result<Option<Item>, StoreError> {
    let Some(c) = cursor else { return Ok(None) };
    let bad = || StoreError::Malformed("not an upkeep cursor".into());
    let raw =
        String::from_utf8(crate::crypto::b64url_decode(c).ok_or_else(bad)?).map_err(|_| bad())?;
    let parts: Vec<&str> = raw.split('\t').collect();
    let [pk, sk, due] = parts.as_slice() else {
        return Err(bad());
    };
    if due.parse::<u64>().is_err() {
        return Err(bad());
    }
    Ok(Some(HashMap::from([
        (PK.to_owned(), s(*pk)),
        (SK.to_owned(), s(*sk)),
        (DPK.to_owned(), s(DUE_CONNECTIONS)),
        (DUE.to_owned(), AttributeValue::N((*due).to_owned())),
    ])))
}

impl Db {
    /// One page of the connections due at `now`, the longest overdue first
    /// (one Query of the keys-only index, then one consistent BatchGetItem).
    pub(super) async fn due_connections(
        &self,
        now: Now,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<ConnectionPage> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression(format!("{DPK} = :d AND {DUE} <= :now"))
            .expression_attribute_values(":d", s(DUE_CONNECTIONS))
            .expression_attribute_values(":now", n(now.secs()))
            .limit(i32::try_from(limit.clamp(1, 100)).unwrap_or(100))
            .set_exclusive_start_key(start_of(cursor)?)
            .send()
            .await
            .map_err(backend)?;
        let keys: Vec<Item> = page.items().iter().filter_map(Db::base_key).collect();
        let mut items: Vec<Connection> = self
            .batch_get_consistent(&keys)
            .await?
            .iter()
            .map(Connection::try_from)
            .collect::<Result<_, _>>()?;
        items.sort_by_key(|c| c.refresh_due_at);
        Ok(ConnectionPage {
            items,
            next: cursor_of(page.last_evaluated_key()),
        })
    }
}
