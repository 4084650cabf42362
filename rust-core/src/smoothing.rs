//! Turns per-window probabilities into a steady state: an exponential moving average, hysteresis on
//! presence, and a minimum dwell before the posture changes, so one odd window never flips the app.

use crate::state::{NUM_STATES, PresenceState};
use serde::{Deserialize, Serialize};

/// Tuning of the smoother.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SmoothingConfig {
    /// Weight of the newest probabilities in the moving average (0..=1; 1 = no averaging).
    pub alpha: f32,
    /// Presence probability above which an absent mat becomes occupied.
    pub enter: f32,
    /// Presence probability below which an occupied mat becomes absent.
    pub leave: f32,
    /// Consecutive frames past a threshold before presence flips.
    pub presence_dwell: u32,
    /// Consecutive frames a new posture must lead before it is reported.
    pub posture_dwell: u32,
}

impl Default for SmoothingConfig {
    /// Reacts within ~0.5 s to someone arriving or leaving (2 frames at ~6.7 Hz past the
    /// threshold), and within ~1 s to a posture change.
    fn default() -> Self {
        SmoothingConfig { alpha: 0.5, enter: 0.6, leave: 0.4, presence_dwell: 2, posture_dwell: 6 }
    }
}

/// The smoother's state; reset it when the window restarts.
#[derive(Debug, Clone)]
pub struct Smoother {
    cfg: SmoothingConfig,
    avg: Option<[f32; NUM_STATES]>,
    state: PresenceState,
    flip_count: u32,
    candidate: Option<(PresenceState, u32)>,
}

impl Smoother {
    /// A smoother with no history.
    pub fn new(cfg: SmoothingConfig) -> Self {
        Smoother { cfg, avg: None, state: PresenceState::Absent, flip_count: 0, candidate: None }
    }

    /// Forgets the history (after a gap or a new baseline).
    pub fn reset(&mut self) {
        *self = Smoother::new(self.cfg);
    }

    /// The smoothed probabilities, if any window was seen.
    pub fn averaged(&self) -> Option<[f32; NUM_STATES]> {
        self.avg
    }

    /// Feeds one window's probabilities; returns the state and the confidence in it.
    pub fn update(&mut self, p: &[f32; NUM_STATES]) -> (PresenceState, f32) {
        let first = self.avg.is_none();
        let a = self.cfg.alpha;
        let avg = match self.avg {
            None => *p,
            Some(prev) => std::array::from_fn(|i| a * p[i] + (1.0 - a) * prev[i]),
        };
        self.avg = Some(avg);
        let present_p = 1.0 - avg[PresenceState::Absent.index()];
        let best_posture = (1..NUM_STATES)
            .max_by(|&i, &j| avg[i].total_cmp(&avg[j]))
            .and_then(PresenceState::from_index)
            .unwrap_or(PresenceState::Sitting);

        if first {
            self.state = if present_p > 0.5 { best_posture } else { PresenceState::Absent };
        } else if self.state.is_present() {
            self.flip_count = if present_p < self.cfg.leave { self.flip_count + 1 } else { 0 };
            if self.flip_count >= self.cfg.presence_dwell {
                self.state = PresenceState::Absent;
                self.flip_count = 0;
                self.candidate = None;
            } else if best_posture != self.state {
                let held = match self.candidate {
                    Some((c, n)) if c == best_posture => n + 1,
                    _ => 1,
                };
                self.candidate = Some((best_posture, held));
                if held >= self.cfg.posture_dwell {
                    self.state = best_posture;
                    self.candidate = None;
                }
            } else {
                self.candidate = None;
            }
        } else {
            self.flip_count = if present_p > self.cfg.enter { self.flip_count + 1 } else { 0 };
            if self.flip_count >= self.cfg.presence_dwell {
                self.state = best_posture;
                self.flip_count = 0;
            }
        }
        (self.state, avg[self.state.index()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSENT: [f32; 4] = [0.97, 0.01, 0.01, 0.01];
    const SITTING: [f32; 4] = [0.02, 0.9, 0.05, 0.03];
    const LYING: [f32; 4] = [0.02, 0.05, 0.9, 0.03];

    #[test]
    fn a_single_odd_window_does_not_flip_the_state() {
        let mut s = Smoother::new(SmoothingConfig::default());
        for _ in 0..10 {
            s.update(&ABSENT);
        }
        assert_eq!(s.update(&SITTING).0, PresenceState::Absent);
        assert_eq!(s.update(&ABSENT).0, PresenceState::Absent);
    }

    #[test]
    fn presence_follows_within_a_few_frames_and_posture_after_its_dwell() {
        let mut s = Smoother::new(SmoothingConfig::default());
        s.update(&ABSENT);
        let frames_to_enter = (1..10).find(|_| s.update(&SITTING).0 == PresenceState::Sitting).unwrap();
        assert!(frames_to_enter <= 3, "{frames_to_enter}");
        let frames_to_switch = (1..20).find(|_| s.update(&LYING).0 == PresenceState::LyingFull).unwrap();
        assert!((5..=8).contains(&frames_to_switch), "{frames_to_switch}");
        let frames_to_leave = (1..10).find(|_| s.update(&ABSENT).0 == PresenceState::Absent).unwrap();
        assert!(frames_to_leave <= 4, "{frames_to_leave}");
        let (_, confidence) = s.update(&ABSENT);
        assert!(confidence > 0.9);
    }
}
