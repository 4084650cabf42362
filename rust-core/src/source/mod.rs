//! Where frames come from. One [`FrameSource`] abstraction, three implementations: the mat over BLE,
//! replayed recordings, and the simulated mat. The monitor never knows which one it has.

pub mod ble;
pub mod replay;
pub mod sim;

use crate::frame::{Frame, FrameError};
use crate::recording::RecordingError;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Something a source reports: a frame, a skipped bad input, or a change of connection status.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// A validated frame.
    Frame(Frame),
    /// Input that could not become a frame; the source goes on.
    Skipped(SourceError),
    /// Connection news (BLE); replay and simulation only report `Connected` once.
    Status(SourceStatus),
}

/// Connection status of a source, for the app's "connected" indicator.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceStatus {
    /// Looking for the mat.
    Scanning,
    /// Receiving frames from the named device or file.
    Connected { name: String },
    /// The link dropped; `reason` says why.
    Disconnected { reason: String },
    /// Waiting `delay` before reconnect attempt `attempt`.
    Reconnecting { attempt: u32, delay: Duration },
}

/// Errors of sources: fatal ones end the source, the others come as [`SourceEvent::Skipped`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The `--source` text names no known source.
    #[error("unknown source {spec:?}: expected replay:FILE[,FILE...], sim[:SEED] or ble[:NAME]")]
    UnknownSource { spec: String },
    /// A notification that is not a valid frame.
    #[error("bad frame: {0}")]
    BadFrame(#[from] FrameError),
    /// A recording that cannot be read, or one bad row in it.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// A Bluetooth failure (adapter, scan, connection, GATT).
    #[error("bluetooth: {0}")]
    Ble(#[from] ble::BleError),
}

/// How fast replayed and simulated frames are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// As fast as the consumer takes them.
    #[default]
    Max,
    /// At the pace they were recorded (timestamps are honoured).
    Realtime,
}

impl FromStr for Pace {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "max" => Ok(Pace::Max),
            "realtime" => Ok(Pace::Realtime),
            _ => Err(format!("unknown speed {s:?}: expected max or realtime")),
        }
    }
}

/// A stream of frames. `next_event` blocks until something happens (paced sources sleep), returns
/// `None` once the source has ended or was cancelled.
pub trait FrameSource: Send {
    /// The next event; `None` at the end of the source.
    fn next_event(&mut self) -> Option<SourceEvent>;
    /// A short human description (`replay of 3 files`, `simulated mat (seed 7)`, `BLE mat "Seroton"`).
    fn describe(&self) -> String;
}

impl FrameSource for Box<dyn FrameSource> {
    fn next_event(&mut self) -> Option<SourceEvent> {
        (**self).next_event()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Shared stop flag: cancel it and every source or loop holding a clone ends soon after.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A new, not yet cancelled token.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks everything holding this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Sleeps until `deadline` unless cancelled first; returns false if cancelled.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }
}

/// A parsed `--source` argument: `replay:FILE[,FILE…]`, `sim[:SEED]` or `ble[:NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Recordings played as one session, in order.
    Replay(Vec<PathBuf>),
    /// The simulated mat with a seed.
    Sim(u64),
    /// The mat over Bluetooth LE, optionally matched by advertised name.
    Ble(Option<String>),
}

impl FromStr for SourceSpec {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || SourceError::UnknownSource { spec: s.to_string() };
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        match (kind, arg) {
            ("replay", Some(files)) => {
                let files: Vec<PathBuf> = files.split(',').filter(|f| !f.is_empty()).map(PathBuf::from).collect();
                if files.is_empty() { Err(unknown()) } else { Ok(SourceSpec::Replay(files)) }
            }
            ("sim", None) => Ok(SourceSpec::Sim(0)),
            ("sim", Some(seed)) => seed.parse().map(SourceSpec::Sim).map_err(|_| unknown()),
            ("ble", None) => Ok(SourceSpec::Ble(None)),
            ("ble", Some(name)) => Ok(SourceSpec::Ble(Some(name.to_string()).filter(|n| !n.is_empty()))),
            _ => Err(unknown()),
        }
    }
}

impl SourceSpec {
    /// Opens the source. Replay files are read now (I/O); BLE starts its own background task.
    pub fn open(&self, pace: Pace, cancel: CancelToken) -> Result<Box<dyn FrameSource>, SourceError> {
        Ok(match self {
            SourceSpec::Replay(files) => Box::new(replay::ReplaySource::open(files, pace, cancel)?),
            SourceSpec::Sim(seed) => {
                Box::new(sim::SimSource::new(crate::simulator::SimConfig::default(), *seed, pace, cancel))
            }
            SourceSpec::Ble(name) => Box::new(ble::BleSource::open(ble::BleConfig::new(name.clone()), cancel)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_source_forms() {
        assert_eq!(
            "replay:a.csv,b.csv".parse::<SourceSpec>().unwrap(),
            SourceSpec::Replay(vec!["a.csv".into(), "b.csv".into()])
        );
        assert_eq!("sim".parse::<SourceSpec>().unwrap(), SourceSpec::Sim(0));
        assert_eq!("sim:42".parse::<SourceSpec>().unwrap(), SourceSpec::Sim(42));
        assert_eq!("ble".parse::<SourceSpec>().unwrap(), SourceSpec::Ble(None));
        assert_eq!("ble:Seroton".parse::<SourceSpec>().unwrap(), SourceSpec::Ble(Some("Seroton".into())));
        for bad in ["usb", "replay:", "sim:x", "", "file:a.csv"] {
            assert!(matches!(bad.parse::<SourceSpec>(), Err(SourceError::UnknownSource { .. })), "{bad}");
        }
    }
}
