//! The mat over Bluetooth LE: find it, connect, subscribe, poll, and reconnect with backoff when the
//! link drops. The session is generic over a [`MatTransport`] so it can be tested against a fake mat;
//! the real radio is [`BtleplugTransport`]. [`BleSource`] runs the session on its own thread and hands
//! the events to the blocking [`FrameSource`] world.

use super::{CancelToken, FrameSource, SourceError, SourceEvent, SourceStatus};
use crate::frame::Frame;
use btleplug::api::{
    Central as _, CentralEvent, CentralState, CharPropFlags, Characteristic, Manager as _, Peripheral as _, ScanFilter,
    ValueNotification, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral, PeripheralId};
use futures::{Stream, StreamExt as _};
use std::cmp::Reverse;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Characteristic the host writes commands to (docs/design.md §2, from the makers' collection script).
pub const WRITE_CHARACTERISTIC: Uuid = Uuid::from_u128(0x6e400002_c352_11e5_953d_0002a5d5c51b);

/// Characteristic the mat notifies frames on (docs/design.md §2, from the makers' collection script).
pub const NOTIFY_CHARACTERISTIC: Uuid = Uuid::from_u128(0x6e400003_c352_11e5_953d_0002a5d5c51b);

/// The UART-style service holding both characteristics, the `…0001…` sibling by convention (docs/design.md §2).
/// Only a hint for ordering candidates: the mat does not reliably advertise it, its characteristics decide.
pub const MAT_SERVICE: Uuid = Uuid::from_u128(0x6e400001_c352_11e5_953d_0002a5d5c51b);

/// Written once after subscribing to start the mat's session (docs/design.md §2, the makers' collection script).
pub const START_COMMAND: [u8; 3] = [0x01, 0xD0, 0x01];

/// Written every [`POLL_INTERVAL`]; the mat answers each with a notification (docs/design.md §2, the makers'
/// collection script).
pub const POLL_COMMAND: [u8; 3] = [0x01, 0xC0, 0x01];

/// Poll period of the makers' collection script (docs/design.md §2); the mat answers at ~6.7 Hz.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long a scan looks for the mat before the attempt counts as "not found".
pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(10);

/// First reconnect delay; short because most drops are a moment of radio shadow.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);

/// Longest reconnect delay: a mat that is switched off is still found within half a minute of coming back.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A connected mat that answers no poll for this long is treated as a dropped link: some stacks never
/// report the disconnect of a mat that lost power. 5 s is ~30 unanswered polls.
pub const DEFAULT_SILENCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Reconnect delays are shortened by up to this fraction at random, so retries do not stay in lockstep
/// with whatever periodic interference caused the drop. Below 1/3 the delays still strictly grow.
const BACKOFF_JITTER: f64 = 0.25;

/// No backoff waits longer than this, whatever the configuration (and `Duration` arithmetic cannot overflow).
const BACKOFF_CEILING: Duration = Duration::from_secs(3600);

/// How often waits look at the cancel flag; bounds how late a cancel is noticed (goal: ~200 ms).
const CANCEL_CHECK: Duration = Duration::from_millis(20);

/// How long `next_event` blocks before it looks at the cancel flag again.
const RECV_SLICE: Duration = Duration::from_millis(25);

/// Bound on a clean disconnect; the radio is released on a best-effort basis after that.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Bound on connecting to one candidate peripheral (a BLE connect usually takes < 3 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on GATT service discovery and on subscribing.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on one write: a write with response that hangs means the link is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Bound on getting the Bluetooth manager and adapter from the OS stack.
const ADAPTER_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the scan looks at the list of discovered peripherals.
const SCAN_TICK: Duration = Duration::from_millis(250);

/// Without a name filter, peripherals that do not advertise the mat's service are only tried after
/// this much scanning, so a mat that does advertise it is found before strangers are probed.
const UNNAMED_SETTLE: Duration = Duration::from_secs(1);

/// What went wrong with Bluetooth. Carries strings, not stack errors, so it can be cloned and compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BleError {
    /// The device has no Bluetooth adapter.
    #[error("no Bluetooth adapter found on this device")]
    NoAdapter,
    /// The Bluetooth stack cannot be used right now (turned off, service down).
    #[error("Bluetooth is unavailable: {reason}")]
    Unavailable { reason: String },
    /// The OS refused access (Android: the nearby-devices permissions were not granted).
    #[error("Bluetooth permission denied: grant the app permission to scan for and connect to nearby devices")]
    PermissionDenied,
    /// Scanning could not be started or read.
    #[error("could not scan for the mat: {reason}")]
    ScanFailed { reason: String },
    /// No peripheral matching the filter was seen during the scan.
    #[error("{} not found within {:.1} s", describe_filter(.name.as_deref()), .timeout.as_secs_f64())]
    NotFound { name: Option<String>, timeout: Duration },
    /// The peripheral was found but the connection failed.
    #[error("could not connect to {device}: {reason}")]
    ConnectFailed { device: String, reason: String },
    /// Connected, but the GATT services could not be discovered.
    #[error("could not discover the services of {device}: {reason}")]
    DiscoveryFailed { device: String, reason: String },
    /// The peripheral lacks one of the mat's characteristics: not a mat, or different firmware.
    #[error("{device} has no characteristic {uuid}: not a HapticMat mat, or a different firmware")]
    CharacteristicMissing { device: String, uuid: Uuid },
    /// Notifications of the mat's notify characteristic could not be enabled.
    #[error("could not subscribe to the notifications of {device}: {reason}")]
    SubscribeFailed { device: String, reason: String },
    /// A command could not be written to the mat.
    #[error("write to the mat failed: {reason}")]
    WriteFailed { reason: String },
    /// The notification stream ended: the link dropped.
    #[error("the mat's notifications ended (link dropped)")]
    NotificationsEnded,
    /// The mat stopped answering polls although the link looks up.
    #[error("the mat sent nothing for {:.1} s although polled", .after.as_secs_f64())]
    Silent { after: Duration },
    /// The background thread or its runtime could not be started.
    #[error("could not start the Bluetooth task: {reason}")]
    Runtime { reason: String },
}

impl BleError {
    /// Whether retrying cannot help (no radio, no permission): the source ends instead of reconnecting.
    pub fn is_fatal(&self) -> bool {
        matches!(self, BleError::NoAdapter | BleError::PermissionDenied | BleError::Runtime { .. })
    }
}

/// Human words for the name filter, shared by error messages and `describe()`.
fn describe_filter(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("mat {name:?}"),
        None => "a mat with the HapticMat characteristics".to_string(),
    }
}

/// Maps a stack error, keeping the two cases that need their own message and wrapping the rest.
fn stack_error(error: btleplug::Error, wrap: impl FnOnce(String) -> BleError) -> BleError {
    match error {
        btleplug::Error::PermissionDenied => BleError::PermissionDenied,
        btleplug::Error::NoAdapterAvailable => BleError::NoAdapter,
        other => wrap(other.to_string()),
    }
}

/// How the BLE source finds the mat and paces its session.
#[derive(Debug, Clone, PartialEq)]
pub struct BleConfig {
    /// Part of the mat's advertised name (case-insensitive) or its exact device id; `None` takes the
    /// first peripheral that has both mat characteristics.
    pub name: Option<String>,
    /// How long one scan looks for the mat.
    pub scan_timeout: Duration,
    /// Period of the poll command.
    pub poll_interval: Duration,
    /// First reconnect delay; doubles per failed attempt.
    pub backoff_initial: Duration,
    /// Cap of the reconnect delay.
    pub backoff_max: Duration,
    /// A connected mat silent for this long counts as disconnected.
    pub silence_timeout: Duration,
}

impl BleConfig {
    /// The defaults of the real mat (docs/design.md §2) with an optional name filter; a blank name means none.
    pub fn new(name: Option<String>) -> Self {
        BleConfig {
            name: name.filter(|n| !n.trim().is_empty()),
            scan_timeout: DEFAULT_SCAN_TIMEOUT,
            poll_interval: POLL_INTERVAL,
            backoff_initial: DEFAULT_BACKOFF_INITIAL,
            backoff_max: DEFAULT_BACKOFF_MAX,
            silence_timeout: DEFAULT_SILENCE_TIMEOUT,
        }
    }
}

/// Whether a peripheral is the mat the user asked for: its advertised name contains `wanted` ignoring
/// case, or its device id equals `wanted` (what a pairing screen stores). A blank `wanted` matches all.
fn name_matches(wanted: &str, advertised: Option<&str>, id: &str) -> bool {
    let wanted = wanted.trim();
    if wanted.is_empty() {
        return true;
    }
    let wanted_lower = wanted.to_lowercase();
    advertised.is_some_and(|name| name.to_lowercase().contains(&wanted_lower)) || id.eq_ignore_ascii_case(wanted)
}

/// What the session needs from a radio: find a mat and connect to it. [`BtleplugTransport`] is the real
/// one; tests use a fake mat.
pub trait MatTransport: Send + 'static {
    /// A connected, subscribed mat.
    type Link: MatLink;

    /// Scans for up to `scan_timeout` for a peripheral whose advertised name contains `name`
    /// (case-insensitive) — with no name, any peripheral that turns out to have both mat
    /// characteristics — then connects, discovers services, finds both characteristics and subscribes.
    fn connect(
        &mut self,
        name: Option<&str>,
        scan_timeout: Duration,
    ) -> impl Future<Output = Result<Self::Link, BleError>> + Send;

    /// Releases whatever a cancelled `connect` left behind (a running scan, a half-open connection).
    /// Called once when the session ends.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A connected mat whose notify characteristic is subscribed.
pub trait MatLink: Send {
    /// The name to show the user: the advertised name, else the device id.
    fn name(&self) -> String;

    /// Writes `bytes` to the mat's write characteristic.
    fn write(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), BleError>> + Send;

    /// The next notification of the notify characteristic; `None` once the link has dropped.
    /// Must be cancel-safe: the session drops a pending `recv` whenever it is time to poll.
    fn recv(&mut self) -> impl Future<Output = Option<Vec<u8>>> + Send;

    /// Unsubscribes and disconnects, best effort: a link that is already gone has nothing to release.
    fn disconnect(self) -> impl Future<Output = ()> + Send;
}

/// The session's stop condition: the caller's token, or the source's own flag set by `Drop` (dropping
/// a source must not cancel everything else that shares the caller's token).
#[derive(Debug, Clone)]
struct Stop {
    caller: CancelToken,
    own: CancelToken,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.caller.is_cancelled() || self.own.is_cancelled()
    }

    /// Completes soon after the stop flag is set. `CancelToken` is a plain flag, so this polls it.
    async fn wait(&self) {
        while !self.is_set() {
            tokio::time::sleep(CANCEL_CHECK).await;
        }
    }
}

/// Exponential reconnect delays: `initial` doubling per attempt up to `max`, shortened by jitter.
#[derive(Debug, Clone)]
struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        // A zero delay would turn a missing mat into a busy loop.
        let initial = initial.clamp(Duration::from_millis(1), BACKOFF_CEILING);
        Backoff { initial, max: max.clamp(initial, BACKOFF_CEILING), attempt: 0 }
    }

    /// The un-jittered delay before attempt `attempt` (1-based).
    fn base(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The next attempt number and its delay; `unit` in `0..1` picks the jitter.
    fn next(&mut self, unit: f64) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        (self.attempt, self.base(self.attempt).mul_f64(1.0 - BACKOFF_JITTER * unit))
    }

    /// After a connection that delivered frames the mat is known to work: start over from `initial`.
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// How one connection ended.
enum LinkEnd {
    /// Cancelled, or nobody listens any more: the session ends.
    Stop,
    /// The link dropped or a write failed after `frames` good frames.
    Lost { frames: u64, error: BleError },
}

/// Sends an event; false once the receiving `BleSource` is gone.
fn emit(tx: &mpsc::Sender<SourceEvent>, event: SourceEvent) -> bool {
    tx.send(event).is_ok()
}

/// The whole life of a BLE source: connect, stream, reconnect with backoff, until stopped or fatal.
async fn run_session<T: MatTransport>(
    mut transport: T,
    config: BleConfig,
    stop: Stop,
    opened: Instant,
    tx: mpsc::Sender<SourceEvent>,
) {
    session_loop(&mut transport, &config, &stop, opened, &tx).await;
    if tokio::time::timeout(DISCONNECT_TIMEOUT, transport.shutdown()).await.is_err() {
        log::warn!("BLE: releasing the radio timed out");
    }
}

async fn session_loop<T: MatTransport>(
    transport: &mut T,
    config: &BleConfig,
    stop: &Stop,
    opened: Instant,
    tx: &mpsc::Sender<SourceEvent>,
) {
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    loop {
        if stop.is_set() || !emit(tx, SourceEvent::Status(SourceStatus::Scanning)) {
            return;
        }
        let connected = tokio::select! {
            biased;
            () = stop.wait() => return,
            result = transport.connect(config.name.as_deref(), config.scan_timeout) => result,
        };
        match connected {
            Err(error) => {
                log::warn!("BLE: {error}");
                let fatal = error.is_fatal();
                if !emit(tx, SourceEvent::Skipped(SourceError::Ble(error))) || fatal {
                    return;
                }
            }
            Ok(mut link) => {
                let name = link.name();
                log::info!("BLE: connected to {name}");
                let end = if emit(tx, SourceEvent::Status(SourceStatus::Connected { name })) {
                    stream_frames(&mut link, config, stop, opened, tx).await
                } else {
                    LinkEnd::Stop
                };
                if tokio::time::timeout(DISCONNECT_TIMEOUT, link.disconnect()).await.is_err() {
                    log::warn!("BLE: disconnect timed out");
                }
                match end {
                    LinkEnd::Stop => return,
                    LinkEnd::Lost { frames, error } => {
                        log::warn!("BLE: link lost after {frames} frames: {error}");
                        if frames > 0 {
                            backoff.reset();
                        }
                        let reason = error.to_string();
                        if stop.is_set() || !emit(tx, SourceEvent::Status(SourceStatus::Disconnected { reason })) {
                            return;
                        }
                    }
                }
            }
        }
        let (attempt, delay) = backoff.next(rand::random::<f64>());
        if stop.is_set() || !emit(tx, SourceEvent::Status(SourceStatus::Reconnecting { attempt, delay })) {
            return;
        }
        tokio::select! {
            biased;
            () = stop.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One connection: start command once, then poll and decode notifications until the link ends.
async fn stream_frames<L: MatLink>(
    link: &mut L,
    config: &BleConfig,
    stop: &Stop,
    opened: Instant,
    tx: &mpsc::Sender<SourceEvent>,
) -> LinkEnd {
    let mut frames = 0u64;
    match write_unless_stopped(link, &START_COMMAND, stop).await {
        None => return LinkEnd::Stop,
        Some(Err(error)) => return LinkEnd::Lost { frames, error },
        Some(Ok(())) => {}
    }
    // tokio's interval panics on a zero period.
    let mut poll = tokio::time::interval(config.poll_interval.max(Duration::from_millis(1)));
    // After a slow write, keep the period between polls rather than bursting to catch up.
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = stop.wait() => return LinkEnd::Stop,
            notification = link.recv() => {
                let Some(bytes) = notification else {
                    return LinkEnd::Lost { frames, error: BleError::NotificationsEnded };
                };
                last_heard = Instant::now();
                let t = opened.elapsed().as_secs_f64();
                let event = match Frame::decode(&bytes, t) {
                    Ok(frame) => {
                        frames += 1;
                        SourceEvent::Frame(frame)
                    }
                    Err(error) => {
                        log::debug!("BLE: skipped a notification of {} bytes: {error}", bytes.len());
                        SourceEvent::Skipped(SourceError::BadFrame(error))
                    }
                };
                if !emit(tx, event) {
                    return LinkEnd::Stop;
                }
            }
            _ = poll.tick() => {
                if last_heard.elapsed() > config.silence_timeout {
                    return LinkEnd::Lost { frames, error: BleError::Silent { after: config.silence_timeout } };
                }
                match write_unless_stopped(link, &POLL_COMMAND, stop).await {
                    None => return LinkEnd::Stop,
                    Some(Err(error)) => return LinkEnd::Lost { frames, error },
                    Some(Ok(())) => {}
                }
            }
        }
    }
}

/// A write that gives way to a stop; `None` when stopped.
async fn write_unless_stopped<L: MatLink>(link: &mut L, bytes: &[u8], stop: &Stop) -> Option<Result<(), BleError>> {
    tokio::select! {
        biased;
        () = stop.wait() => None,
        result = link.write(bytes) => Some(result),
    }
}

/// The mat over Bluetooth LE as a [`FrameSource`]: a background thread runs the session on a tokio
/// current-thread runtime and sends its events here. Dropping it stops the thread and disconnects.
pub struct BleSource {
    events: mpsc::Receiver<SourceEvent>,
    cancel: CancelToken,
    own_stop: CancelToken,
    worker: Option<JoinHandle<()>>,
    description: String,
    ended: bool,
}

impl BleSource {
    /// Starts the BLE session on the system's first Bluetooth adapter. Blocks only while the adapter is
    /// acquired (< 5 s); fails at once with `NoAdapter` or `PermissionDenied` when retrying cannot help.
    pub fn open(config: BleConfig, cancel: CancelToken) -> Result<BleSource, SourceError> {
        Self::spawn(config, cancel, BtleplugTransport::new)
    }

    /// Starts the BLE session over `transport` (tests pass a fake mat). Returns at once.
    pub fn with_transport<T: MatTransport>(
        transport: T,
        config: BleConfig,
        cancel: CancelToken,
    ) -> Result<BleSource, SourceError> {
        Self::spawn(config, cancel, move || async move { Ok(transport) })
    }

    /// Spawns the session thread; `make` builds the transport inside its runtime (btleplug needs one).
    fn spawn<T, F, Fut>(config: BleConfig, cancel: CancelToken, make: F) -> Result<BleSource, SourceError>
    where
        T: MatTransport,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, BleError>> + 'static,
    {
        let opened = Instant::now();
        let description = match &config.name {
            Some(name) => format!("BLE mat {name:?}"),
            None => "BLE mat (first found)".to_string(),
        };
        let (tx, events) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), BleError>>(1);
        let own_stop = CancelToken::new();
        let stop = Stop { caller: cancel.clone(), own: own_stop.clone() };
        let worker = std::thread::Builder::new()
            .name("hapticmat-ble".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(BleError::Runtime { reason: e.to_string() }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let transport = match make().await {
                        Ok(transport) => transport,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    run_session(transport, config, stop, opened, tx).await;
                });
            })
            .map_err(|e| BleError::Runtime { reason: e.to_string() })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(BleSource { events, cancel, own_stop, worker: Some(worker), description, ended: false }),
            Ok(Err(error)) => {
                let _ = worker.join();
                Err(error.into())
            }
            Err(_) => {
                let _ = worker.join();
                Err(BleError::Runtime { reason: "the Bluetooth task ended while starting".to_string() }.into())
            }
        }
    }
}

impl FrameSource for BleSource {
    /// Blocks until the session reports something; `None` after cancel or once the session has ended
    /// (a fatal error, reported just before as `Skipped`).
    fn next_event(&mut self) -> Option<SourceEvent> {
        loop {
            if self.ended || self.cancel.is_cancelled() {
                return None;
            }
            match self.events.recv_timeout(RECV_SLICE) {
                Ok(event) => return Some(event),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => self.ended = true,
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

impl Drop for BleSource {
    fn drop(&mut self) {
        self.own_stop.cancel();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            log::error!("BLE: the session thread panicked");
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex, MutexGuard};

    /// Pressure of the fake mat's n-th answer (all four bladders), so frames can be told apart.
    fn pressure(n: u64) -> f32 {
        98_000.0 + n as f32
    }

    /// What the fake mat was told to do and what it saw.
    #[derive(Default)]
    struct FakeState {
        /// Outcome of each connect, in order; once empty, connects succeed.
        connect_plan: VecDeque<Result<(), BleError>>,
        /// Per successful connection: drop the link after this many notifications (none: never).
        drop_after: VecDeque<usize>,
        /// The n-th notification overall (0-based) is garbage instead of a frame.
        garbage_at: Option<u64>,
        /// Ignore polls: a mat that stays connected but never answers.
        mute: bool,
        connects: u32,
        connections: u32,
        /// Every write: (connection number, bytes, when).
        writes: Vec<(u32, Vec<u8>, Instant)>,
        notifications: u64,
        disconnects: u32,
        shutdowns: u32,
    }

    /// A simulated mat: answers each poll after the start command with one notification.
    #[derive(Clone, Default)]
    struct FakeMat(Arc<Mutex<FakeState>>);

    impl FakeMat {
        fn state(&self) -> MutexGuard<'_, FakeState> {
            self.0.lock().expect("fake mat state")
        }
        fn with(self, f: impl FnOnce(&mut FakeState)) -> Self {
            f(&mut self.state());
            self
        }
        /// Writes grouped by connection, in order.
        fn writes_per_connection(&self) -> Vec<Vec<Vec<u8>>> {
            let state = self.state();
            let mut out = vec![Vec::new(); state.connections as usize];
            for (conn, bytes, _) in &state.writes {
                out[*conn as usize - 1].push(bytes.clone());
            }
            out
        }
    }

    struct FakeLink {
        mat: FakeMat,
        connection: u32,
        drop_after: Option<usize>,
        sent: usize,
        started: bool,
        pending: VecDeque<Vec<u8>>,
    }

    impl FakeLink {
        fn dropped(&self) -> bool {
            self.drop_after.is_some_and(|n| self.sent >= n)
        }
    }

    impl MatTransport for FakeMat {
        type Link = FakeLink;

        async fn connect(&mut self, _name: Option<&str>, _scan_timeout: Duration) -> Result<FakeLink, BleError> {
            let mut state = self.state();
            state.connects += 1;
            if let Some(Err(error)) = state.connect_plan.pop_front() {
                return Err(error);
            }
            state.connections += 1;
            let drop_after = state.drop_after.pop_front();
            Ok(FakeLink {
                mat: self.clone(),
                connection: state.connections,
                drop_after,
                sent: 0,
                started: false,
                pending: VecDeque::new(),
            })
        }

        async fn shutdown(&mut self) {
            self.state().shutdowns += 1;
        }
    }

    impl MatLink for FakeLink {
        fn name(&self) -> String {
            "Seroton-1234".to_string()
        }

        async fn write(&mut self, bytes: &[u8]) -> Result<(), BleError> {
            let mut state = self.mat.state();
            state.writes.push((self.connection, bytes.to_vec(), Instant::now()));
            if self.dropped() {
                return Err(BleError::WriteFailed { reason: "not connected".to_string() });
            }
            if bytes == START_COMMAND {
                self.started = true;
            } else if bytes == POLL_COMMAND && self.started && !state.mute {
                let n = state.notifications;
                state.notifications += 1;
                self.sent += 1;
                let notification = if state.garbage_at == Some(n) {
                    vec![0x01, 0x02]
                } else {
                    Frame { t: 0.0, pressures: [pressure(n); 4] }.encode(1).to_vec()
                };
                self.pending.push_back(notification);
            }
            Ok(())
        }

        async fn recv(&mut self) -> Option<Vec<u8>> {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if self.dropped() {
                return None;
            }
            std::future::pending().await
        }

        async fn disconnect(self) {
            self.mat.state().disconnects += 1;
        }
    }

    /// Short periods so every test finishes in well under a second.
    fn fast_config() -> BleConfig {
        BleConfig {
            name: Some("Seroton".to_string()),
            scan_timeout: Duration::from_millis(50),
            poll_interval: Duration::from_millis(5),
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            silence_timeout: Duration::from_secs(2),
        }
    }

    /// Opens a source over `mat`; a watchdog cancels it after 4 s so a broken session fails the test
    /// instead of hanging it.
    fn open(mat: &FakeMat, config: BleConfig) -> (BleSource, CancelToken) {
        let cancel = CancelToken::new();
        let watchdog = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(4));
            watchdog.cancel();
        });
        let source = BleSource::with_transport(mat.clone(), config, cancel.clone()).expect("fake source opens");
        (source, cancel)
    }

    /// Events until `done` holds for the list so far (or the source ends).
    fn events_until(source: &mut BleSource, done: impl Fn(&[SourceEvent]) -> bool) -> Vec<SourceEvent> {
        let mut events = Vec::new();
        while let Some(event) = source.next_event() {
            events.push(event);
            if done(&events) {
                return events;
            }
        }
        panic!("source ended before the expected events; got {events:?}");
    }

    fn frames(events: &[SourceEvent]) -> Vec<Frame> {
        events.iter().filter_map(|e| if let SourceEvent::Frame(f) = e { Some(*f) } else { None }).collect()
    }

    fn count(events: &[SourceEvent], pred: impl Fn(&SourceEvent) -> bool) -> usize {
        events.iter().filter(|e| pred(e)).count()
    }

    fn is_connected(e: &SourceEvent) -> bool {
        matches!(e, SourceEvent::Status(SourceStatus::Connected { .. }))
    }

    fn reconnects(events: &[SourceEvent]) -> Vec<(u32, Duration)> {
        events
            .iter()
            .filter_map(|e| match e {
                SourceEvent::Status(SourceStatus::Reconnecting { attempt, delay }) => Some((*attempt, *delay)),
                _ => None,
            })
            .collect()
    }

    /// Whether `delay` is the jittered form of `base_ms`.
    fn jittered(delay: Duration, base_ms: u64) -> bool {
        let base = Duration::from_millis(base_ms);
        delay <= base && delay >= base.mul_f64(1.0 - BACKOFF_JITTER)
    }

    #[test]
    fn notifications_become_frames_with_increasing_time_since_open() {
        let mat = FakeMat::default();
        let (mut source, _cancel) = open(&mat, fast_config());
        let events = events_until(&mut source, |e| frames(e).len() == 5);
        assert_eq!(events[0], SourceEvent::Status(SourceStatus::Scanning));
        assert_eq!(events[1], SourceEvent::Status(SourceStatus::Connected { name: "Seroton-1234".to_string() }));
        let frames = frames(&events);
        for (n, frame) in frames.iter().enumerate() {
            assert_eq!(frame.pressures, [pressure(n as u64); 4]);
        }
        assert!(frames[0].t > 0.0 && frames[0].t < 2.0, "t counts from open: {}", frames[0].t);
        assert!(frames.windows(2).all(|w| w[0].t < w[1].t), "t must increase: {frames:?}");
    }

    #[test]
    fn start_command_is_written_once_per_connection_before_any_poll() {
        let mat = FakeMat::default().with(|s| s.drop_after = VecDeque::from([3]));
        let (mut source, _cancel) = open(&mat, fast_config());
        events_until(&mut source, |e| count(e, is_connected) == 2 && frames(e).len() >= 6);
        drop(source);
        let connections = mat.writes_per_connection();
        assert_eq!(connections.len(), 2);
        for writes in &connections {
            assert_eq!(writes[0], START_COMMAND);
            assert_eq!(writes.iter().filter(|w| **w == START_COMMAND).count(), 1);
            assert!(writes[1..].iter().all(|w| *w == POLL_COMMAND), "{writes:?}");
            assert!(writes.len() >= 4);
        }
    }

    #[test]
    fn polls_follow_the_poll_interval_of_the_makers_script() {
        let mat = FakeMat::default();
        let (mut source, _cancel) = open(&mat, BleConfig { poll_interval: POLL_INTERVAL, ..fast_config() });
        events_until(&mut source, |e| frames(e).len() == 5);
        drop(source);
        let state = mat.state();
        let polls: Vec<Instant> =
            state.writes.iter().filter(|(_, bytes, _)| *bytes == POLL_COMMAND).map(|(_, _, at)| *at).collect();
        assert!(polls.len() >= 5);
        // Timers never fire early, so no gap may be shorter than the interval (less a timer tick);
        // no upper bound is asserted because a loaded machine may be late.
        for gap in polls.windows(2).map(|w| w[1] - w[0]) {
            assert!(gap >= POLL_INTERVAL - Duration::from_millis(5), "poll gap {gap:?}");
        }
    }

    #[test]
    fn a_garbage_notification_is_skipped_and_the_stream_goes_on() {
        let mat = FakeMat::default().with(|s| s.garbage_at = Some(2));
        let (mut source, _cancel) = open(&mat, fast_config());
        let events = events_until(&mut source, |e| frames(e).len() == 4);
        let skipped: Vec<&SourceEvent> = events.iter().filter(|e| matches!(e, SourceEvent::Skipped(_))).collect();
        assert_eq!(
            skipped,
            [&SourceEvent::Skipped(SourceError::BadFrame(crate::frame::FrameError::TooShort { len: 2 }))]
        );
        let pressures: Vec<f32> = frames(&events).iter().map(|f| f.pressures[0]).collect();
        assert_eq!(pressures, [pressure(0), pressure(1), pressure(3), pressure(4)]);
        assert_eq!(count(&events, |e| matches!(e, SourceEvent::Status(SourceStatus::Disconnected { .. }))), 0);
    }

    #[test]
    fn a_dropped_link_reconnects_with_doubling_capped_backoff_and_frames_resume() {
        let not_found = BleError::NotFound { name: Some("Seroton".to_string()), timeout: Duration::from_millis(50) };
        let mat = FakeMat::default().with(|s| {
            s.drop_after = VecDeque::from([2]);
            s.connect_plan = VecDeque::from([
                Ok(()),
                Err(not_found.clone()),
                Err(not_found.clone()),
                Err(not_found.clone()),
                Err(not_found.clone()),
            ]);
        });
        let (mut source, _cancel) = open(&mat, fast_config());
        let events = events_until(&mut source, |e| count(e, is_connected) == 2 && frames(e).len() == 4);

        let disconnected = events
            .iter()
            .position(|e| matches!(e, SourceEvent::Status(SourceStatus::Disconnected { .. })))
            .expect("a Disconnected status");
        assert_eq!(frames(&events[..disconnected]).len(), 2, "the first link delivered two frames");
        assert_eq!(count(&events, |e| *e == SourceEvent::Skipped(SourceError::Ble(not_found.clone()))), 4);

        let reconnects = reconnects(&events);
        let attempts: Vec<u32> = reconnects.iter().map(|(a, _)| *a).collect();
        assert_eq!(attempts, [1, 2, 3, 4, 5]);
        // 10 ms doubling, capped at 40 ms, each shortened by at most the jitter.
        for ((_, delay), base_ms) in reconnects.iter().zip([10, 20, 40, 40, 40]) {
            assert!(jittered(*delay, base_ms), "delay {delay:?} is not jittered {base_ms} ms");
        }
        assert!(reconnects[0].1 < reconnects[1].1 && reconnects[1].1 < reconnects[2].1);

        let second = events.iter().rposition(is_connected).expect("connected again");
        assert!(second > disconnected);
        let resumed = frames(&events[second..]);
        assert_eq!(resumed.len(), 2);
        assert!(resumed[0].t > frames(&events[..disconnected])[1].t);
        assert_eq!(mat.state().connects, 6);
    }

    #[test]
    fn backoff_starts_over_after_a_connection_that_delivered_frames() {
        let mat = FakeMat::default().with(|s| s.drop_after = VecDeque::from([2, 2]));
        let (mut source, _cancel) = open(&mat, fast_config());
        let events = events_until(&mut source, |e| count(e, is_connected) == 3);
        let attempts: Vec<u32> = reconnects(&events).iter().map(|(a, _)| *a).collect();
        assert_eq!(attempts, [1, 1]);
    }

    #[test]
    fn backoff_keeps_growing_over_connections_that_delivered_nothing() {
        let mat = FakeMat::default().with(|s| s.drop_after = VecDeque::from([0, 0, 0]));
        let (mut source, _cancel) = open(&mat, fast_config());
        let events = events_until(&mut source, |e| count(e, is_connected) == 4);
        let attempts: Vec<u32> = reconnects(&events).iter().map(|(a, _)| *a).collect();
        assert_eq!(attempts, [1, 2, 3]);
        assert_eq!(mat.state().disconnects, 3, "every dropped link is disconnected before reconnecting");
    }

    #[test]
    fn a_mat_that_stops_answering_counts_as_disconnected() {
        let mat = FakeMat::default().with(|s| s.mute = true);
        let config = BleConfig { silence_timeout: Duration::from_millis(50), ..fast_config() };
        let (mut source, _cancel) = open(&mat, config);
        let events = events_until(&mut source, |e| !reconnects(e).is_empty());
        let silent = BleError::Silent { after: Duration::from_millis(50) };
        assert!(events.contains(&SourceEvent::Status(SourceStatus::Disconnected { reason: silent.to_string() })));
    }

    #[test]
    fn a_fatal_bluetooth_error_is_reported_and_ends_the_source() {
        let mat = FakeMat::default().with(|s| s.connect_plan = VecDeque::from([Err(BleError::NoAdapter)]));
        let (mut source, _cancel) = open(&mat, fast_config());
        assert_eq!(source.next_event(), Some(SourceEvent::Status(SourceStatus::Scanning)));
        assert_eq!(source.next_event(), Some(SourceEvent::Skipped(SourceError::Ble(BleError::NoAdapter))));
        assert_eq!(source.next_event(), None);
        assert_eq!(mat.state().connects, 1);
    }

    #[test]
    fn cancel_stops_the_source_promptly_and_disconnects_the_mat() {
        let mat = FakeMat::default();
        let (mut source, cancel) = open(&mat, fast_config());
        events_until(&mut source, |e| frames(e).len() == 2);
        let cancelled_at = Instant::now();
        cancel.cancel();
        assert_eq!(source.next_event(), None);
        drop(source);
        assert!(cancelled_at.elapsed() < Duration::from_millis(200), "took {:?}", cancelled_at.elapsed());
        let state = mat.state();
        assert_eq!((state.disconnects, state.shutdowns), (1, 1));
    }

    #[test]
    fn dropping_the_source_stops_its_session_but_not_the_callers_token() {
        let mat = FakeMat::default();
        let (mut source, cancel) = open(&mat, fast_config());
        events_until(&mut source, |e| !frames(e).is_empty());
        drop(source);
        assert!(!cancel.is_cancelled());
        let writes = mat.state().writes.len();
        std::thread::sleep(Duration::from_millis(30));
        let state = mat.state();
        assert_eq!(state.writes.len(), writes, "no polls after drop");
        assert_eq!((state.disconnects, state.shutdowns), (1, 1));
    }

    #[test]
    fn a_source_cancelled_before_it_connects_ends_at_once() {
        let mat = FakeMat::default();
        let cancel = CancelToken::new();
        cancel.cancel();
        let mut source = BleSource::with_transport(mat.clone(), fast_config(), cancel).expect("opens");
        assert_eq!(source.next_event(), None);
        drop(source);
        assert_eq!(mat.state().connections, 0);
    }

    #[test]
    fn backoff_doubles_from_initial_and_caps_at_max() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<Duration> = (0..9).map(|_| backoff.next(0.0).1).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(backoff.next(1.0), (10, Duration::from_millis(22_500)));
        assert_eq!(backoff.next(f64::NAN).1, Duration::from_secs(30), "bad jitter input is ignored");
        backoff.reset();
        assert_eq!(backoff.next(0.0), (1, Duration::from_millis(500)));
    }

    #[test]
    fn backoff_survives_absurd_configuration() {
        let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.next(0.0).1, Duration::from_millis(1), "never a busy loop");
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX);
        for _ in 0..100 {
            assert!(huge.next(0.0).1 <= BACKOFF_CEILING);
        }
    }

    #[test]
    fn names_match_case_insensitively_by_part_or_by_device_id() {
        assert!(name_matches("seroton", Some("SEROTON-Mat 12"), "AA:BB"));
        assert!(name_matches("Mat 1", Some("SEROTON-Mat 12"), "AA:BB"));
        assert!(!name_matches("Seroton", Some("Headphones"), "AA:BB"));
        assert!(!name_matches("Seroton", None, "AA:BB"));
        assert!(name_matches("aa:bb:cc:dd:ee:ff", None, "AA:BB:CC:DD:EE:FF"));
        assert!(name_matches("  ", None, "AA:BB"), "a blank filter matches all");
    }

    #[test]
    fn config_defaults_are_the_makers_session_and_blank_names_mean_any() {
        let config = BleConfig::new(Some("Seroton".to_string()));
        assert_eq!(config.poll_interval, Duration::from_millis(100));
        assert_eq!((config.backoff_initial, config.backoff_max), (Duration::from_millis(500), Duration::from_secs(30)));
        assert_eq!(BleConfig::new(Some(" ".to_string())).name, None);
    }

    #[test]
    fn gatt_constants_are_the_mats() {
        assert_eq!(WRITE_CHARACTERISTIC.to_string(), "6e400002-c352-11e5-953d-0002a5d5c51b");
        assert_eq!(NOTIFY_CHARACTERISTIC.to_string(), "6e400003-c352-11e5-953d-0002a5d5c51b");
        assert_eq!(MAT_SERVICE.to_string(), "6e400001-c352-11e5-953d-0002a5d5c51b");
    }

    #[test]
    fn describes_the_name_filter() {
        let mat = FakeMat::default();
        let (source, _cancel) = open(&mat, fast_config());
        assert_eq!(source.describe(), "BLE mat \"Seroton\"");
        let (source, _cancel) = open(&mat, BleConfig { name: None, ..fast_config() });
        assert_eq!(source.describe(), "BLE mat (first found)");
    }

    #[test]
    fn errors_name_the_filter_and_the_missing_characteristic() {
        let named = BleError::NotFound { name: Some("Seroton".to_string()), timeout: Duration::from_secs(10) };
        assert_eq!(named.to_string(), "mat \"Seroton\" not found within 10.0 s");
        let any = BleError::NotFound { name: None, timeout: Duration::from_secs(10) };
        assert!(any.to_string().contains("HapticMat characteristics"), "{any}");
        let missing = BleError::CharacteristicMissing { device: "Speaker".to_string(), uuid: NOTIFY_CHARACTERISTIC };
        assert!(missing.to_string().contains("6e400003-c352-11e5-953d-0002a5d5c51b"), "{missing}");
        assert!(BleError::NoAdapter.is_fatal() && !named.is_fatal());
    }

    #[test]
    fn ble_source_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<BleSource>();
        assert_send::<BtleplugTransport>();
        assert_send::<BtleplugLink>();
    }
}
