//! Storage: the DynamoDB adapter. The records it stores are the domain's
//! (`crate::domain::records`); nothing outside `dynamo` knows an attribute
//! name or a key.

pub mod aws;
mod dynamo;
pub mod issuer_fetch;
pub mod outbound;
pub mod secrets_manager;
pub mod upstream_http;

#[cfg(feature = "test-support")]
pub use dynamo::RawItem;
pub use dynamo::{Db, DueCursor, KeyCommit, Page, Sweep};

/// A CLI `update` of a record: only the fields it names change (`None`
/// leaves a field as it is), in one conditional write, so it can never undo
/// a concurrent `disable`, key rotation or secret rotation (SPEC:
/// Provisioning CLI).
#[derive(Debug, Default, Clone)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub introspect: Option<bool>,
}

/// See [`ClientChanges`]. An inner `None` removes the setting.
#[derive(Debug, Default, Clone)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub audiences: Option<Vec<String>>,
    pub sliding_max: Option<Option<u64>>,
    pub key_rotation_days: Option<u64>,
    pub display_name: Option<Option<String>>,
    pub logo: Option<Option<crate::domain::branding::Logo>>,
    pub primary_color: Option<Option<crate::domain::branding::Rgb>>,
    pub scope_descriptions: Option<MapChange>,
    /// When the maintenance should look at the tenant's keys again (a new
    /// lifetime or rotation period changes their schedule).
    pub keys_due: Option<u64>,
}

/// See [`ClientChanges`]. An inner `None` removes the setting.
#[derive(Debug, Default, Clone)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub name: Option<Option<String>>,
    /// Per key: `Some` sets it, `None` removes it; other keys are kept.
    pub attrs: std::collections::BTreeMap<String, Option<String>>,
    pub require_password_change: Option<bool>,
}

/// A map attribute written whole: `expected` is what it was read as (the
/// write happens only if it is still that; `None`: whatever it is now).
#[derive(Debug, Default, Clone)]
pub struct MapChange {
    pub expected: Option<std::collections::BTreeMap<String, String>>,
    pub new: std::collections::BTreeMap<String, String>,
}

/// The outcome of a conditional update.
#[derive(Debug)]
pub enum Updated<T> {
    /// Written; the record as it now is.
    Done(T),
    NoSuchRecord,
    /// A value the update depends on changed since it was read (run it again).
    ChangedMeanwhile,
}
