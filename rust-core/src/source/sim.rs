//! The simulated mat as a frame source: endless, deterministic from its seed.

use super::{CancelToken, FrameSource, Pace, SourceEvent, SourceStatus};
use crate::simulator::{SimConfig, SimFrame, Simulator};
use std::time::{Duration, Instant};

/// Frames from the [`Simulator`], at real pace or as fast as they are taken.
pub struct SimSource {
    sim: Simulator,
    seed: u64,
    pace: Pace,
    cancel: CancelToken,
    started: Option<Instant>,
    last: Option<SimFrame>,
}

impl SimSource {
    /// A simulated mat with this config and seed.
    pub fn new(cfg: SimConfig, seed: u64, pace: Pace, cancel: CancelToken) -> Self {
        SimSource { sim: Simulator::new(cfg, seed), seed, pace, cancel, started: None, last: None }
    }

    /// The truth behind the last frame returned (for demos and tests).
    pub fn last_truth(&self) -> Option<SimFrame> {
        self.last
    }
}

impl FrameSource for SimSource {
    fn next_event(&mut self) -> Option<SourceEvent> {
        if self.cancel.is_cancelled() {
            return None;
        }
        let Some(start) = self.started else {
            self.started = Some(Instant::now());
            return Some(SourceEvent::Status(SourceStatus::Connected { name: self.describe() }));
        };
        let f = self.sim.next_frame();
        if self.pace == Pace::Realtime && !self.cancel.sleep_until(start + Duration::from_secs_f64(f.frame.t)) {
            return None;
        }
        self.last = Some(f);
        Some(SourceEvent::Frame(f.frame))
    }

    fn describe(&self) -> String {
        format!("simulated mat (seed {})", self.seed)
    }
}
