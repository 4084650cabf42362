//! Scanning for mats, for the app's pairing screen.

use super::background::run_blocking;
use super::error::{HapticMatError, Result};
use super::records::MatDevice;
use crate::source::ble::scan_mats_blocking;
use std::time::Duration;

/// Longest scan accepted: Android throttles apps that scan longer, and a mat advertises every second.
const MAX_SCAN_SECONDS: u32 = 60;

/// Listens for `seconds` and lists the devices that may be a mat: those advertising the mat's service
/// first, then every named one, strongest signal first. Radio I/O on its own thread; `suspend` in
/// Kotlin, safe from any dispatcher. Throws `BluetoothUnavailable` where there is no usable Bluetooth
/// (no adapter, turned off, no stack) and `BluetoothPermissionDenied` without the permissions.
#[uniffi::export]
pub async fn scan_for_mats(seconds: u32) -> Result<Vec<MatDevice>> {
    if !(1..=MAX_SCAN_SECONDS).contains(&seconds) {
        return Err(HapticMatError::invalid(format!("scan of {seconds} s: expected 1 to {MAX_SCAN_SECONDS} s")));
    }
    run_blocking("ble-scan", move || {
        let found = scan_mats_blocking(Duration::from_secs(seconds.into()))?;
        Ok(found.into_iter().map(MatDevice::from).collect())
    })
    .await
}
