//! The mat over Bluetooth LE: find it, connect, subscribe, poll, and reconnect with backoff when the
//! link drops. The session is generic over a [`MatTransport`] so it can be tested against a fake mat;
//! the real radio is [`BtleplugTransport`]. [`BleSource`] runs the session on its own thread and hands
//! the events to the blocking [`FrameSource`] world.
//!
//! Split by concern: this module holds the contract (GATT constants, errors, configuration, the
//! transport traits) and [`BleSource`]; `session` the connection life cycle; `transport` btleplug.

mod session;
#[cfg(test)]
mod tests;
mod transport;

pub use transport::{BtleplugLink, BtleplugTransport, DiscoveredMat, scan_mats, scan_mats_blocking, scan_mats_until};

use super::{CancelToken, FrameSource, SourceError, SourceEvent, SourceStatus};
use crate::frame::Frame;
use session::{Stop, run_session};
use std::future::Future;
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

/// A mat that was connected this many times in a row and never answered a poll is not going to: the
/// source ends with [`BleError::NeverAnswered`] instead of retrying forever (two, so one unlucky link
/// does not end a session; with the default silence timeout the error comes within ~12 s).
pub const MAX_UNANSWERED_CONNECTIONS: u32 = 2;

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
    /// Connected and subscribed, the mat sent nothing at all in answer to `polls` polls: the link is
    /// retried, up to [`MAX_UNANSWERED_CONNECTIONS`] times in a row.
    #[error("{device} answered none of {polls} polls in {:.1} s", .after.as_secs_f64())]
    Unanswered { device: String, polls: u64, after: Duration },
    /// [`MAX_UNANSWERED_CONNECTIONS`] connections in a row got no answer to the poll: not a mat that
    /// streams (other firmware, or not a HapticMat mat at all). Ends the source.
    #[error(
        "{device} accepts the poll command (01 C0 01) but never answered it in {connections} connections: \
         not a HapticMat mat, or a firmware that does not stream"
    )]
    NeverAnswered { device: String, connections: u32 },
    /// The background thread or its runtime could not be started.
    #[error("could not start the Bluetooth task: {reason}")]
    Runtime { reason: String },
}

impl BleError {
    /// Whether retrying cannot help (no radio, no permission): the source ends instead of reconnecting.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            BleError::NoAdapter
                | BleError::PermissionDenied
                | BleError::Runtime { .. }
                | BleError::NeverAnswered { .. }
        )
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
