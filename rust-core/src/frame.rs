//! One reading of the mat: four absolute bladder pressures, decoded from a BLE notification.

use serde::{Deserialize, Serialize};

/// Number of air bladders in the mat (docs/design.md §2: four `f32` per frame).
pub const BLADDERS: usize = 4;

/// Minimum notification length: byte 0 is a header, bytes 1..17 four little-endian `f32` (docs/design.md §2,
/// from the makers' collection script).
pub const NOTIFICATION_MIN_LEN: usize = 1 + 4 * BLADDERS;

/// Lowest absolute pressure a healthy mat can report, in pascal. Sea level is ~101.3 kPa and pressure
/// falls ~1.2 kPa per 100 m, so 50 kPa is above any inhabited altitude (~5.5 km); below it the sensor
/// or the frame is broken.
pub const PRESSURE_MIN_PA: f32 = 50_000.0;

/// Highest plausible absolute pressure in pascal: sea-level storm highs (~108 kPa) plus a heavy
/// person's load (+1.8 kPa per bladder observed, a knee or elbow can double it) with wide margin.
pub const PRESSURE_MAX_PA: f32 = 130_000.0;

/// A validated reading: seconds since the session started and the four absolute pressures in pascal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Seconds since the start of the session (monotonic within a session).
    pub t: f64,
    /// Absolute pressure of bladders 1..4, in pascal.
    pub pressures: [f32; BLADDERS],
}

/// Why a notification or a row could not become a [`Frame`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    /// The notification is shorter than header + four `f32`.
    #[error("frame too short: {len} bytes, expected at least {NOTIFICATION_MIN_LEN}")]
    TooShort { len: usize },
    /// A pressure is NaN or infinite.
    #[error("bladder {bladder} pressure is not finite ({value})")]
    NotFinite { bladder: usize, value: f32 },
    /// A pressure lies outside what a working mat can report.
    #[error("bladder {bladder} pressure {value} Pa is outside {PRESSURE_MIN_PA}..={PRESSURE_MAX_PA} Pa")]
    OutOfRange { bladder: usize, value: f32 },
}

impl Frame {
    /// Builds a frame after checking that every pressure is finite and in the plausible range.
    pub fn new(t: f64, pressures: [f32; BLADDERS]) -> Result<Self, FrameError> {
        for (i, &value) in pressures.iter().enumerate() {
            let bladder = i + 1;
            if !value.is_finite() {
                return Err(FrameError::NotFinite { bladder, value });
            }
            if !(PRESSURE_MIN_PA..=PRESSURE_MAX_PA).contains(&value) {
                return Err(FrameError::OutOfRange { bladder, value });
            }
        }
        Ok(Frame { t, pressures })
    }

    /// Decodes a notification of the mat's notify characteristic received at `t` seconds.
    /// Bytes past the 17th are ignored (the firmware may append fields).
    pub fn decode(bytes: &[u8], t: f64) -> Result<Self, FrameError> {
        if bytes.len() < NOTIFICATION_MIN_LEN {
            return Err(FrameError::TooShort { len: bytes.len() });
        }
        let mut pressures = [0f32; BLADDERS];
        for (i, p) in pressures.iter_mut().enumerate() {
            let at = 1 + 4 * i;
            *p = f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        }
        Frame::new(t, pressures)
    }

    /// Encodes the frame as the mat would send it (header byte `header`), for simulators and fakes.
    pub fn encode(&self, header: u8) -> [u8; NOTIFICATION_MIN_LEN] {
        let mut out = [0u8; NOTIFICATION_MIN_LEN];
        out[0] = header;
        for (i, p) in self.pressures.iter().enumerate() {
            out[1 + 4 * i..5 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_a_real_notification() {
        let f = Frame { t: 0.0, pressures: [98213.5, 98_163.484, 98_161.734, 98_164.945] };
        let bytes = f.encode(0x01);
        assert_eq!(Frame::decode(&bytes, 0.0).unwrap(), f);
    }

    #[test]
    fn rejects_short_nan_and_out_of_range_frames() {
        assert_eq!(Frame::decode(&[1, 2, 3], 0.0), Err(FrameError::TooShort { len: 3 }));
        let mut f = Frame { t: 0.0, pressures: [98_000.0; 4] }.encode(1);
        f[5..9].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(matches!(Frame::decode(&f, 0.0), Err(FrameError::NotFinite { bladder: 2, .. })));
        f[5..9].copy_from_slice(&f32::INFINITY.to_le_bytes());
        assert!(matches!(Frame::decode(&f, 0.0), Err(FrameError::NotFinite { bladder: 2, .. })));
        f[5..9].copy_from_slice(&0.0f32.to_le_bytes());
        assert_eq!(Frame::decode(&f, 0.0), Err(FrameError::OutOfRange { bladder: 2, value: 0.0 }));
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_accepts_only_plausible_frames(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            match Frame::decode(&bytes, 1.0) {
                Ok(f) => prop_assert!(f.pressures.iter().all(|p| (PRESSURE_MIN_PA..=PRESSURE_MAX_PA).contains(p))),
                Err(FrameError::TooShort { len }) => prop_assert!(len < NOTIFICATION_MIN_LEN),
                Err(_) => prop_assert!(bytes.len() >= NOTIFICATION_MIN_LEN),
            }
        }

        #[test]
        fn encode_then_decode_round_trips(p in proptest::array::uniform4(PRESSURE_MIN_PA..PRESSURE_MAX_PA), h in any::<u8>()) {
            let f = Frame { t: 2.5, pressures: p };
            prop_assert_eq!(Frame::decode(&f.encode(h), 2.5).unwrap(), f);
        }
    }
}
