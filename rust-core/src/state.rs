//! The states the product tells apart (docs/design.md §2) and their stable names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What is on the mat. The discriminant is the model's output index: keep the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    /// Nobody; a pet or an object counts as absent.
    Absent = 0,
    /// A person sitting on the mat.
    Sitting = 1,
    /// A person lying with the whole body on the mat.
    LyingFull = 2,
    /// A person lying with only part of the body on the mat.
    LyingPartial = 3,
}

/// Number of classes the model scores.
pub const NUM_STATES: usize = 4;

/// Label names in model output order; also written into the ONNX metadata and `latest.json`.
pub const STATE_NAMES: [&str; NUM_STATES] = ["absent", "sitting", "lying_full", "lying_partial"];

impl PresenceState {
    /// All states in model output order.
    pub const ALL: [PresenceState; NUM_STATES] =
        [PresenceState::Absent, PresenceState::Sitting, PresenceState::LyingFull, PresenceState::LyingPartial];

    /// The stable snake_case name (`absent`, `sitting`, `lying_full`, `lying_partial`).
    pub fn name(self) -> &'static str {
        STATE_NAMES[self as usize]
    }

    /// The model output index of this state.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The state at a model output index.
    pub fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }

    /// Whether a person is on the mat.
    pub fn is_present(self) -> bool {
        self != PresenceState::Absent
    }
}

impl fmt::Display for PresenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A label that names no known state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}: expected one of absent, sitting, lying_full, lying_partial (or present/empty)")]
pub struct UnknownState(pub String);

impl FromStr for PresenceState {
    type Err = UnknownState;

    /// Parses a state name; `empty` is read as absent. `present` is not a state (see [`Label`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "absent" | "empty" => Ok(PresenceState::Absent),
            "sitting" => Ok(PresenceState::Sitting),
            "lying_full" => Ok(PresenceState::LyingFull),
            "lying_partial" => Ok(PresenceState::LyingPartial),
            _ => Err(UnknownState(s.to_string())),
        }
    }
}

/// A recording's label: a full state, or only "a person, posture not recorded" as in the real recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// The exact state.
    State(PresenceState),
    /// Someone is on the mat; posture unknown.
    Present,
}

impl Label {
    /// Whether the label says a person is on the mat.
    pub fn is_present(self) -> bool {
        match self {
            Label::State(s) => s.is_present(),
            Label::Present => true,
        }
    }

    /// The label as written in a `Label` column.
    pub fn name(self) -> &'static str {
        match self {
            Label::State(s) => s.name(),
            Label::Present => "present",
        }
    }
}

impl FromStr for Label {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "present" | "person" | "human" => Ok(Label::Present),
            other => other.parse().map(Label::State).map_err(|_| UnknownState(s.to_string())),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_model_order() {
        for (i, s) in PresenceState::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(s.name().parse::<PresenceState>().unwrap(), *s);
            assert_eq!(s.name().parse::<Label>().unwrap(), Label::State(*s));
        }
        assert_eq!("present".parse::<Label>().unwrap(), Label::Present);
        assert!("standing".parse::<Label>().is_err());
    }
}
