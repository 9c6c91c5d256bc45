//! Time as the rest of Varco sees it: a clock injected everywhere, so tests move it.

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Source of the current time (injected so tests can move it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}
