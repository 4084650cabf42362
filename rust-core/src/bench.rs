//! The model benchmark a phone runs on itself (the app's Model screen) and a host runs the same way:
//! load time, latency percentiles of single calls as the monitor makes them, throughput, the resident
//! memory the model adds, and the file's size. The figures of ONNX Runtime's and TensorFlow Lite's own
//! mobile benchmark tools (init time, per-call latency, memory footprint), through rust-core's own path.
//!
//! The windows are made by the simulator (a person arriving on an empty mat, through the same feature
//! extractor as live frames), so the benchmark needs nothing but the model file.

use crate::features::{FeatureExtractor, FeatureStatus, WINDOW_LEN};
use crate::inference::{InferenceError, PresenceModel};
use crate::simulator::{SimConfig, Simulator};
use std::path::Path;
use std::time::Instant;

/// Calls before timing starts: the first runs allocate ONNX Runtime's buffers.
const WARMUP_CALLS: usize = 20;
/// Distinct windows cycled through.
const WINDOWS: usize = 128;
/// Most timed calls accepted (about a second of a phone's CPU for a model this size).
pub const MAX_ITERATIONS: usize = 100_000;

/// One model's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelBenchmark {
    /// The model file's size in bytes.
    pub size_bytes: u64,
    /// Whether the model is int8 (quantized).
    pub quantized: bool,
    /// Reading the file and creating the ONNX Runtime session, ms (ONNX Runtime already loaded).
    pub load_ms: f64,
    /// Timed calls.
    pub iterations: u32,
    /// Median latency of one call (one window), µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Windows scored per second, one call at a time (as the monitor does).
    pub throughput_per_s: f64,
    /// Resident memory the loaded model and its runs added to the process, bytes; `None` where the
    /// platform does not say (only Linux and Android's `/proc/self/statm` is read).
    pub memory_bytes: Option<u64>,
}

/// Benchmarks the model at `path` with `iterations` timed calls (1 to [`MAX_ITERATIONS`]). CPU work for
/// about `iterations` × the latency, plus the load: run it off the UI thread.
pub fn benchmark_model(path: &Path, iterations: usize) -> Result<ModelBenchmark, InferenceError> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(InferenceError::Run(format!("{iterations} iterations: expected 1 to {MAX_ITERATIONS}")));
    }
    let size_bytes = std::fs::metadata(path)
        .map_err(|e| InferenceError::ModelFile { path: path.to_path_buf(), message: e.to_string() })?
        .len();
    let windows = simulated_windows();
    // ONNX Runtime itself is loaded once per process, before any model: not this model's cost.
    crate::inference::environment()?;
    let resident_before = resident_bytes();
    let start = Instant::now();
    let mut model = PresenceModel::load(path)?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    for w in windows.iter().cycle().take(WARMUP_CALLS) {
        model.predict(w)?;
    }
    let mut times_us = Vec::with_capacity(iterations);
    let started = Instant::now();
    for w in windows.iter().cycle().take(iterations) {
        let t = Instant::now();
        model.predict(w)?;
        times_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let wall_s = started.elapsed().as_secs_f64();
    let memory_bytes = resident_before.zip(resident_bytes()).map(|(before, after)| after.saturating_sub(before));
    let mean_us = times_us.iter().sum::<f64>() / times_us.len() as f64;
    times_us.sort_by(f64::total_cmp);
    let pct = |q: f64| times_us[((times_us.len() - 1) as f64 * q).round() as usize];
    Ok(ModelBenchmark {
        size_bytes,
        quantized: model.info().quantized,
        load_ms,
        iterations: iterations as u32,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        mean_us,
        throughput_per_s: iterations as f64 / wall_s,
        memory_bytes,
    })
}

/// Windows of a simulated session (empty mat, then people), as the live feature extractor makes them.
fn simulated_windows() -> Vec<[f32; WINDOW_LEN]> {
    let mut sim = Simulator::new(SimConfig::default(), 7);
    let mut features = FeatureExtractor::new();
    let mut out = Vec::with_capacity(WINDOWS);
    let mut window = [0f32; WINDOW_LEN];
    // A simulated hour at most; a default session decides within its first minutes.
    for _ in 0..(3600.0 * 6.7) as usize {
        let frame = sim.next_frame().frame;
        if features.push(&frame) == FeatureStatus::Ready && features.window(&mut window) {
            out.push(window);
            if out.len() == WINDOWS {
                break;
            }
        }
    }
    if out.is_empty() {
        // Only if the simulator never gave a still stretch: the model's cost does not depend on values.
        out.push([0.0; WINDOW_LEN]);
    }
    out
}

/// The process's resident memory, from `/proc/self/statm` (Linux and Android).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The kernel's page size (Android 15 devices may use 16 KB pages; statm counts those).
fn page_size() -> u64 {
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("KernelPageSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_windows_are_real_windows_of_a_session() {
        let windows = simulated_windows();
        assert_eq!(windows.len(), WINDOWS, "a default session gives windows soon");
        // Relative to the empty-mat baseline, and moving: not one window repeated.
        assert!(windows.iter().any(|w| w != &windows[0]), "the windows differ");
        assert!(windows.iter().all(|w| w.iter().all(|v| v.is_finite())));
    }

    #[test]
    fn iterations_outside_the_range_are_refused_before_any_work() {
        let missing = Path::new("/nonexistent/model.onnx");
        assert!(matches!(benchmark_model(missing, 0), Err(InferenceError::Run(m)) if m.contains("0 iterations")));
        assert!(matches!(benchmark_model(missing, 1), Err(InferenceError::ModelFile { .. })));
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
        assert!(page_size().is_power_of_two());
    }
}
