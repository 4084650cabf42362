//! Blocking core calls behind `async` exports. Each call runs on its own thread, so a Kotlin `suspend`
//! never blocks the caller's dispatcher and needs no Rust async runtime on the calling side; a panic on
//! that thread comes back as [`HapticMatError::Internal`] instead of crossing the FFI.

use super::error::HapticMatError;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `work` on a new named thread and resolves with its result.
pub(crate) async fn run_blocking<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, HapticMatError> + Send + 'static,
) -> Result<T, HapticMatError> {
    let (tx, rx) = futures::channel::oneshot::channel();
    let what = name.to_string();
    std::thread::Builder::new()
        .name(format!("hapticmat-{name}"))
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(work))
                .unwrap_or_else(|payload| Err(HapticMatError::from_panic(&what, payload.as_ref())));
            // The caller may have gone (its coroutine was cancelled): nobody to tell.
            let _ = tx.send(result);
        })
        .map_err(|e| HapticMatError::Internal { reason: format!("cannot start a thread for {name}: {e}") })?;
    rx.await.unwrap_or_else(|_| Err(HapticMatError::Internal { reason: format!("{name} ended without a result") }))
}
