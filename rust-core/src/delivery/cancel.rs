//! Cancelling a running check from another thread. UniFFI does not carry a Kotlin coroutine's
//! cancellation into Rust (docs/design.md §8), so long work gets its own handle.
//!
//! A cancel is a count, not a flag that a new check clears: each check remembers the count when it was
//! asked for, and is cancelled once the count moved on. So a cancel reaches the check in progress *and*
//! a check still waiting for it to end (issue 12 item 11), and never a check asked for afterwards.

use super::{DeliveryError, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Cancels the checks asked for before the cancel; cheap to clone and share across threads.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    inner: Arc<(AtomicU64, Notify)>,
    /// The count of cancels when this handle's check was asked for.
    since: u64,
}

impl CancelHandle {
    /// A handle that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every check asked for before now, running or waiting (each ends with `Cancelled`; the
    /// installed model is untouched).
    pub fn cancel(&self) {
        self.inner.0.fetch_add(1, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called on this handle (or a clone) since it was made, or, for
    /// the handle of one check, since that check was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst) != self.since
    }

    /// The handle of one check asked for now: a later cancel on any clone cancels it, an earlier one does not.
    pub(crate) fn for_new_check(&self) -> Self {
        CancelHandle { inner: self.inner.clone(), since: self.inner.0.load(Ordering::SeqCst) }
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
            // Registered before the count is read, so a cancel between the two is not missed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_reaches_checks_asked_for_before_it_and_no_later_one() {
        let handle = CancelHandle::new();
        let running = handle.for_new_check();
        let waiting = handle.for_new_check();
        assert!(!running.is_cancelled() && !waiting.is_cancelled());
        handle.clone().cancel();
        assert!(running.is_cancelled() && waiting.is_cancelled(), "both the running and the waiting check");
        assert_eq!(waiting.check(), Err(DeliveryError::Cancelled));
        let next = handle.for_new_check();
        assert!(!next.is_cancelled(), "a check asked for after the cancel runs");
        assert_eq!(next.check(), Ok(()));
    }
}
