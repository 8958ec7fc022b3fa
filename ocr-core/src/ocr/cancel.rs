//! Cooperative cancellation: a caller that gives up (a gRPC deadline, a closed connection) sets
//! the flag; the engine checks it between stages and between recogniser batches and stops with
//! [`OcrError::Cancelled`](super::OcrError::Cancelled).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared cancellation flag; clones observe the same flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work holding this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Two flags are equal when they are the same flag.
impl PartialEq for Cancel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// `Err(Cancelled)` when `cancel` is set.
pub(crate) fn check(cancel: Option<&Cancel>) -> Result<(), super::OcrError> {
    match cancel {
        Some(c) if c.is_cancelled() => Err(super::OcrError::Cancelled),
        _ => Ok(()),
    }
}
