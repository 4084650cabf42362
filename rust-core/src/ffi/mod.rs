//! The UniFFI surface (docs/design.md §3 "ffi"): the only module that knows UniFFI. Thin exported objects over
//! the core — [`MatMonitor`] over the monitor and sources, [`ModelUpdater`] over the delivery updater,
//! [`scan_for_mats`] over the BLE scan — plus listener traits, [`TaskHandle`] subscriptions and one
//! error enum, [`HapticMatError`]. No domain logic lives here.
//!
//! Threads: every exported method says whether it blocks. Async exports (`suspend` in Kotlin) run
//! their blocking work on a thread of their own, so they need no runtime on the caller's side. Listener
//! callbacks come on the core's threads and must return quickly.
//!
//! Panics: UniFFI catches a panic in an exported call and Kotlin gets `InternalException`; panics on
//! the core's own threads (a session, a check) are caught here and reported as
//! [`HapticMatError::Internal`] or a failed session. Either way the process goes on (this needs the
//! default `panic = "unwind"`).

mod background;
mod bench;
mod error;
mod http;
mod monitor;
mod records;
mod scan;
mod task;
mod updater;

pub use bench::{ModelBenchmark, benchmark_model};
pub use error::HapticMatError;
pub use http::{HttpHeader, StoreHttpBody, StoreHttpClient, StoreHttpError, StoreHttpRequest, StoreHttpResponse};
pub use monitor::{FrameListener, MatMonitor, PresenceListener};
pub use records::{
    BaselineStatus, ConnectionStatus, InstalledModelInfo, MatDevice, MatFrame, MatSource, ModelDetails, MonitorState,
    MonitorStats, PersonalCalibrationStatus, PresenceState, SessionStatus, UpdateOutcome, UpdateProgress, UpdateReport,
    UpdateResult, UpdaterSettings,
};
pub use scan::{MatScanListener, scan_for_mats, start_mat_scan};
pub use task::TaskHandle;
pub use updater::{ModelUpdater, UpdateProgressListener};

/// Where the ONNX Runtime shared library is, before the first model loads: Android passes the name of
/// the library packaged in the APK (`libonnxruntime.so`), host tests the path of the one
/// `scripts/setup.sh` installed. No I/O (the library is loaded with the first model); any thread.
#[uniffi::export]
pub fn set_onnx_runtime_library(path: String) -> Result<(), HapticMatError> {
    if path.trim().is_empty() {
        return Err(HapticMatError::invalid("ONNX Runtime library path is empty"));
    }
    crate::inference::set_runtime_library(path);
    Ok(())
}

/// How many exported objects (monitors, updaters, task handles) are alive in native memory: 0 once
/// the app has closed them all. For leak checks and tests. No I/O; any thread.
#[uniffi::export]
pub fn native_object_count() -> u64 {
    task::live_objects()
}

/// The version of this core library. No I/O; any thread.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Panics on purpose, so the app's tests can check that a Rust panic reaches Kotlin as an exception
/// (`InternalException`) and does not abort the process. Never call it otherwise. Only in debug builds
/// (the host-JVM tests use `target/debug`): release and Android libraries do not export it.
#[cfg(debug_assertions)]
#[doc(hidden)]
#[uniffi::export]
pub fn ffi_panic_probe(message: String) {
    panic!("panic probe: {message}");
}

#[cfg(test)]
mod tests;
