//! The on-device model benchmark for the app's Model screen ([`crate::bench`]).

use super::background::run_blocking;
use super::error::{HapticMatError, Result};
use crate::bench::MAX_ITERATIONS;

/// One model's benchmark figures, measured on this device through rust-core.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ModelBenchmark {
    /// The model file.
    pub path: String,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// Whether it is int8 (quantized).
    pub quantized: bool,
    /// Reading the file and creating the ONNX Runtime session, ms.
    pub load_ms: f64,
    /// Timed calls.
    pub iterations: u32,
    /// Median latency of one call, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Mean latency, µs.
    pub mean_us: f64,
    /// Windows scored per second, one call at a time.
    pub throughput_per_s: f64,
    /// Resident memory the model added, bytes, where the platform says.
    pub memory_bytes: Option<u64>,
}

/// Benchmarks the model file at `path` with `iterations` timed calls (1 to 100 000) on a thread of its
/// own (CPU for about a second at 10 000 calls): load time, latency p50/p99/mean, throughput, resident
/// memory added and size. Run the fp32 and int8 models one after the other to compare them. Throws
/// `InvalidModel` for a missing or unreadable model and `InvalidArgument` for an iteration count out of range.
#[uniffi::export]
pub async fn benchmark_model(path: String, iterations: u32) -> Result<ModelBenchmark> {
    if !(1..=MAX_ITERATIONS as u32).contains(&iterations) {
        return Err(HapticMatError::invalid(format!("{iterations} iterations: expected 1 to {MAX_ITERATIONS}")));
    }
    run_blocking("model-benchmark", move || {
        let b = crate::bench::benchmark_model(std::path::Path::new(&path), iterations as usize)?;
        Ok(ModelBenchmark {
            path,
            size_bytes: b.size_bytes,
            quantized: b.quantized,
            load_ms: b.load_ms,
            iterations: b.iterations,
            p50_us: b.p50_us,
            p99_us: b.p99_us,
            mean_us: b.mean_us,
            throughput_per_s: b.throughput_per_s,
            memory_bytes: b.memory_bytes,
        })
    })
    .await
}
