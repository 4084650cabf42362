//! The one error type of the FFI, and the one place the core's errors become it.
//!
//! Flat (Kotlin gets `HapticMatException.<Variant>(message)`) and stable: apps branch on the variant,
//! people read the message. Messages name files by their file name only, never a full path, device
//! name or address, so they can go into logs and crash reports without personal data.

use crate::delivery::UpdateError;
use crate::features::CalibrationError;
use crate::inference::InferenceError;
use crate::personal::PersonalCalibrationError;
use crate::recording::RecordingError;
use crate::source::SourceError;
use crate::source::ble::BleError;
use std::path::Path;

/// Everything the HapticMat core can throw across the FFI.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum HapticMatError {
    /// An argument was out of range or malformed; the message names it and what was expected.
    #[error("invalid argument: {reason}")]
    InvalidArgument { reason: String },
    /// Bluetooth cannot be used: no adapter, turned off, or no Bluetooth stack on this system.
    #[error("Bluetooth is unavailable: {reason}")]
    BluetoothUnavailable { reason: String },
    /// The OS refused Bluetooth access (Android: nearby-devices permissions not granted).
    #[error("Bluetooth permission denied: grant the app permission to scan for and connect to nearby devices")]
    BluetoothPermissionDenied,
    /// Another Bluetooth failure: scanning, connecting, or the mat's services.
    #[error("Bluetooth: {reason}")]
    Bluetooth { reason: String },
    /// A recording to replay could not be read or is not in the mat's CSV format.
    #[error("recording: {reason}")]
    Recording { reason: String },
    /// The monitor was started before a model was loaded.
    #[error("no model loaded: call loadModel or useInstalledModel first")]
    ModelNotLoaded,
    /// The ONNX Runtime shared library could not be loaded.
    #[error("ONNX Runtime could not be loaded: {reason}")]
    RuntimeUnavailable { reason: String },
    /// The model file cannot be read, is not ONNX, or does not fit this core's feature/label contract.
    #[error("model: {reason}")]
    InvalidModel { reason: String },
    /// A running model failed.
    #[error("inference failed: {reason}")]
    Inference { reason: String },
    /// No model is installed in the updater's cache yet (run a check first).
    #[error("no model installed yet: check for an update first")]
    NoModelInstalled,
    /// The store's manifest is not signed by a pinned key (unknown key, bad signature, malformed).
    #[error("update untrusted: {reason}")]
    UpdateUntrusted { reason: String },
    /// The manifest is signed but not acceptable: expired, a rollback, another contract or too large.
    #[error("update refused: {reason}")]
    UpdateRefused { reason: String },
    /// The downloaded model was refused: wrong SHA-256, too large, or failed to load or self-test.
    #[error("model refused: {reason}")]
    ModelRejected { reason: String },
    /// The store could not be reached or kept failing after retries.
    #[error("network: {reason}")]
    Network { reason: String },
    /// The app's cache folder could not be read or written.
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The updater is set up wrongly (store URL, public keys).
    #[error("configuration: {reason}")]
    Configuration { reason: String },
    /// A personal calibration was refused: a value that is not a person's load, or none can be
    /// measured now (no session running). The message says what to do.
    #[error("personal calibration: {reason}")]
    PersonalCalibration { reason: String },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A bug in the core (a caught panic); the object stays usable, the report names what failed.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

/// The result type of the FFI surface.
pub type Result<T, E = HapticMatError> = std::result::Result<T, E>;

impl HapticMatError {
    /// An invalid argument, named.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        HapticMatError::InvalidArgument { reason: reason.into() }
    }

    /// The report of a caught panic (its payload is a `&str` or `String` for `panic!` with a message).
    pub(crate) fn from_panic(what: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        HapticMatError::Internal { reason: format!("{what} panicked: {message}") }
    }
}

/// A file's name without its folders (folders may hold a user name).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "<unnamed>".to_string(), |n| n.to_string_lossy().into_owned())
}

impl From<BleError> for HapticMatError {
    fn from(e: BleError) -> Self {
        match e {
            BleError::NoAdapter => HapticMatError::BluetoothUnavailable { reason: e.to_string() },
            BleError::Unavailable { reason } => HapticMatError::BluetoothUnavailable { reason },
            BleError::Runtime { .. } => HapticMatError::BluetoothUnavailable { reason: e.to_string() },
            BleError::PermissionDenied => HapticMatError::BluetoothPermissionDenied,
            // Device names and addresses stay out of the message: they identify a person's mat.
            BleError::NotFound { timeout, .. } => HapticMatError::Bluetooth {
                reason: format!("the mat was not found within {:.1} s", timeout.as_secs_f64()),
            },
            BleError::ConnectFailed { reason, .. } => {
                HapticMatError::Bluetooth { reason: format!("could not connect to the mat: {reason}") }
            }
            BleError::DiscoveryFailed { reason, .. } => {
                HapticMatError::Bluetooth { reason: format!("could not discover the mat's services: {reason}") }
            }
            BleError::CharacteristicMissing { uuid, .. } => HapticMatError::Bluetooth {
                reason: format!("the device has no characteristic {uuid}: not a HapticMat mat, or other firmware"),
            },
            BleError::SubscribeFailed { reason, .. } => {
                HapticMatError::Bluetooth { reason: format!("could not subscribe to the mat: {reason}") }
            }
            BleError::Unanswered { polls, after, .. } => HapticMatError::Bluetooth {
                reason: format!("the mat answered none of {polls} polls in {:.1} s", after.as_secs_f64()),
            },
            BleError::NeverAnswered { connections, .. } => HapticMatError::Bluetooth {
                reason: format!(
                    "the mat never answered the poll command in {connections} connections: not a HapticMat mat, \
                     or a firmware that does not stream"
                ),
            },
            BleError::ScanFailed { .. }
            | BleError::WriteFailed { .. }
            | BleError::NotificationsEnded
            | BleError::Silent { .. } => HapticMatError::Bluetooth { reason: e.to_string() },
        }
    }
}

impl From<RecordingError> for HapticMatError {
    fn from(e: RecordingError) -> Self {
        let reason = match e {
            RecordingError::Io { path, message } => format!("{}: {message}", file_name(&path)),
            RecordingError::BadHeader { path, .. } => format!(
                "{}: the header is not the mat's recording format (Timestamp,Float1,Float2,Float3,Float4[,Label])",
                file_name(&path)
            ),
            RecordingError::Empty { path } => format!("{}: no rows", file_name(&path)),
            RecordingError::MissingColumn { path, line, column } => {
                format!("{}:{line}: missing column {column}", file_name(&path))
            }
            RecordingError::BadField { path, line, column, expected, .. } => {
                format!("{}:{line}: field {column}: expected {expected}", file_name(&path))
            }
            RecordingError::BadFrame { path, line, source } => format!("{}:{line}: {source}", file_name(&path)),
        };
        HapticMatError::Recording { reason }
    }
}

impl From<SourceError> for HapticMatError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::UnknownSource { .. } => HapticMatError::invalid(e.to_string()),
            SourceError::BadFrame(f) => HapticMatError::Bluetooth { reason: format!("bad frame: {f}") },
            SourceError::Recording(r) => r.into(),
            SourceError::Ble(b) => b.into(),
        }
    }
}

impl From<InferenceError> for HapticMatError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::Runtime { path, message } => {
                HapticMatError::RuntimeUnavailable { reason: format!("{}: {message}", file_name(&path)) }
            }
            InferenceError::ModelFile { path, message } => {
                HapticMatError::InvalidModel { reason: format!("cannot read {}: {message}", file_name(&path)) }
            }
            InferenceError::InvalidModel { path, message } => HapticMatError::InvalidModel {
                reason: format!("{} is not a loadable ONNX model: {message}", file_name(&path)),
            },
            InferenceError::Contract { path, what, found, expected } => HapticMatError::InvalidModel {
                reason: format!("{} does not fit this core: {what} is {found}, expected {expected}", file_name(&path)),
            },
            InferenceError::Run(_) | InferenceError::BadOutput(_) => {
                HapticMatError::Inference { reason: e.to_string() }
            }
        }
    }
}

impl From<CalibrationError> for HapticMatError {
    fn from(e: CalibrationError) -> Self {
        match e {
            CalibrationError::File { path, message } => {
                HapticMatError::Storage { reason: format!("baseline file {}: {message}", file_name(Path::new(&path))) }
            }
            other => HapticMatError::invalid(other.to_string()),
        }
    }
}

impl From<PersonalCalibrationError> for HapticMatError {
    fn from(e: PersonalCalibrationError) -> Self {
        match e {
            PersonalCalibrationError::File { path, message } => HapticMatError::Storage {
                reason: format!("personal calibration file {}: {message}", file_name(Path::new(&path))),
            },
            other => HapticMatError::PersonalCalibration { reason: other.to_string() },
        }
    }
}

impl From<UpdateError> for HapticMatError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Untrusted { reason } => HapticMatError::UpdateUntrusted { reason },
            UpdateError::Refused { reason } => HapticMatError::UpdateRefused { reason },
            UpdateError::BadModel { reason } => HapticMatError::ModelRejected { reason },
            UpdateError::Network { reason } => HapticMatError::Network { reason },
            UpdateError::Storage { reason } => HapticMatError::Storage { reason },
            UpdateError::Config { reason } => HapticMatError::Configuration { reason },
            UpdateError::Cancelled => HapticMatError::Cancelled,
        }
    }
}
