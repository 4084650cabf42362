//! The real radio through btleplug: scan by name, connect, discover the mat's characteristics,
//! subscribe, write, and the notifications and disconnects of the link; and the pairing screen's scan.

use super::*;
use btleplug::api::{
    Central as _, CentralEvent, CentralState, CharPropFlags, Characteristic, Manager as _, Peripheral as _, ScanFilter,
    ValueNotification, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral, PeripheralId};
use futures::{Stream, StreamExt as _};
use std::cmp::Reverse;
use std::collections::HashSet;
use std::pin::Pin;

/// The real radio through btleplug, on the system's first Bluetooth adapter.
pub struct BtleplugTransport {
    // Kept alive with the adapter: on some platforms the manager owns the connection to the stack.
    _manager: Manager,
    adapter: Adapter,
    /// A peripheral being connected to, so a cancelled `connect` can still be disconnected.
    pending: Option<Peripheral>,
}

/// A discovered peripheral worth trying.
struct Candidate {
    peripheral: Peripheral,
    label: String,
    advertises_service: bool,
    rssi: Option<i16>,
}

impl BtleplugTransport {
    /// Opens the OS Bluetooth stack and takes its first adapter (I/O; needs a tokio runtime).
    /// On Android, `btleplug::platform::init` must have been called first.
    pub async fn new() -> Result<Self, BleError> {
        let unavailable = |reason: String| BleError::Unavailable { reason };
        let open = async {
            let manager = Manager::new().await?;
            let adapters = manager.adapters().await?;
            Ok::<_, btleplug::Error>((manager, adapters))
        };
        let (manager, adapters) = tokio::time::timeout(ADAPTER_TIMEOUT, open)
            .await
            .map_err(|_| unavailable("the Bluetooth stack did not answer".to_string()))?
            .map_err(|e| stack_error(e, unavailable))?;
        let adapter = adapters.into_iter().next().ok_or(BleError::NoAdapter)?;
        Ok(BtleplugTransport { _manager: manager, adapter, pending: None })
    }

    /// Fails early when Bluetooth is off, instead of a scan that can never find anything.
    async fn ensure_powered(&self) -> Result<(), BleError> {
        match self.adapter.adapter_state().await {
            Ok(CentralState::PoweredOff) => {
                Err(BleError::Unavailable { reason: "Bluetooth is turned off".to_string() })
            }
            Ok(_) => Ok(()),
            Err(btleplug::Error::PermissionDenied) => Err(BleError::PermissionDenied),
            // Not every backend knows its state; the scan will tell.
            Err(e) => {
                log::debug!("BLE: adapter state unknown: {e}");
                Ok(())
            }
        }
    }

    async fn start_scan(&self) -> Result<(), BleError> {
        // Unfiltered: the mat does not reliably advertise its service UUID (docs/design.md §2).
        self.adapter
            .start_scan(ScanFilter::default())
            .await
            .map_err(|e| stack_error(e, |reason| BleError::ScanFailed { reason }))
    }

    async fn stop_scan(&self) {
        if let Err(e) = self.adapter.stop_scan().await {
            log::debug!("BLE: stop scan: {e}");
        }
    }

    /// Peripherals seen so far that may be the mat, most promising first.
    async fn candidates(
        &self,
        name: Option<&str>,
        tried: &HashSet<PeripheralId>,
        settled: bool,
    ) -> Result<Vec<Candidate>, BleError> {
        let peripherals =
            self.adapter.peripherals().await.map_err(|e| stack_error(e, |reason| BleError::ScanFailed { reason }))?;
        let mut found = Vec::new();
        for peripheral in peripherals {
            let id = peripheral.id();
            if tried.contains(&id) {
                continue;
            }
            // No properties yet: look again at the next tick.
            let Ok(Some(props)) = peripheral.properties().await else { continue };
            let id = id.to_string();
            let advertises_service = props.services.contains(&MAT_SERVICE);
            let take = match name {
                Some(wanted) => {
                    name_matches(wanted, props.local_name.as_deref(), &id)
                        || name_matches(wanted, props.advertisement_name.as_deref(), &id)
                }
                // Without a name every in-range peripheral is probed; an RSSI means it was heard in
                // this scan (BlueZ also lists cached devices that are far away).
                None => props.rssi.is_some() && (advertises_service || settled),
            };
            if take {
                let label = props.local_name.or(props.advertisement_name).unwrap_or(id);
                found.push(Candidate { peripheral, label, advertises_service, rssi: props.rssi });
            }
        }
        found.sort_by_key(|c| (Reverse(c.advertises_service), Reverse(c.rssi)));
        Ok(found)
    }

    /// Scans until a candidate turns out to be a mat or the scan times out.
    async fn find_mat(&mut self, name: Option<&str>, scan_timeout: Duration) -> Result<BtleplugLink, BleError> {
        self.ensure_powered().await?;
        self.start_scan().await?;
        let started = Instant::now();
        let deadline = started.checked_add(scan_timeout);
        let mut tried = HashSet::new();
        let mut last_error = None;
        loop {
            let settled = started.elapsed() >= UNNAMED_SETTLE;
            for candidate in self.candidates(name, &tried, settled).await? {
                tried.insert(candidate.peripheral.id());
                // Many controllers (and Android) connect unreliably while scanning.
                self.stop_scan().await;
                self.pending = Some(candidate.peripheral.clone());
                let attempt = Self::try_mat(&self.adapter, &candidate).await;
                self.pending = None;
                match attempt {
                    Ok(link) => return Ok(link),
                    Err(error) => {
                        log::info!("BLE: {} is not usable: {error}", candidate.label);
                        last_error = Some(error);
                    }
                }
                self.start_scan().await?;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            tokio::time::sleep(SCAN_TICK).await;
        }
        self.stop_scan().await;
        // A named mat that was found but failed says more than "not found".
        Err(last_error.unwrap_or(BleError::NotFound { name: name.map(str::to_string), timeout: scan_timeout }))
    }

    /// Connects to one candidate and sets up the session; disconnects again if it is not a mat.
    async fn try_mat(adapter: &Adapter, candidate: &Candidate) -> Result<BtleplugLink, BleError> {
        let peripheral = &candidate.peripheral;
        let device = candidate.label.clone();
        let connect_failed = |reason: String| BleError::ConnectFailed { device: device.clone(), reason };
        tokio::time::timeout(CONNECT_TIMEOUT, peripheral.connect())
            .await
            .map_err(|_| connect_failed(format!("timed out after {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| stack_error(e, connect_failed))?;
        let setup = Self::set_up(adapter, peripheral, &device).await;
        if setup.is_err() {
            let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, peripheral.disconnect()).await;
        }
        setup
    }

    async fn set_up(adapter: &Adapter, peripheral: &Peripheral, device: &str) -> Result<BtleplugLink, BleError> {
        let discovery_failed = |reason: String| BleError::DiscoveryFailed { device: device.to_string(), reason };
        tokio::time::timeout(DISCOVERY_TIMEOUT, peripheral.discover_services())
            .await
            .map_err(|_| discovery_failed("timed out".to_string()))?
            .map_err(|e| stack_error(e, discovery_failed))?;
        let characteristics = peripheral.characteristics();
        let find = |uuid: Uuid| {
            characteristics
                .iter()
                .find(|c| c.uuid == uuid)
                .cloned()
                .ok_or_else(|| BleError::CharacteristicMissing { device: device.to_string(), uuid })
        };
        let write_char = find(WRITE_CHARACTERISTIC)?;
        let notify_char = find(NOTIFY_CHARACTERISTIC)?;
        // Write-without-response unless the mat only offers writes with response.
        let write_type = if write_char.properties.contains(CharPropFlags::WRITE)
            && !write_char.properties.contains(CharPropFlags::WRITE_WITHOUT_RESPONSE)
        {
            WriteType::WithResponse
        } else {
            WriteType::WithoutResponse
        };
        let subscribe_failed = |reason: String| BleError::SubscribeFailed { device: device.to_string(), reason };
        // Both streams are opened before subscribing so that nothing sent right after is missed. The
        // adapter's events carry the disconnect the notification stream does not (on BlueZ it stays
        // open across connections).
        let notifications = peripheral.notifications().await.map_err(|e| stack_error(e, subscribe_failed))?;
        let events = adapter.events().await.map_err(|e| stack_error(e, subscribe_failed))?;
        tokio::time::timeout(DISCOVERY_TIMEOUT, peripheral.subscribe(&notify_char))
            .await
            .map_err(|_| subscribe_failed("timed out".to_string()))?
            .map_err(|e| stack_error(e, subscribe_failed))?;
        // A drop before the adapter's event stream was open is in no stream: without this check `recv`
        // would only notice it after the silence timeout.
        if let Ok(false) = peripheral.is_connected().await {
            return Err(subscribe_failed("the link dropped while subscribing".to_string()));
        }
        Ok(BtleplugLink {
            peripheral: peripheral.clone(),
            id: peripheral.id(),
            name: device.to_string(),
            write_char,
            notify_char,
            write_type,
            notifications,
            events,
        })
    }
}

impl MatTransport for BtleplugTransport {
    type Link = BtleplugLink;

    async fn connect(&mut self, name: Option<&str>, scan_timeout: Duration) -> Result<BtleplugLink, BleError> {
        self.shutdown().await;
        let result = self.find_mat(name, scan_timeout).await;
        if result.is_err() {
            self.stop_scan().await;
        }
        result
    }

    async fn shutdown(&mut self) {
        self.stop_scan().await;
        if let Some(peripheral) = self.pending.take() {
            let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, peripheral.disconnect()).await;
        }
    }
}

/// A connected mat through btleplug.
pub struct BtleplugLink {
    peripheral: Peripheral,
    id: PeripheralId,
    name: String,
    write_char: Characteristic,
    notify_char: Characteristic,
    write_type: WriteType,
    notifications: Pin<Box<dyn Stream<Item = ValueNotification> + Send>>,
    events: Pin<Box<dyn Stream<Item = CentralEvent> + Send>>,
}

impl MatLink for BtleplugLink {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), BleError> {
        let failed = |reason: String| BleError::WriteFailed { reason };
        tokio::time::timeout(WRITE_TIMEOUT, self.peripheral.write(&self.write_char, bytes, self.write_type))
            .await
            .map_err(|_| failed("timed out".to_string()))?
            .map_err(|e| stack_error(e, failed))
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        // Both `next()`s are cancel-safe, so this is too.
        loop {
            tokio::select! {
                notification = self.notifications.next() => match notification {
                    None => return None,
                    Some(n) if n.uuid == NOTIFY_CHARACTERISTIC => return Some(n.value),
                    Some(_) => {}
                },
                event = self.events.next() => match event {
                    None => return None,
                    Some(CentralEvent::DeviceDisconnected(id)) if id == self.id => return None,
                    Some(_) => {}
                },
            }
        }
    }

    async fn disconnect(self) {
        if let Err(e) = self.peripheral.unsubscribe(&self.notify_char).await {
            log::debug!("BLE: unsubscribe: {e}");
        }
        if let Err(e) = self.peripheral.disconnect().await {
            log::debug!("BLE: disconnect: {e}");
        }
    }
}

/// A peripheral seen by [`scan_mats`], for the app's pairing screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredMat {
    /// Platform device id (an address on Linux and Android); usable as [`BleConfig::name`].
    pub id: String,
    /// Advertised name, if any.
    pub name: Option<String>,
    /// Signal strength in dBm, if reported.
    pub rssi: Option<i16>,
}

/// Scans for `timeout` and lists the peripherals heard that may be a mat: those advertising the mat
/// service first, then every named one, strongest signal first. Radio I/O; needs a tokio runtime.
pub async fn scan_mats(timeout: Duration) -> Result<Vec<DiscoveredMat>, BleError> {
    let transport = BtleplugTransport::new().await?;
    transport.ensure_powered().await?;
    transport.start_scan().await?;
    tokio::time::sleep(timeout).await;
    let peripherals = transport.adapter.peripherals().await;
    transport.stop_scan().await;
    let peripherals = peripherals.map_err(|e| stack_error(e, |reason| BleError::ScanFailed { reason }))?;
    let mut found = Vec::new();
    for peripheral in peripherals {
        let Ok(Some(props)) = peripheral.properties().await else { continue };
        let advertises_service = props.services.contains(&MAT_SERVICE);
        let name = props.local_name.or(props.advertisement_name);
        // No RSSI: a cached device not heard in this scan; no name and no service: an anonymous beacon.
        if props.rssi.is_none() || (name.is_none() && !advertises_service) {
            continue;
        }
        found.push((advertises_service, DiscoveredMat { id: peripheral.id().to_string(), name, rssi: props.rssi }));
    }
    found.sort_by_key(|(service, mat)| (Reverse(*service), Reverse(mat.rssi)));
    Ok(found.into_iter().map(|(_, mat)| mat).collect())
}

/// [`scan_mats`] for blocking callers: runs on its own thread and runtime, so it is safe to call from
/// any thread, even one inside an async runtime (which it blocks for `timeout`).
pub fn scan_mats_blocking(timeout: Duration) -> Result<Vec<DiscoveredMat>, BleError> {
    let worker = std::thread::Builder::new()
        .name("hapticmat-ble-scan".to_string())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| BleError::Runtime { reason: e.to_string() })?;
            runtime.block_on(scan_mats(timeout))
        })
        .map_err(|e| BleError::Runtime { reason: e.to_string() })?;
    worker.join().unwrap_or_else(|_| Err(BleError::Runtime { reason: "the scan thread panicked".to_string() }))
}

/// A device heard again is reported only when its name changed or its signal moved by at least this
/// much: a list on screen should not redraw for every advertisement (a mat advertises every second).
const RSSI_REPORT_STEP_DB: i16 = 4;

/// One scan, for as long as the caller wants, reporting each peripheral that may be a mat as it is heard
/// (again when its name changes or its signal moves by [`RSSI_REPORT_STEP_DB`]), until `stop` resolves;
/// then the radio stops scanning. One start and one stop, whatever the duration: Android lets an app
/// start five scans per 30 s, so slices of short scans are throttled into silence. `started` is called
/// once the radio scans (before any device is reported). Radio I/O; needs a tokio runtime.
pub async fn scan_mats_until(
    started: impl FnOnce(),
    mut on_found: impl FnMut(DiscoveredMat, bool),
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), BleError> {
    let transport = BtleplugTransport::new().await?;
    transport.ensure_powered().await?;
    let mut events =
        transport.adapter.events().await.map_err(|e| stack_error(e, |reason| BleError::ScanFailed { reason }))?;
    transport.start_scan().await?;
    started();
    let mut reported: std::collections::HashMap<String, (Option<String>, Option<i16>)> = Default::default();
    tokio::pin!(stop);
    let outcome = loop {
        let id = tokio::select! {
            () = &mut stop => break Ok(()),
            event = events.next() => match event {
                Some(CentralEvent::DeviceDiscovered(id) | CentralEvent::DeviceUpdated(id)) => id,
                Some(CentralEvent::StateUpdate(CentralState::PoweredOff)) => {
                    break Err(BleError::Unavailable { reason: "Bluetooth was turned off".to_string() });
                }
                Some(_) => continue,
                None => break Err(BleError::ScanFailed { reason: "the Bluetooth stack ended the scan".to_string() }),
            },
        };
        let Ok(peripheral) = transport.adapter.peripheral(&id).await else { continue };
        let Ok(Some(props)) = peripheral.properties().await else { continue };
        let advertises_service = props.services.contains(&MAT_SERVICE);
        let name = props.local_name.or(props.advertisement_name);
        if props.rssi.is_none() || (name.is_none() && !advertises_service) {
            continue;
        }
        let id = id.to_string();
        let changed = match reported.get(&id) {
            None => true,
            Some((last_name, last_rssi)) => {
                *last_name != name
                    || last_rssi.zip(props.rssi).is_some_and(|(a, b)| (a - b).abs() >= RSSI_REPORT_STEP_DB)
            }
        };
        if changed {
            reported.insert(id.clone(), (name.clone(), props.rssi));
            on_found(DiscoveredMat { id, name, rssi: props.rssi }, advertises_service);
        }
    };
    transport.stop_scan().await;
    outcome
}
