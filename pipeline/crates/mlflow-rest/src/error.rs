//! What can go wrong talking to an MLflow tracking server. Every variant names the server (scheme, host
//! and port only: never credentials, path or query) and the step that failed, so a Jenkins log line
//! says where to look without leaking secrets.

/// Errors of the MLflow client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tracking URI cannot be used (the URI itself is not repeated: it may hold credentials).
    #[error("invalid MLflow tracking URI: {reason}")]
    InvalidUri {
        /// What is wrong with it.
        reason: String,
    },
    /// MLflow answered with one of its own errors (`{"error_code": …, "message": …}`).
    #[error("MLflow server {server}: {step}: {error_code}: {message} (HTTP {status}{})", attempts_note(*.attempts))]
    Api {
        /// `scheme://host:port` of the server.
        server: String,
        /// What the client was doing.
        step: String,
        /// HTTP status.
        status: u16,
        /// MLflow's error code, e.g. `RESOURCE_DOES_NOT_EXIST`.
        error_code: String,
        /// MLflow's message (shortened).
        message: String,
        /// Requests sent for this step.
        attempts: u32,
    },
    /// A non-success HTTP answer that is not an MLflow error (a proxy, an auth layer, a gateway).
    #[error(
        "MLflow server {server}: {step}: HTTP {status}{}{}{}",
        attempts_note(*.attempts),
        body_note(.body),
        auth_note(*.status)
    )]
    Http {
        /// `scheme://host:port` of the server.
        server: String,
        /// What the client was doing.
        step: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, secrets removed.
        body: String,
        /// Requests sent for this step.
        attempts: u32,
    },
    /// No HTTP answer at all: connection refused or reset, DNS, TLS, timeout.
    #[error("MLflow server {server}: {step}: {reason} (gave up after {attempts} attempt{})", plural(*.attempts))]
    Unreachable {
        /// `scheme://host:port` of the server.
        server: String,
        /// What the client was doing.
        step: String,
        /// What failed, without the request URL.
        reason: String,
        /// Requests sent for this step.
        attempts: u32,
    },
    /// A success status whose body is not what the REST API documents.
    #[error("MLflow server {server}: {step}: unexpected response: {reason}")]
    BadResponse {
        /// `scheme://host:port` of the server.
        server: String,
        /// What the client was doing.
        step: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The run's artifact URI is not one the server's artifact proxy serves (e.g. `s3://…` when the
    /// server runs without `--serve-artifacts`).
    #[error(
        "MLflow server {server}: {step}: artifact URI {uri} is not served through the tracking server \
         (expected mlflow-artifacts:/… or …/api/2.0/mlflow-artifacts/artifacts/…)"
    )]
    UnsupportedArtifactUri {
        /// `scheme://host:port` of the server.
        server: String,
        /// What the client was doing.
        step: String,
        /// The artifact URI of the run.
        uri: String,
    },
    /// An artifact that is not in the store.
    #[error("MLflow server {server}: {step}: no artifact {path} in {root}")]
    ArtifactNotFound {
        /// `scheme://host:port` of the server.
        server: String,
        /// What the client was doing.
        step: String,
        /// The artifact URI of the run.
        root: String,
        /// The missing path, relative to it.
        path: String,
    },
    /// A path or search value this client refuses to send (`..`, empty segments, unquotable text).
    #[error("{step}: {what} {value:?} is not allowed: {reason}")]
    InvalidArgument {
        /// What the client was doing.
        step: String,
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// Result of the MLflow client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// MLflow's error code, for API errors.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { error_code, .. } => Some(error_code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Requests sent before giving up, when the error came from the server or the network.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Api { attempts, .. } | Error::Http { attempts, .. } | Error::Unreachable { attempts, .. } => {
                Some(*attempts)
            }
            _ => None,
        }
    }

    /// Whether MLflow said the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        self.error_code() == Some(codes::RESOURCE_DOES_NOT_EXIST)
    }

    /// Whether MLflow said the thing to create exists already.
    pub fn is_already_exists(&self) -> bool {
        self.error_code() == Some(codes::RESOURCE_ALREADY_EXISTS)
    }
}

/// MLflow error codes the client reacts to (`mlflow/protos/databricks.proto`).
pub mod codes {
    /// The named entity does not exist.
    pub const RESOURCE_DOES_NOT_EXIST: &str = "RESOURCE_DOES_NOT_EXIST";
    /// The entity to create exists already.
    pub const RESOURCE_ALREADY_EXISTS: &str = "RESOURCE_ALREADY_EXISTS";
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 { format!(", after {attempts} attempts") } else { String::new() }
}

/// What to do about a refusal by the server's auth layer (MLflow's basic-auth app answers 401 without valid
/// credentials and 403 without the permission).
fn auth_note(status: u16) -> &'static str {
    match status {
        401 => {
            " (the server wants credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or \
             MLFLOW_TRACKING_TOKEN)"
        }
        403 => " (this MLflow user lacks the permission: ask the server's admin)",
        _ => "",
    }
}

fn body_note(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}
