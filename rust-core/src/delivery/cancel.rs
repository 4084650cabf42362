//! Cancelling a running check from another thread. UniFFI does not carry a Kotlin coroutine's
//! cancellation into Rust (docs/design.md §8), so long work gets its own handle.

use super::{DeliveryError, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Cancels the check in progress; cheap to clone and share across threads.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    inner: Arc<(AtomicBool, Notify)>,
}

impl CancelHandle {
    /// A handle that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the running check (it ends with `Cancelled`; the installed model is untouched).
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called since the last reset.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Clears the flag before a new check starts.
    pub(crate) fn reset(&self) {
        self.inner.0.store(false, Ordering::SeqCst);
    }

    /// Fails with `Cancelled` if cancelled.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() { Err(DeliveryError::Cancelled) } else { Ok(()) }
    }

    /// Resolves once cancelled.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a cancel between the two is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps, or fails with `Cancelled` as soon as cancelled.
    pub(crate) async fn sleep(&self, d: Duration) -> Result<()> {
        tokio::select! {
            () = tokio::time::sleep(d) => self.check(),
            () = self.cancelled() => Err(DeliveryError::Cancelled),
        }
    }
}
