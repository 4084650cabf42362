//! HapticMat Presence core: what runs on the phone. Frames from the mat (BLE, replayed recordings or
//! the simulator) become baseline-relative windows, an ONNX model scores them, and the monitor turns
//! the scores into steady presence states and an absence timeout.

#[cfg(target_os = "android")]
mod android;
pub mod baseline;
pub mod bench;
pub mod delivery;
pub mod features;
pub mod ffi;
pub mod frame;
pub mod fsutil;
pub mod inference;
pub mod monitor;
pub mod personal;
pub mod recording;
pub mod simulator;
pub mod smoothing;
pub mod source;
pub mod state;

pub use frame::{BLADDERS, Frame, FrameError};
pub use monitor::{Monitor, MonitorConfig, MonitorEvent, MonitorSummary, StateUpdate};
pub use state::{Label, PresenceState};

uniffi::setup_scaffolding!();
