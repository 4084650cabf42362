//! Scanning for mats, for the app's pairing screen: one streaming scan for as long as the screen wants
//! ([`start_mat_scan`]), and the older fixed-length list ([`scan_for_mats`]).

use super::background::run_blocking;
use super::error::{HapticMatError, Result};
use super::records::MatDevice;
use super::task::{Listeners, TaskHandle};
use crate::source::ble::{BleError, scan_mats_blocking, scan_mats_until};
use std::sync::{Arc, Mutex};
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

/// Receives a streaming scan's devices, on the scan's own thread: return quickly.
#[uniffi::export(foreign)]
pub trait MatScanListener: Send + Sync {
    /// A device that may be a mat was heard: one advertising the mat's service, or any named device (a
    /// mat does not always advertise its service). Called again for the same `id` when its name changes
    /// or its signal moves by 4 dB or more.
    fn on_mat_found(&self, mat: MatDevice, advertises_mat_service: bool);
    /// The scan ended by itself: Bluetooth was turned off (`bluetooth_unavailable`) or the stack failed.
    /// Never called after the handle was cancelled.
    fn on_scan_failed(&self, bluetooth_unavailable: bool, reason: String);
}

/// Starts one scan that reports devices to `listener` until the returned handle is cancelled or
/// dropped; then the radio stops scanning (within about a second, on the scan's thread). Resolves once
/// the radio scans. One scan start whatever its length, so it stays inside Android's limit of five
/// starts per 30 s. Throws `BluetoothUnavailable` / `BluetoothPermissionDenied` as [`scan_for_mats`].
/// If the caller is cancelled before this resolves, the scan stops at once.
#[uniffi::export]
pub async fn start_mat_scan(listener: Arc<dyn MatScanListener>) -> Result<Arc<TaskHandle>> {
    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let (started_tx, started_rx) = futures::channel::oneshot::channel::<Result<()>>();
    let started_tx = Arc::new(Mutex::new(Some(started_tx)));
    let on_start = started_tx.clone();
    std::thread::Builder::new()
        .name("hapticmat-ble-scan".to_string())
        .spawn(move || {
            let scan = async {
                scan_mats_until(
                    || {
                        if let Some(tx) = super::task::lock(&on_start).take() {
                            let _ = tx.send(Ok(()));
                        }
                    },
                    |mat, service| {
                        Listeners::<dyn MatScanListener>::call_one(&*listener, |l| {
                            l.on_mat_found(MatDevice::from(mat), service)
                        });
                    },
                    // A dropped sender (handle dropped, or the caller gone before the start) stops too.
                    async move {
                        let _ = stop_rx.await;
                    },
                )
                .await
            };
            let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(scan),
                Err(e) => Err(BleError::Runtime { reason: e.to_string() }),
            };
            if let Err(e) = result {
                match super::task::lock(&started_tx).take() {
                    Some(tx) => {
                        let _ = tx.send(Err(e.into()));
                    }
                    None => {
                        let error = HapticMatError::from(e);
                        let unavailable = matches!(error, HapticMatError::BluetoothUnavailable { .. });
                        let reason = error.to_string();
                        Listeners::<dyn MatScanListener>::call_one(&*listener, |l| {
                            l.on_scan_failed(unavailable, reason)
                        });
                    }
                }
            }
        })
        .map_err(|e| HapticMatError::Internal { reason: format!("cannot start a thread for the scan: {e}") })?;
    started_rx
        .await
        .unwrap_or_else(|_| Err(HapticMatError::Internal { reason: "the scan ended without starting".to_string() }))?;
    Ok(TaskHandle::new(move || {
        let _ = stop_tx.send(());
    }))
}
