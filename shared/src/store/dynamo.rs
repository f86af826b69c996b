//! The DynamoDB adapter: the only code that knows attribute names.

use super::*;
use crate::clock::Now;
use crate::ids::{ClientId, TenantId, UserId};
use aws_sdk_dynamodb::Client as DdbClient;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use std::collections::BTreeMap;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

const PK: &str = "pk";
const SK: &str = "sk";
const TTL: &str = "ttl";
/// Compare-and-swap rounds a reservation tries before giving up (refusing).
const THROTTLE_CAS_ATTEMPTS: usize = 6;

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

fn pk(t: &TenantId) -> AttributeValue {
    AttributeValue::S(format!("T#{t}"))
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

fn key(t: &TenantId, sk: String) -> Item {
    HashMap::from([(PK.to_owned(), pk(t)), (SK.to_owned(), s(sk))])
}

mod sk {
    pub const TENANT: &str = "TENANT";
    pub fn client(id: &crate::ClientId) -> String {
        format!("CLIENT#{id}")
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
    pub fn refresh(hash: &str) -> String {
        format!("RT#{hash}")
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

impl TryFrom<&Item> for Tenant {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(Tenant {
            id: g.tenant()?,
            name: g.s("name")?,
            access_token_ttl: g.n_or("access_token_ttl", DEFAULT_ACCESS_TOKEN_TTL),
            refresh_token_ttl: g.n_or("refresh_token_ttl", DEFAULT_REFRESH_TOKEN_TTL),
            audiences: g.list("audiences"),
            signing_alg: SigningAlg::parse(&g.s("signing_alg")?)
                .ok_or_else(|| StoreError::Malformed("signing_alg".into()))?,
            public_jwks: g.s("public_jwks")?,
            current_kid: g.s("current_kid")?,
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&Tenant> for Item {
    fn from(t: &Tenant) -> Item {
        let mut i = key(&t.id, sk::TENANT.into());
        i.insert("name".into(), s(t.name.clone()));
        i.insert("access_token_ttl".into(), n(t.access_token_ttl));
        i.insert("refresh_token_ttl".into(), n(t.refresh_token_ttl));
        i.insert("audiences".into(), list(&t.audiences));
        i.insert("signing_alg".into(), s(t.signing_alg.as_str()));
        i.insert("public_jwks".into(), s(t.public_jwks.clone()));
        i.insert("current_kid".into(), s(t.current_kid.clone()));
        i.insert("created_at".into(), n(t.created_at));
        i
    }
}

impl TryFrom<&Item> for Client {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(Client {
            tenant: g.tenant()?,
            client_id: g.client_id("client_id")?,
            name: g.s("name")?,
            grants: g
                .list("grants")
                .iter()
                .filter_map(|x| Grant::parse(x))
                .collect(),
            redirect_uris: g.list("redirect_uris"),
            scopes: g.list("scopes"),
            public: g.bool_or("public", false),
            require_pkce: g.bool_or("require_pkce", false),
            require_offline_access: g.bool_or("require_offline_access", false),
            enabled: g.bool_or("enabled", true),
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&Client> for Item {
    fn from(c: &Client) -> Item {
        let mut i = key(&c.tenant, sk::client(&c.client_id));
        i.insert("client_id".into(), s(c.client_id.as_str()));
        i.insert("name".into(), s(c.name.clone()));
        let grants: Vec<String> = c.grants.iter().map(|g| g.as_str().to_owned()).collect();
        i.insert("grants".into(), list(&grants));
        i.insert("redirect_uris".into(), list(&c.redirect_uris));
        i.insert("scopes".into(), list(&c.scopes));
        i.insert("public".into(), b(c.public));
        i.insert("require_pkce".into(), b(c.require_pkce));
        i.insert("require_offline_access".into(), b(c.require_offline_access));
        i.insert("enabled".into(), b(c.enabled));
        i.insert("created_at".into(), n(c.created_at));
        i
    }
}

impl TryFrom<&Item> for User {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(User {
            tenant: g.tenant()?,
            user_id: g.user_id("user_id")?,
            username: g.s("username")?,
            password_hash: g.s("password_hash")?,
            email: g.opt_s("email"),
            name: g.opt_s("name"),
            attrs: g.map("attrs"),
            require_password_change: g.bool_or("require_password_change", false),
            pwd_version: g.n_or("pwd_version", 0),
            enabled: g.bool_or("enabled", true),
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&User> for Item {
    fn from(u: &User) -> Item {
        let mut i = key(&u.tenant, sk::user(&u.user_id));
        i.insert("user_id".into(), s(u.user_id.as_str()));
        i.insert("username".into(), s(u.username.clone()));
        i.insert("password_hash".into(), s(u.password_hash.clone()));
        if let Some(e) = &u.email {
            i.insert("email".into(), s(e.clone()));
        }
        if let Some(nm) = &u.name {
            i.insert("name".into(), s(nm.clone()));
        }
        i.insert(
            "attrs".into(),
            AttributeValue::M(
                u.attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v.clone())))
                    .collect(),
            ),
        );
        i.insert(
            "require_password_change".into(),
            b(u.require_password_change),
        );
        i.insert("pwd_version".into(), n(u.pwd_version));
        i.insert("enabled".into(), b(u.enabled));
        i.insert("created_at".into(), n(u.created_at));
        i
    }
}

impl TryFrom<&Item> for AuthCode {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let sk = g.s(SK)?;
        Ok(AuthCode {
            tenant: g.tenant()?,
            code_hash: sk.trim_start_matches("CODE#").to_owned(),
            client_id: g.client_id("client_id")?,
            redirect_uri: g.s("redirect_uri")?,
            redirect_uri_in_request: g.bool_or("redirect_uri_in_request", true),
            scope: g.s("scope")?,
            code_challenge: g.opt_s("code_challenge"),
            nonce: g.opt_s("nonce"),
            user_id: g.user_id("user_id")?,
            auth_time: g.n_or("auth_time", 0),
            expires_at: g.n("expires_at")?,
            family_id: g.opt_s("family_id"),
        })
    }
}

impl From<&AuthCode> for Item {
    fn from(c: &AuthCode) -> Item {
        let mut i = key(&c.tenant, sk::code(&c.code_hash));
        i.insert("client_id".into(), s(c.client_id.as_str()));
        i.insert("redirect_uri".into(), s(c.redirect_uri.clone()));
        i.insert(
            "redirect_uri_in_request".into(),
            b(c.redirect_uri_in_request),
        );
        i.insert("scope".into(), s(c.scope.clone()));
        if let Some(v) = &c.code_challenge {
            i.insert("code_challenge".into(), s(v.clone()));
        }
        if let Some(v) = &c.nonce {
            i.insert("nonce".into(), s(v.clone()));
        }
        i.insert("user_id".into(), s(c.user_id.as_str()));
        i.insert("auth_time".into(), n(c.auth_time));
        i.insert("expires_at".into(), n(c.expires_at));
        i.insert(TTL.into(), n(c.expires_at));
        i
    }
}

impl TryFrom<&Item> for RefreshToken {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let sk = g.s(SK)?;
        let state = match g.s("state")?.as_str() {
            "active" => RefreshState::Active,
            "rotated" => RefreshState::Rotated {
                at: g.n("rotated_at")?,
                salt: g.s("successor_salt")?,
                successor_hash: g.s("successor_hash")?,
                retry_scope: g.opt_s("retry_scope").unwrap_or_default(),
            },
            other => return Err(StoreError::Malformed(format!("state {other}"))),
        };
        Ok(RefreshToken {
            tenant: g.tenant()?,
            token_hash: sk.trim_start_matches("RT#").to_owned(),
            family_id: g.s("family_id")?,
            client_id: g.client_id("client_id")?,
            user_id: g.user_id("user_id")?,
            scope: g.s("scope")?,
            pwd_version: g.n_or("pwd_version", 0),
            issued_at: g.n_or("issued_at", 0),
            expires_at: g.n("expires_at")?,
            state,
        })
    }
}

impl From<&RefreshToken> for Item {
    fn from(r: &RefreshToken) -> Item {
        let mut i = key(&r.tenant, sk::refresh(&r.token_hash));
        i.insert("family_id".into(), s(r.family_id.clone()));
        i.insert("client_id".into(), s(r.client_id.as_str()));
        i.insert("user_id".into(), s(r.user_id.as_str()));
        i.insert("scope".into(), s(r.scope.clone()));
        i.insert("pwd_version".into(), n(r.pwd_version));
        i.insert("issued_at".into(), n(r.issued_at));
        i.insert("expires_at".into(), n(r.expires_at));
        i.insert(TTL.into(), n(r.expires_at));
        match &r.state {
            RefreshState::Active => {
                i.insert("state".into(), s("active"));
            }
            RefreshState::Rotated {
                at,
                salt,
                successor_hash,
                retry_scope,
            } => {
                i.insert("state".into(), s("rotated"));
                i.insert("rotated_at".into(), n(*at));
                i.insert("successor_salt".into(), s(salt.clone()));
                i.insert("successor_hash".into(), s(successor_hash.clone()));
                i.insert("retry_scope".into(), s(retry_scope.clone()));
            }
        }
        i
    }
}

impl TryFrom<&Item> for Family {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let sk = g.s(SK)?;
        Ok(Family {
            tenant: g.tenant()?,
            family_id: sk.trim_start_matches("FAM#").to_owned(),
            client_id: g.client_id("client_id")?,
            user_id: g.user_id("user_id")?,
            pwd_version: g.n_or("pwd_version", 0),
            revoked: g.bool_or("revoked", false),
            created_at: g.n_or("created_at", 0),
            expires_at: g.n("expires_at")?,
        })
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

    // ---- table -------------------------------------------------------------

    /// Creates the table (on-demand, TTL on `ttl`) if it is missing. Idempotent.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(build(
                AttributeDefinition::builder()
                    .attribute_name(PK)
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            )?)
            .attribute_definitions(build(
                AttributeDefinition::builder()
                    .attribute_name(SK)
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            )?)
            .key_schema(build(
                KeySchemaElement::builder()
                    .attribute_name(PK)
                    .key_type(KeyType::Hash)
                    .build(),
            )?)
            .key_schema(build(
                KeySchemaElement::builder()
                    .attribute_name(SK)
                    .key_type(KeyType::Range)
                    .build(),
            )?)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_resource_in_use_exception() => false,
                _ => return Err(backend(e)),
            },
        };
        let ttl_on = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(backend)?
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .is_some_and(|a| a == TTL);
        if !ttl_on {
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(build(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(TTL)
                        .build(),
                )?)
                .send()
                .await
                .map_err(backend)?;
        }
        Ok(created)
    }

    // ---- generic primitives -----------------------------------------------

    async fn get(&self, k: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
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

    // ---- tenants -----------------------------------------------------------

    pub async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        self.put_if_absent(t.into()).await
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(key(id, sk::TENANT.into()), false)
            .await?
            .as_ref()
            .map(Tenant::try_from)
            .transpose()
    }

    pub async fn set_tenant_keys(
        &self,
        id: &TenantId,
        public_jwks: &str,
        current_kid: &str,
        alg: SigningAlg,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .update_expression("SET public_jwks = :j, current_kid = :k, signing_alg = :a")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":j", s(public_jwks))
            .expression_attribute_values(":k", s(current_kid))
            .expression_attribute_values(":a", s(alg.as_str()))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk::TENANT.into())))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

    // ---- clients -----------------------------------------------------------

    pub async fn create_client(&self, c: &Client) -> Result<(), StoreError> {
        self.put_if_absent(c.into()).await
    }

    pub async fn get_client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Client>, StoreError> {
        self.get(key(tenant, sk::client(id)), false)
            .await?
            .as_ref()
            .map(Client::try_from)
            .transpose()
    }

    // ---- users -------------------------------------------------------------

    /// Creates the user and its username pointer in one transaction; the
    /// username is unique per tenant (case-insensitive).
    pub async fn create_user(&self, u: &User) -> Result<(), StoreError> {
        let mut pointer = key(&u.tenant, sk::username(&normalize_username(&u.username)));
        pointer.insert("user_id".into(), s(u.user_id.as_str()));
        let items = vec![
            self.put_op(pointer, Some("attribute_not_exists(pk)"))?,
            self.put_op(u.into(), Some("attribute_not_exists(pk)"))?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(reasons) if reasons.iter().any(|r| r == "ConditionalCheckFailed") => {
                Err(StoreError::AlreadyExists)
            }
            Err(reasons) => Err(StoreError::Backend(format!(
                "transaction cancelled: {reasons:?}"
            ))),
        }
    }

    pub async fn get_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<Option<User>, StoreError> {
        self.get(key(tenant, sk::user(id)), true)
            .await?
            .as_ref()
            .map(User::try_from)
            .transpose()
    }

    /// The user with this username (case-insensitive). Always two reads, the
    /// pointer and then a user item (a key no user has when the name is
    /// unknown), so known and unknown usernames cost the same.
    pub async fn find_user_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<User>, StoreError> {
        let normalized = normalize_username(username);
        let pointer = if normalized.is_empty() {
            None
        } else {
            self.get(key(tenant, sk::username(&normalized)), true)
                .await?
        };
        let id = pointer
            .as_ref()
            .map(|p| Get(p).user_id("user_id"))
            .transpose()?;
        let user_sk = id.as_ref().map_or_else(|| sk::NO_USER.to_owned(), sk::user);
        self.get(key(tenant, user_sk), true)
            .await?
            .filter(|_| id.is_some())
            .as_ref()
            .map(User::try_from)
            .transpose()
    }

    /// Sets a new password hash if the user is still at `expected_version`;
    /// clears the change-required flag and bumps the version (which kills
    /// every refresh-token family born before). `false` if the version moved.
    pub async fn change_password(
        &self,
        tenant: &TenantId,
        id: &UserId,
        expected_version: u64,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::user(id))))
            .update_expression(
                "SET password_hash = :h, require_password_change = :f, pwd_version = :nv",
            )
            .condition_expression("attribute_exists(pk) AND pwd_version = :v")
            .expression_attribute_values(":h", s(new_hash))
            .expression_attribute_values(":f", b(false))
            .expression_attribute_values(":v", n(expected_version))
            .expression_attribute_values(":nv", n(expected_version + 1))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(backend(e)),
            },
        }
    }

    // ---- authorization codes ----------------------------------------------

    pub async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        self.put_if_absent(c.into()).await
    }

    /// Consume-once: marks the code used and records the family its redemption
    /// will issue. Exactly one caller gets `Ok(Ok(code))`; every other caller
    /// (and any caller after expiry) gets `Ok(Err(previous))`, where `previous`
    /// is the code as stored (with the winner's family id) if it still exists.
    pub async fn consume_code(
        &self,
        tenant: &TenantId,
        code_hash: &str,
        family_id: &str,
        now: Now,
    ) -> Result<Result<AuthCode, Option<AuthCode>>, StoreError> {
        let k = key(tenant, sk::code(code_hash));
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(k.clone()))
            .update_expression("SET used_at = :now, family_id = :fam, #ttl = :keep")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(used_at) AND expires_at > :now",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now.secs()))
            .expression_attribute_values(":fam", s(family_id))
            .expression_attribute_values(":keep", n(now.plus(USED_CODE_RETENTION)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Malformed("no attributes returned".into()))?;
                Ok(Ok(AuthCode::try_from(&item)?))
            }
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    let prev = self.get(k, true).await?;
                    Ok(Err(prev.as_ref().map(AuthCode::try_from).transpose()?))
                }
                _ => Err(backend(e)),
            },
        }
    }

    /// A code by hash, used or not; expired codes are absent. A used code
    /// carries the family its redemption started.
    pub async fn get_code(
        &self,
        tenant: &TenantId,
        code_hash: &str,
        now: Now,
    ) -> Result<Option<AuthCode>, StoreError> {
        let item = self.get(key(tenant, sk::code(code_hash)), true).await?;
        let Some(item) = item else { return Ok(None) };
        let used = item.contains_key("used_at");
        // A used code stays readable after expiry, so a replay can still
        // revoke what its redemption issued.
        if !used && live(Some(&item), now).is_none() {
            return Ok(None);
        }
        AuthCode::try_from(&item).map(Some)
    }

    /// Redeems a code and writes what it yields in ONE transaction: the code
    /// marked used (only if it is unused and unexpired) with the family id,
    /// and, when a refresh token is issued, its family and first token. Either
    /// all of it happens or nothing does, so a failure consumes nothing.
    /// `Ok(Err(()))`: the code was used or expired meanwhile.
    pub async fn redeem_code(
        &self,
        tenant: &TenantId,
        code_hash: &str,
        family_id: &str,
        issue: Option<(&Family, &RefreshToken)>,
        now: Now,
    ) -> Result<Result<(), ()>, StoreError> {
        let consume = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(tenant, sk::code(code_hash))))
                .update_expression("SET used_at = :now, family_id = :fam, #ttl = :keep")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(used_at) AND expires_at > :now",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":fam", s(family_id))
                .expression_attribute_values(":keep", n(now.plus(USED_CODE_RETENTION)))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().update(consume).build()];
        if let Some((f, rt)) = issue {
            items.push(self.family_op(f)?);
            items.push(self.put_op(rt.into(), Some("attribute_not_exists(pk)"))?);
        }
        for attempt in 1..=5u64 {
            let outcome = match self.transact_idempotent(items.clone()).await {
                Ok(o) => o,
                Err(e) => {
                    // The outcome is unknown (no answer, a reset, a timeout): the
                    // transaction may have committed. Look, so that a committed
                    // redemption is answered with its tokens, not a 503 that
                    // leaves the client with a spent code.
                    return match self.get(key(tenant, sk::code(code_hash)), true).await {
                        Ok(Some(item))
                            if Get(&item).opt_s("family_id").as_deref() == Some(family_id) =>
                        {
                            Ok(Ok(()))
                        }
                        _ => Err(e),
                    };
                }
            };
            match outcome {
                Ok(()) => return Ok(Ok(())),
                Err(r) if r.first().is_some_and(|x| x == "ConditionalCheckFailed") => {
                    // Our own earlier attempt may be what used it.
                    let mine = self
                        .get(key(tenant, sk::code(code_hash)), true)
                        .await?
                        .is_some_and(|i| Get(&i).opt_s("family_id").as_deref() == Some(family_id));
                    return Ok(if mine { Ok(()) } else { Err(()) });
                }
                Err(r) if attempt < 5 && r.iter().any(|x| x == "TransactionConflict") => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                }
                Err(r) => {
                    return Err(StoreError::Backend(format!("transaction cancelled: {r:?}")));
                }
            }
        }
        Err(StoreError::Backend("transaction kept conflicting".into()))
    }

    /// The family item's write: created, or completed if a revocation left a
    /// tombstone first (then it stays revoked: `revoked` is only set if absent).
    fn family_op(&self, f: &Family) -> Result<TransactWriteItem, StoreError> {
        let family = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(&f.tenant, sk::family(&f.family_id))))
                .update_expression(
                    "SET client_id = :c, user_id = :u, pwd_version = :v, created_at = :now, \
                     revoked = if_not_exists(revoked, :f), expires_at = :exp, #ttl = :exp",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":c", s(f.client_id.as_str()))
                .expression_attribute_values(":u", s(f.user_id.as_str()))
                .expression_attribute_values(":v", n(f.pwd_version))
                .expression_attribute_values(":now", n(f.created_at))
                .expression_attribute_values(":f", b(f.revoked))
                .expression_attribute_values(":exp", n(f.expires_at))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(family).build())
    }

    // ---- refresh tokens ----------------------------------------------------

    /// Writes a new family with its first refresh token, atomically. A family
    /// revoked before it was written (a code replayed while its first redemption
    /// was still issuing) stays revoked: `revoked` is only set if absent.
    pub async fn issue_refresh(&self, f: &Family, rt: &RefreshToken) -> Result<(), StoreError> {
        let items = vec![
            self.family_op(f)?,
            self.put_op(rt.into(), Some("attribute_not_exists(pk)"))?,
        ];
        // A concurrent revocation of the same family is a transaction
        // conflict, not a failure: try again (the write is idempotent).
        for attempt in 1..=5u64 {
            match self.transact_idempotent(items.clone()).await? {
                Ok(()) => return Ok(()),
                Err(r) if r.iter().any(|x| x == "ConditionalCheckFailed") => {
                    return Err(StoreError::AlreadyExists);
                }
                Err(r) if attempt < 5 && r.iter().any(|x| x == "TransactionConflict") => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                }
                Err(r) => {
                    return Err(StoreError::Backend(format!("transaction cancelled: {r:?}")));
                }
            }
        }
        Err(StoreError::Backend("transaction kept conflicting".into()))
    }

    /// A refresh token by hash; expired tokens are absent.
    pub async fn get_refresh(
        &self,
        tenant: &TenantId,
        token_hash: &str,
        now: Now,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let item = self.get(key(tenant, sk::refresh(token_hash)), true).await?;
        live(item.as_ref(), now)
            .map(RefreshToken::try_from)
            .transpose()
    }

    /// A family by id; expired families are absent.
    pub async fn get_family(
        &self,
        tenant: &TenantId,
        family_id: &str,
        now: Now,
    ) -> Result<Option<Family>, StoreError> {
        let item = self.get(key(tenant, sk::family(family_id)), true).await?;
        live(item.as_ref(), now).map(Family::try_from).transpose()
    }

    /// Rotate: in one transaction the old token becomes `Rotated` (only if it is
    /// still active and unexpired), the successor is written, the family must not
    /// be revoked and the user's password version must still match.
    pub async fn rotate_refresh(
        &self,
        old: &RefreshToken,
        successor: &RefreshToken,
        salt: &str,
        retry_scope: &str,
        now: Now,
    ) -> Result<Result<(), RotateFailure>, StoreError> {
        let t = &old.tenant;
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(t, sk::refresh(&old.token_hash))))
                .update_expression(
                    "SET #st = :rotated, rotated_at = :now, successor_salt = :salt, successor_hash = :succ, retry_scope = :rs",
                )
                .expression_attribute_values(":rs", s(retry_scope))
                .condition_expression("#st = :active AND expires_at > :now")
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":rotated", s("rotated"))
                .expression_attribute_values(":active", s("active"))
                .expression_attribute_values(":now", n(now.secs()))
                .expression_attribute_values(":salt", s(salt))
                .expression_attribute_values(":succ", s(successor.token_hash.clone()))
                .build(),
        )?;
        // Touching the family keeps it alive as long as its newest token.
        let family_touch = build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(t, sk::family(&old.family_id))))
                .update_expression("SET expires_at = :exp, #ttl = :exp")
                .condition_expression("attribute_exists(pk) AND revoked = :f")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":f", b(false))
                .expression_attribute_values(":exp", n(successor.expires_at))
                .build(),
        )?;
        let user_check = build(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(t, sk::user(&old.user_id))))
                .condition_expression("attribute_exists(pk) AND pwd_version = :v")
                .expression_attribute_values(":v", n(old.pwd_version))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put_op(successor.into(), Some("attribute_not_exists(pk)"))?,
            TransactWriteItem::builder().update(family_touch).build(),
            TransactWriteItem::builder()
                .condition_check(user_check)
                .build(),
        ];
        let outcome = match self.transact_idempotent(items).await {
            Ok(o) => o,
            Err(e) => {
                // Unknown outcome: if the rotation committed, say so, so the
                // client gets the successor it now depends on.
                let committed = self
                    .get(key(t, sk::refresh(&old.token_hash)), true)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|i| {
                        Get(&i).opt_s("successor_hash").as_deref()
                            == Some(successor.token_hash.as_str())
                    });
                return if committed { Ok(Ok(())) } else { Err(e) };
            }
        };
        Ok(match outcome {
            Ok(()) => Ok(()),
            Err(reasons) => {
                let failed = |i: usize| {
                    reasons
                        .get(i)
                        .is_some_and(|r| r == "ConditionalCheckFailed")
                };
                if failed(2) {
                    Err(RotateFailure::FamilyRevoked)
                } else if failed(3) {
                    Err(RotateFailure::PasswordChanged)
                } else if failed(0) {
                    Err(RotateFailure::OldNotActive)
                } else {
                    Err(RotateFailure::Conflict)
                }
            }
        })
    }

    /// Revokes a family: every token of it, the newest included, stops working.
    /// Writes a tombstone if the family item does not exist (yet).
    pub async fn revoke_family(
        &self,
        tenant: &TenantId,
        family_id: &str,
        now: Now,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, sk::family(family_id))))
            .update_expression(
                "SET revoked = :t, revoked_at = :now, expires_at = if_not_exists(expires_at, :exp), #ttl = if_not_exists(#ttl, :exp)",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":now", n(now.secs()))
            .expression_attribute_values(":exp", n(now.plus(DEFAULT_REFRESH_TOKEN_TTL)))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }

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

    // ---- login transactions -----------------------------------------------

    /// Marks a login transaction used; `AlreadyExists` if it was used before.
    pub async fn use_login_tx(
        &self,
        tenant: &TenantId,
        tx_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let mut i = key(tenant, sk::login_tx(tx_id));
        i.insert("expires_at".into(), n(expires_at));
        i.insert(TTL.into(), n(expires_at));
        self.put_if_absent(i).await
    }

    // ---- test support ------------------------------------------------------

    /// Writes a raw refresh token as given (tests use it to plant expired items).
    pub async fn put_refresh_raw(&self, rt: &RefreshToken) -> Result<(), StoreError> {
        self.put_if_absent(rt.into()).await
    }
}
