//! The clock is a parameter: read once at the edge, passed down, so tests control expiry.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, read once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Now(pub u64);

impl Now {
    /// Reads the system clock. Call this only at an edge (a handler, the CLI).
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    pub fn system() -> Self {
        Now(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0))
    }

    pub fn secs(self) -> u64 {
        self.0
    }

    pub fn plus(self, secs: u64) -> u64 {
        self.0.saturating_add(secs)
    }
}
