//! `latest.json` (docs/design.md §5): what a published model is, which contract it serves, and until when the
//! publisher vouches for it. The bytes are signed as they are (see [`super::signing`]); this module only
//! gives them a shape and decides whether this core may install what they describe.

use super::{DeliveryError, Result};
use crate::features::{CHANNELS, FEATURE_VERSION, INPUT_NAME, OUTPUT_NAME, WINDOW_FRAMES};
use crate::inference::SUPPORTED_INPUTS;
use crate::state::STATE_NAMES;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The manifest schema this core writes and reads; a manifest of another version is refused.
pub const SCHEMA_VERSION: u32 = 1;
/// The model name the pipeline publishes under.
pub const MODEL_NAME: &str = "hapticmat-presence";
/// Folder of the bucket that holds models under their content hash.
pub const MODELS_PREFIX: &str = "models/";
/// File name of the manifest at the root of a store.
pub const LATEST: &str = "latest.json";
/// Folder of the bucket that keeps every signed manifest by sequence.
pub const HISTORY_PREFIX: &str = "history/";
/// Largest manifest or envelope accepted: a few hundred bytes in practice, so anything bigger is an attack
/// or a wrong file, and it must not fill the phone's memory.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Longest validity a manifest may claim (`expires_at − created_at`), in days. The publisher signs for 30
/// days by default and refuses more than this itself (pipeline `release`), so only a manifest made to pin
/// a model for ever exceeds it: a signing key stolen once must not yield metadata that never expires.
pub const MAX_VALIDITY_DAYS: i64 = 400;
/// How far a manifest's `created_at` may lie ahead of this device's clock (phone clocks drift; a publisher
/// clock a little fast must not break updates). Beyond it the manifest is refused as made in the future.
pub const MAX_CLOCK_SKEW_SECS: i64 = 3600;

/// The feature and label contract a model serves; the core installs only a model whose contract is its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Feature definition version ([`crate::features::FEATURE_VERSION`]).
    pub feature_version: u32,
    /// Frames per window.
    pub window_frames: usize,
    /// Channels per frame.
    pub channels: usize,
    /// Label names in output order.
    pub labels: Vec<String>,
    /// Name of the window input tensor.
    pub input: String,
    /// Every input tensor the model reads, in graph order: the window, and `user_load` for a model
    /// that reads the personal calibration (crate::personal). Absent in older manifests, which
    /// meant the window alone. A phone refuses a model that needs an input it cannot give.
    #[serde(default = "crate::inference::window_only")]
    pub inputs: Vec<String>,
    /// Name of the output tensor.
    pub output: String,
}

impl Contract {
    /// The contract of this build of the core.
    pub fn current() -> Self {
        Contract {
            feature_version: FEATURE_VERSION,
            window_frames: WINDOW_FRAMES,
            channels: CHANNELS,
            labels: STATE_NAMES.iter().map(|s| s.to_string()).collect(),
            input: INPUT_NAME.into(),
            inputs: SUPPORTED_INPUTS.iter().map(|s| s.to_string()).collect(),
            output: OUTPUT_NAME.into(),
        }
    }

    /// Fails with the first field that differs from this core's contract.
    pub fn check_supported(&self) -> Result<()> {
        let want = Contract::current();
        let differs = |what: &'static str, found: String, expected: String| {
            Err(DeliveryError::UnsupportedContract { what, found, expected })
        };
        if self.feature_version != want.feature_version {
            return differs("feature version", self.feature_version.to_string(), want.feature_version.to_string());
        }
        if self.window_frames != want.window_frames {
            return differs("window length", self.window_frames.to_string(), want.window_frames.to_string());
        }
        if self.channels != want.channels {
            return differs("channel count", self.channels.to_string(), want.channels.to_string());
        }
        if self.labels != want.labels {
            return differs("labels", self.labels.join(","), want.labels.join(","));
        }
        if let Some(unknown) = self.inputs.iter().find(|i| !want.inputs.contains(i)) {
            return differs("model input", format!("'{unknown}'"), format!("one of {}", want.inputs.join(", ")));
        }
        if !self.inputs.contains(&want.input) {
            return differs("model inputs", self.inputs.join(","), format!("at least '{}'", want.input));
        }
        if self.input != want.input || self.output != want.output {
            return differs(
                "tensor names",
                format!("{} → {}", self.input, self.output),
                format!("{} → {}", want.input, want.output),
            );
        }
        Ok(())
    }
}

/// One published model: the payload of a signed `latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema of this document ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Model name ([`MODEL_NAME`]).
    pub model: String,
    /// Publication counter; strictly increases with every publication, never reused.
    pub sequence: u64,
    /// Semantic version for people.
    pub version: semver::Version,
    /// Where the model is, relative to the store root: `models/<sha256>.onnx`.
    pub object_key: String,
    /// SHA-256 of the model bytes, lower-case hex.
    pub sha256: String,
    /// Size of the model in bytes.
    pub size: u64,
    /// The feature and label contract the model serves.
    pub contract: Contract,
    /// The training run the model comes from (MLflow run id, or a local run's name).
    pub source_run_id: String,
    /// When the manifest was signed.
    pub created_at: DateTime<Utc>,
    /// After this instant the manifest is stale and refused (a frozen bucket cannot pin old models forever).
    pub expires_at: DateTime<Utc>,
}

/// Only the schema version, read first so that a newer schema is named as such rather than as bad JSON.
#[derive(Deserialize)]
struct SchemaProbe {
    schema_version: u32,
}

impl Manifest {
    /// The object key of a model with this hash.
    pub fn object_key_for(sha256: &str) -> String {
        format!("{MODELS_PREFIX}{sha256}.onnx")
    }

    /// Parses manifest bytes and checks their internal consistency (not expiry, sequence or contract).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let malformed = |e: serde_json::Error| DeliveryError::MalformedManifest(e.to_string());
        let probe: SchemaProbe = serde_json::from_slice(bytes).map_err(malformed)?;
        if probe.schema_version != SCHEMA_VERSION {
            return Err(DeliveryError::UnsupportedSchema { found: probe.schema_version, supported: SCHEMA_VERSION });
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(malformed)?;
        m.check_consistent()?;
        Ok(m)
    }

    /// The manifest as the bytes that get signed (pretty JSON; verification never re-creates them).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.check_consistent()?;
        serde_json::to_vec_pretty(self).map_err(|e| DeliveryError::MalformedManifest(e.to_string()))
    }

    /// Name, hash and key agree with each other, so the key can never point outside `models/`.
    pub fn check_consistent(&self) -> Result<()> {
        let bad = |m: String| Err(DeliveryError::MalformedManifest(m));
        if self.model != MODEL_NAME {
            return bad(format!("model is {:?}, expected {MODEL_NAME:?}", self.model));
        }
        if !is_sha256_hex(&self.sha256) {
            return bad(format!("sha256 {:?} is not 64 lower-case hex digits", self.sha256));
        }
        if self.object_key != Self::object_key_for(&self.sha256) {
            return bad(format!("object_key {:?} is not {:?}", self.object_key, Self::object_key_for(&self.sha256)));
        }
        if self.size == 0 {
            return bad("size is 0".into());
        }
        if self.expires_at <= self.created_at {
            return bad(format!("expires_at {} is not after created_at {}", self.expires_at, self.created_at));
        }
        Ok(())
    }

    /// Fails if the manifest is not valid at `now`: made in the future (beyond [`MAX_CLOCK_SKEW_SECS`]),
    /// claiming a validity longer than [`MAX_VALIDITY_DAYS`], or expired.
    pub fn check_fresh(&self, now: DateTime<Utc>) -> Result<()> {
        if self.created_at - now > chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return Err(DeliveryError::CreatedInFuture {
                created_at: self.created_at.to_rfc3339(),
                now: now.to_rfc3339(),
                skew_s: MAX_CLOCK_SKEW_SECS,
            });
        }
        let validity = self.expires_at - self.created_at;
        if validity > chrono::Duration::days(MAX_VALIDITY_DAYS) {
            return Err(DeliveryError::ValidityTooLong {
                days: validity.num_days(),
                created_at: self.created_at.to_rfc3339(),
                expires_at: self.expires_at.to_rfc3339(),
                max_days: MAX_VALIDITY_DAYS,
            });
        }
        if now >= self.expires_at {
            return Err(DeliveryError::Expired { expires_at: self.expires_at.to_rfc3339(), now: now.to_rfc3339() });
        }
        Ok(())
    }
}

/// Whether `s` is a SHA-256 digest written as 64 lower-case hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lower-case hex of bytes (digests and key ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testing::manifest;

    #[test]
    fn a_manifest_round_trips_through_its_bytes() {
        let m = manifest(3, &[1, 2, 3]);
        assert_eq!(Manifest::parse(&m.to_bytes().unwrap()).unwrap(), m);
    }

    #[test]
    fn a_newer_schema_is_named_as_such() {
        let text = String::from_utf8(manifest(1, b"x").to_bytes().unwrap()).unwrap();
        let newer = text.replace("\"schema_version\": 1", "\"schema_version\": 2");
        assert!(matches!(
            Manifest::parse(newer.as_bytes()),
            Err(DeliveryError::UnsupportedSchema { found: 2, supported: 1 })
        ));
    }

    #[test]
    fn an_object_key_outside_models_is_refused() {
        let mut m = manifest(1, b"x");
        m.object_key = "../../etc/passwd".into();
        assert!(matches!(m.check_consistent(), Err(DeliveryError::MalformedManifest(_))));
    }

    #[test]
    fn a_contract_of_another_core_is_named() {
        let mut c = Contract::current();
        c.labels.reverse();
        let e = c.check_supported().unwrap_err();
        assert!(matches!(e, DeliveryError::UnsupportedContract { what: "labels", .. }), "{e}");
        assert!(Contract::current().check_supported().is_ok());
    }

    #[test]
    fn a_model_needing_an_input_this_phone_cannot_give_is_refused_and_older_manifests_mean_the_window() {
        let mut c = Contract::current();
        c.inputs.push("heart_rate".into());
        let e = c.check_supported().unwrap_err();
        assert!(
            matches!(&e, DeliveryError::UnsupportedContract { what: "model input", found, .. } if found == "'heart_rate'"),
            "{e}"
        );
        c.inputs = vec!["user_load".into()];
        assert!(matches!(c.check_supported(), Err(DeliveryError::UnsupportedContract { what: "model inputs", .. })));
        c.inputs = vec!["window".into()];
        assert!(c.check_supported().is_ok(), "a window-only model still serves");
        // A schema-1 manifest written before `inputs` existed reads as a window-only model.
        let text = String::from_utf8(manifest(1, b"x").to_bytes().unwrap()).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["contract"].as_object_mut().unwrap().remove("inputs");
        let old = Manifest::parse(serde_json::to_string(&v).unwrap().as_bytes()).unwrap();
        assert_eq!(old.contract.inputs, vec!["window".to_string()]);
    }

    #[test]
    fn an_expired_manifest_is_refused() {
        let m = manifest(1, b"x");
        assert!(m.check_fresh(m.created_at).is_ok());
        assert!(matches!(m.check_fresh(m.expires_at), Err(DeliveryError::Expired { .. })));
    }

    #[test]
    fn a_manifest_made_in_the_future_is_refused_beyond_the_clock_skew() {
        let now = chrono::Utc::now();
        let mut m = manifest(1, b"x");
        m.created_at = now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS - 60);
        m.expires_at = m.created_at + chrono::Duration::days(30);
        assert!(m.check_fresh(now).is_ok(), "a publisher clock a little fast is tolerated");
        m.created_at = now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS + 60);
        assert!(matches!(m.check_fresh(now), Err(DeliveryError::CreatedInFuture { .. })));
        // Issue 12 item 8: created in 2099, expiring in 9999.
        m.created_at = "2099-01-01T00:00:00Z".parse().unwrap();
        m.expires_at = "9999-12-31T00:00:00Z".parse().unwrap();
        let e = m.check_fresh(now).unwrap_err();
        assert!(matches!(e, DeliveryError::CreatedInFuture { .. }), "{e}");
        assert!(e.to_string().contains("2099-01-01"), "{e}");
    }

    #[test]
    fn a_validity_longer_than_the_bound_is_refused() {
        let now = chrono::Utc::now();
        let mut m = manifest(1, b"x");
        m.created_at = now - chrono::Duration::days(1);
        m.expires_at = m.created_at + chrono::Duration::days(MAX_VALIDITY_DAYS);
        assert!(m.check_fresh(now).is_ok(), "exactly the bound is accepted");
        m.expires_at = "9999-12-31T00:00:00Z".parse().unwrap();
        let e = m.check_fresh(now).unwrap_err();
        assert!(matches!(e, DeliveryError::ValidityTooLong { max_days: MAX_VALIDITY_DAYS, .. }), "{e}");
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
