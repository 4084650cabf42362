//! The production side of HapticMat's model delivery: the object store phones download from, and the
//! release protocol they rely on (docs/design.md, "Delivery" and "Release").
//!
//! - [`store`]: the production bucket — S3 (any S3 API, SeaweedFS here) or a local folder — with
//!   create-only and compare-and-swap writes, bounded reads and typed errors naming the object and step.
//! - [`keyring`]: the publisher's current and retired keys, and the root-signed key set phones pinning
//!   the root read (`keys.json`).
//! - [`release`]: publish, promote and roll back as phones will check them: the model by its hash, a
//!   signed history record, the key set, and `latest.json` last by compare-and-swap; sequences only from
//!   verified manifests; every model self-tested as a phone would before it is signed.
//!
//! Blocking calls: the store drives its I/O on one process-wide runtime ([`io_runtime`]), which the
//! pipeline's other blocking facades (MLflow tracking, promotion) share. Do not call them from inside an
//! async runtime.

pub mod keyring;
pub mod release;
pub mod store;

use std::sync::OnceLock;

/// The one tokio runtime of a process's blocking network facades: one worker thread drives the sockets
/// and timers, so several threads may block on it at once (a current-thread runtime lets only one of
/// them drive I/O, and the others' requests stall). Built on first use; an error is kept and returned to
/// every caller.
pub fn io_runtime() -> Result<&'static tokio::runtime::Runtime, std::io::Error> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .thread_name("hapticmat-io")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| std::io::Error::other(e.clone()))
}
