//! Storage: the DynamoDB adapter. The records it stores are the domain's
//! (`crate::domain::records`, re-exported here); nothing outside `dynamo`
//! knows an attribute name or a key.

mod dynamo;

pub use crate::domain::code_lifetime::{CODE_TTL, USED_CODE_RETENTION};
pub use crate::domain::records::*;
pub use crate::domain::throttling::ThrottleSlots;
#[cfg(feature = "test-support")]
pub use dynamo::RawItem;
pub use dynamo::{Db, DueCursor, KeyCommit, Page, Sweep};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("item already exists")]
    AlreadyExists,
    #[error("stored item is malformed: {0}")]
    Malformed(String),
    #[error("storage backend: {0}")]
    Backend(String),
}
