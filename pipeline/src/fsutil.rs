//! Atomic file writes: the core's one implementation, re-exported for the pipeline's outputs.

pub use hapticmat_core::fsutil::write_atomic;
