//! The Model screen's benchmark on a host: the same `hapticmat_core::bench::benchmark_model` the app
//! runs on a phone, for each model given, as a Markdown table.
//!
//!   cargo run --release -p hapticmat-core --example bench_model -- [--iterations N] MODEL.onnx…
//!
//! ONNX Runtime: `ORT_DYLIB_PATH` (scripts/setup.sh puts it in build/onnxruntime/).

use hapticmat_core::bench::benchmark_model;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut iterations = 10_000usize;
    let mut models = Vec::new();
    while let Some(a) = args.next() {
        if a == "--iterations" {
            iterations =
                args.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| usage("--iterations needs a number"));
        } else {
            models.push(PathBuf::from(a));
        }
    }
    if models.is_empty() {
        usage("no model given");
    }
    println!("| model | size | load ms | p50 µs | p99 µs | mean µs | windows/s | memory added |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for path in models {
        match benchmark_model(&path, iterations) {
            Ok(b) => println!(
                "| {} ({}) | {:.1} KB | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {} |",
                path.file_name().unwrap_or_default().to_string_lossy(),
                if b.quantized { "int8" } else { "fp32" },
                b.size_bytes as f64 / 1024.0,
                b.load_ms,
                b.p50_us,
                b.p99_us,
                b.mean_us,
                b.throughput_per_s,
                b.memory_bytes.map_or("–".to_string(), |m| format!("{:.1} MB", m as f64 / 1048576.0)),
            ),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}

fn usage(why: &str) -> ! {
    eprintln!("bench_model: {why}\nusage: bench_model [--iterations N] MODEL.onnx…");
    std::process::exit(2)
}
