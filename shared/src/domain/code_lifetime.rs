//! Authorization code lifetime (SPEC: Callback): a code lives 60 s and works
//! once; a redeemed code is kept a day so that a replay can still revoke what
//! its redemption issued.

/// Seconds a code may be redeemed after it is issued.
pub const CODE_TTL: u64 = 60;
/// How long a redeemed code is kept so that a replay can still revoke what it issued.
pub const USED_CODE_RETENTION: u64 = 24 * 3600;
