//! The DynamoDB adapter: the only code that knows attribute names and keys.
//! One file per capability (each implements its port from `crate::ports`),
//! the item mapping in `items.rs`.

use crate::clock::Now;
use crate::domain::code_lifetime::USED_CODE_RETENTION;
use crate::domain::records::*;
use crate::domain::throttling::ThrottleSlots;
use crate::ids::{ClientId, TenantId, UserId};
use crate::ports::StoreError;
use aws_sdk_dynamodb::Client as DdbClient;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    Put, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use std::collections::BTreeMap;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

const PK: &str = "pk";
const SK: &str = "sk";
const TTL: &str = "ttl";

#[derive(Clone)]
pub struct Db {
    client: DdbClient,
    table: String,
}

fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Backend(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Backend(e.to_string()))
}

/// The tenant's own partition: the tenant item and its clients (tenant-level
/// items: rarely written, cached by the functions, listed together).
fn tenant_pk(t: &TenantId) -> String {
    format!("T#{t}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.clone())).collect())
}

/// The key of an item, built only from a parsed tenant. Tenant-level items
/// share the tenant's partition; every other item (users, username pointers,
/// codes, refresh tokens and families, throttles, login transactions) is hot
/// and has a partition of its own, `T#{tenant}#{sort key}`: the tenant prefix
/// stays in every key (a cross-tenant read cannot be written), and no flow's
/// throughput is bounded by one partition key per tenant.
fn key(t: &TenantId, sk: String) -> Item {
    let pk = if sk::is_tenant_level(&sk) {
        tenant_pk(t)
    } else {
        format!("{}#{sk}", tenant_pk(t))
    };
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// The listing index (`list`, keys only): a tenant's users, for the CLI, and
/// its upstream connections (`connections.rs`). Only user and connection items
/// carry its keys, and their keys are written rarely (create, connect), so the
/// index partitions per tenant are cold.
const LIST_INDEX: &str = "list";
const LPK: &str = "lpk";
const LSK: &str = "lsk";

fn users_listing(t: &TenantId) -> String {
    format!("{}#USERS", tenant_pk(t))
}

/// The due index (`due`, keys only): the tenants by when the maintenance
/// must look at their keys next (`domain::key_rotation`), so an hourly run
/// reads only the tenants due, never the whole table. Only tenant items carry
/// its keys: `dpk` (always [`DUE_TENANTS`]) and `due` (epoch seconds); a
/// tenant being deleted leaves it.
const DUE_INDEX: &str = "due";
const DPK: &str = "dpk";
const DUE: &str = "due";
const DUE_TENANTS: &str = "TENANT";
/// The due index's partition of upstream connections due for upkeep
/// (`connections_due.rs`).
const DUE_CONNECTIONS: &str = "UPSTREAM";
/// The tenant item's key generation (`KeyState::generation`).
const KEY_GEN: &str = "key_gen";
const DELETING: &str = "deleting";

mod sk {
    pub const TENANT: &str = "TENANT";
    const CLIENT: &str = "CLIENT#";
    const ISSUER: &str = "ISSUER#";
    const PROVIDER: &str = "PROVIDER#";
    /// An upstream provider, in the tenant's partition (its name is a slug).
    pub fn provider(name: &str) -> String {
        format!("{PROVIDER}{name}")
    }
    pub fn provider_prefix() -> &'static str {
        PROVIDER
    }
    pub fn client(id: &crate::ClientId) -> String {
        format!("{CLIENT}{id}")
    }
    /// Items that live in the tenant's own partition.
    pub fn client_prefix() -> &'static str {
        CLIENT
    }
    pub fn is_tenant_level(sk: &str) -> bool {
        sk == TENANT || sk.starts_with(CLIENT) || sk.starts_with(ISSUER) || sk.starts_with(PROVIDER)
    }
    /// A trusted issuer, in the tenant's partition (read with the records,
    /// listed by prefix). Keyed by a hash: an issuer URL may be long and
    /// hold any character.
    pub fn issuer(issuer: &str) -> String {
        format!(
            "{ISSUER}{}",
            crate::crypto::b64url(&crate::crypto::sha256(issuer.as_bytes()))
        )
    }
    pub fn issuer_prefix() -> &'static str {
        ISSUER
    }
    /// The link of an issuer's subject to a user (hot: read by exchanges).
    pub fn link(issuer: &str, subject: &str) -> String {
        let mut m = Vec::with_capacity(issuer.len() + subject.len() + 1);
        m.extend_from_slice(issuer.as_bytes());
        m.push(0);
        m.extend_from_slice(subject.as_bytes());
        format!("LINK#{}", crate::crypto::b64url(&crate::crypto::sha256(&m)))
    }
    pub fn user(id: &crate::UserId) -> String {
        format!("USER#{id}")
    }
    /// A user key no user id can produce (`~` is not an id character).
    pub const NO_USER: &str = "USER#~";
    pub fn username(normalized: &str) -> String {
        format!("UNAME#{normalized}")
    }
    pub fn code(hash: &str) -> String {
        format!("CODE#{hash}")
    }
    pub fn family(id: &str) -> String {
        format!("FAM#{id}")
    }
    pub fn throttle(key: &str) -> String {
        format!("THR#{key}")
    }
    pub fn login_tx(id: &str) -> String {
        format!("TX#{id}")
    }
    /// A connect flow's upstream transaction, by the hash of its `state`.
    pub fn upstream_tx(state_hash: &str) -> String {
        format!("UTX#{state_hash}")
    }
    pub fn access_token(jti: &str) -> String {
        format!("AT#{jti}")
    }
    /// An upstream connection (hot: read and written by refreshes), on a
    /// partition of its own; owner `~` is the tenant's service connection.
    pub fn connection(owner: &str, provider: &str) -> String {
        format!("UC#{owner}#{provider}")
    }
}

/// Typed reads out of an item; a missing or mistyped attribute is `Malformed`.
struct Get<'a>(&'a Item);

impl Get<'_> {
    fn s(&self, k: &str) -> Result<String, StoreError> {
        self.opt_s(k)
            .ok_or_else(|| StoreError::Malformed(format!("missing {k}")))
    }
    fn opt_s(&self, k: &str) -> Option<String> {
        match self.0.get(k) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        }
    }
    fn n(&self, k: &str) -> Result<u64, StoreError> {
        match self.0.get(k) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| StoreError::Malformed(format!("bad number {k}"))),
            _ => Err(StoreError::Malformed(format!("missing {k}"))),
        }
    }
    fn n_or(&self, k: &str, default: u64) -> u64 {
        self.n(k).unwrap_or(default)
    }
    fn bool_or(&self, k: &str, default: bool) -> bool {
        match self.0.get(k) {
            Some(AttributeValue::Bool(v)) => *v,
            _ => default,
        }
    }
    fn list(&self, k: &str) -> Vec<String> {
        match self.0.get(k) {
            Some(AttributeValue::L(v)) => v
                .iter()
                .filter_map(|x| match x {
                    AttributeValue::S(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
    fn map(&self, k: &str) -> BTreeMap<String, String> {
        match self.0.get(k) {
            Some(AttributeValue::M(m)) => m
                .iter()
                .filter_map(|(k, v)| match v {
                    AttributeValue::S(s) => Some((k.clone(), s.clone())),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }
    fn tenant(&self) -> Result<TenantId, StoreError> {
        let p = self.s(PK)?;
        p.strip_prefix("T#")
            .and_then(|rest| rest.split('#').next())
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or_else(|| StoreError::Malformed("bad pk".into()))
    }
    fn client_id(&self, k: &str) -> Result<ClientId, StoreError> {
        ClientId::parse(&self.s(k)?).map_err(|e| StoreError::Malformed(e.to_string()))
    }
    fn user_id(&self, k: &str) -> Result<UserId, StoreError> {
        UserId::parse(&self.s(k)?).map_err(|e| StoreError::Malformed(e.to_string()))
    }
}

/// Items that expire: `Some(item)` only while `expires_at > now`.
fn live(item: Option<&Item>, now: Now) -> Option<&Item> {
    let item = item?;
    match item.get("expires_at") {
        Some(AttributeValue::N(v)) => match v.parse::<u64>() {
            Ok(exp) if exp > now.secs() => Some(item),
            _ => None,
        },
        _ => Some(item),
    }
}

impl Db {
    pub fn new(client: DdbClient, table: impl Into<String>) -> Self {
        Db {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    // ---- generic primitives -----------------------------------------------

    async fn get_item(&self, k: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }

    /// Every tenant-level item of one kind (`prefix`: providers, trusted
    /// issuers; a tenant has a handful), strongly consistent, all pages.
    async fn tenant_level<T>(&self, tenant: &TenantId, prefix: &str) -> Result<Vec<T>, StoreError>
    where
        T: for<'a> TryFrom<&'a Item, Error = StoreError>,
    {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :i)")
                .expression_attribute_values(":p", s(tenant_pk(tenant)))
                .expression_attribute_values(":i", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for i in page.items() {
                out.push(T::try_from(i)?);
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }

    /// The base table's key (`pk`, `sk`) of an item a keys-only index returned.
    fn base_key(i: &Item) -> Option<Item> {
        Some(HashMap::from([
            (PK.to_owned(), i.get(PK)?.clone()),
            (SK.to_owned(), i.get(SK)?.clone()),
        ]))
    }

    /// Strongly consistent batch reads of `keys` (100 at a time), unprocessed
    /// keys retried with a short backoff; keys still unread after that fail
    /// the call rather than shorten a listing.
    async fn batch_get_consistent(&self, keys: &[Item]) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(100) {
            let mut wanted = chunk.to_vec();
            for attempt in 0..5u64 {
                if wanted.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                let page = self
                    .client
                    .batch_get_item()
                    .request_items(
                        &self.table,
                        build(
                            KeysAndAttributes::builder()
                                .set_keys(Some(std::mem::take(&mut wanted)))
                                .consistent_read(true)
                                .build(),
                        )?,
                    )
                    .send()
                    .await
                    .map_err(backend)?;
                out.extend(
                    page.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                wanted = page
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !wanted.is_empty() {
                return Err(StoreError::Backend("batch read: keys left unread".into()));
            }
        }
        Ok(out)
    }

    /// Create-if-absent: `AlreadyExists` when an item with the key is present.
    async fn put_if_absent(&self, item: Item) -> Result<(), StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    Err(StoreError::AlreadyExists)
                }
                _ => Err(backend(e)),
            },
        }
    }

    fn put_op(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_owned))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<String>>, StoreError> {
        self.transact_with(items, None).await
    }

    /// A transaction the SDK may retry safely: with a client request token, a
    /// retry after a lost response (the first attempt committed) succeeds
    /// without running again, instead of failing its conditions.
    async fn transact_idempotent(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<String>>, StoreError> {
        self.transact_with(items, Some(crate::crypto::random_token(24)))
            .await
    }

    async fn transact_with(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<Result<(), Vec<String>>, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => Ok(Err(c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_owned())
                    .collect())),
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Ok(Err(vec!["TransactionConflict".into()]))
                }
                _ => Err(backend(e)),
            },
        }
    }
}

mod access_tokens;
mod codes;
mod connections;
mod connections_due;
mod directory;
pub use directory::KeyCommit;
pub use due::{DueCursor, Sweep};
mod due;
mod federation;
mod field_update;
mod items;
mod lifecycle;
pub use lifecycle::Page;
mod login_tx;
mod providers;
mod refresh;
mod table;
#[cfg(feature = "test-support")]
mod test_support;
#[cfg(feature = "test-support")]
pub use test_support::RawItem;
mod throttle;
mod upstream_tx;
mod users;
