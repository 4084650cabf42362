//! Downloads and verifies one object the way the updater does, for scripts/bench-delivery.sh:
//! `fetch_object BASE_URL KEY SIZE SHA256 DIR`. Prints one JSON line: seconds, bytes, MB/s, peak RSS.
//! A benchmark helper, not a test.

use hapticmat_core::delivery::{TransportConfig, fetch_object};
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, key, size, sha256, dir] = args.as_slice() else {
        eprintln!("usage: fetch_object BASE_URL KEY SIZE SHA256 DIR");
        return std::process::ExitCode::FAILURE;
    };
    let Ok(size) = size.parse::<u64>() else {
        eprintln!("SIZE must be a number of bytes");
        return std::process::ExitCode::FAILURE;
    };
    let start = Instant::now();
    match fetch_object(base, key, size, sha256, std::path::Path::new(dir), TransportConfig::default()) {
        Ok(path) => {
            let s = start.elapsed().as_secs_f64();
            println!(
                "{{\"seconds\": {s:.4}, \"bytes\": {size}, \"mb_per_s\": {:.1}, \"peak_rss_kib\": {}}}",
                size as f64 / s / 1e6,
                peak_rss_kib().unwrap_or(0)
            );
            let _ = std::fs::remove_file(path);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
