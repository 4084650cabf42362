//! Latency of the on-phone hot path, p50/p99 per call: frame decode, feature window, one ONNX
//! Runtime inference, and frame → state through the whole monitor. Prints one JSON object.
//!
//! `cargo bench -p hapticmat-core --bench latency -- MODEL.onnx [ITERATIONS]` (scripts/bench.sh
//! runs it beside Python's onnxruntime on the same model). A benchmark, not a test: it asserts nothing.

use hapticmat_core::features::{Baseline, FeatureExtractor, WINDOW_LEN};
use hapticmat_core::inference::PresenceModel;
use hapticmat_core::monitor::{Monitor, MonitorConfig};
use hapticmat_core::simulator::{SimConfig, Simulator};
use hapticmat_core::{Frame, MonitorEvent};
use std::hint::black_box;
use std::time::Instant;

/// p50 and p99 of `samples` (ns per call).
fn percentiles(mut samples: Vec<f64>) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    serde_json::json!({ "calls": samples.len(), "p50_ns": at(0.5), "p99_ns": at(0.99), "mean_ns": samples.iter().sum::<f64>() / samples.len() as f64 })
}

/// Times `f` per call; calls shorter than the clock's resolution are timed in batches of `batch`.
fn time(iterations: usize, batch: usize, mut f: impl FnMut(usize)) -> serde_json::Value {
    for i in 0..iterations.min(1000) {
        f(i);
    }
    let samples = (0..iterations)
        .map(|i| {
            let start = Instant::now();
            for j in 0..batch {
                f(i * batch + j);
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    percentiles(samples)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(model_path) = args.first() else {
        eprintln!("usage: cargo bench -p hapticmat-core --bench latency -- MODEL.onnx [ITERATIONS]");
        std::process::exit(2);
    };
    let iterations: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);

    let frames: Vec<Frame> =
        Simulator::new(SimConfig::default(), 11).session(3_600.0).into_iter().map(|f| f.frame).collect();
    let notifications: Vec<[u8; 17]> = frames.iter().map(|f| f.encode(1)).collect();
    let n = frames.len();

    let decode = time(iterations, 100, |i| {
        black_box(Frame::decode(black_box(&notifications[i % n]), 0.0).ok());
    });

    let mut fx = FeatureExtractor::new();
    fx.set_baseline(Baseline { pressures: frames[0].pressures });
    let mut window = [0f32; WINDOW_LEN];
    let features = time(iterations, 100, |i| {
        fx.push(&frames[i % n]);
        black_box(fx.window(&mut window));
    });

    let mut model = PresenceModel::load(model_path).expect("model loads");
    let inference = time(iterations, 1, |_| {
        black_box(model.predict(&window).expect("inference runs"));
    });

    let mut monitor = Monitor::new(
        PresenceModel::load(model_path).expect("model loads"),
        MonitorConfig { calibrate_s: Some(10.0), ..Default::default() },
    );
    let mut events: Vec<MonitorEvent> = Vec::with_capacity(8);
    // Frames keep their simulated times, looping through the hour with time running on.
    let end_to_end = time(iterations, 1, |i| {
        let f = &frames[i % n];
        let t = f.t + (i / n) as f64 * (frames[n - 1].t + 0.15);
        events.clear();
        black_box(monitor.process(&Frame { t, pressures: f.pressures }, &mut events).expect("monitor runs"));
    });

    let report = serde_json::json!({
        "model": model_path,
        "iterations": iterations,
        "frame_decode": decode,
        "feature_window": features,
        "inference": inference,
        "frame_to_state": end_to_end,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
