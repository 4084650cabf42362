#!/usr/bin/env bash
# Benchmarks the on-phone hot path and writes docs/benchmarks.md: frame decode, feature window, one
# inference and frame → state through rust-core, and one inference of the same model through
# Python's onnxruntime (the reference), in one run on this machine.
# Usage: scripts/bench.sh [MODEL.onnx] [ITERATIONS]   (default: out/run/model.fp32.onnx, trained if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model=${1:-out/run/model.fp32.onnx}
iterations=${2:-20000}
if [ ! -f "$model" ]; then
  echo "[bench] no model at $model: training one (pipeline run)" >&2
  cargo run --release --locked -p pipeline -- run --quiet --out "$(dirname "$model")"
fi

venv=build/venv-bench
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  # The same hash-checked wheel scripts/setup.sh took the shared library from.
  "$venv/bin/pip" install --quiet build/wheels/onnxruntime-1.31.1-*.whl numpy
fi

mkdir -p build/bench docs
# cargo runs benches from the crate's folder: hand it an absolute path.
cargo bench --locked -p hapticmat-core --bench latency -- "$(realpath "$model")" "$iterations" > build/bench/rust.json
"$venv/bin/python" scripts/bench_ort.py "$model" "$iterations" > build/bench/python.json

python3 - "$model" build/bench/rust.json build/bench/python.json > docs/benchmarks.md <<'PY'
import json, os, platform, subprocess, sys
model, rust, py = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
us = lambda ns: f"{ns / 1000:.2f}"
rows = [
    ("frame decode (17-byte notification → Frame)", rust["frame_decode"]),
    ("feature window (push frame, copy window)", rust["feature_window"]),
    ("one inference, rust-core through `ort`", rust["inference"]),
    ("one inference, Python `onnxruntime` `run()`, same session options (reference)", py["inference"]),
    ("one inference, Python `onnxruntime` `run()`, default session options", py["inference_default_options"]),
    ("frame → state, whole monitor (features + inference + smoothing)", rust["frame_to_state"]),
]
print("# Benchmarks: the on-phone hot path\n")
print(f"Made by `scripts/bench.sh` on {os.cpu_count()} cores ({cpu}), one run, model `{model}` "
      f"({os.path.getsize(model)} bytes), {rust['iterations']} timed calls each, ONNX Runtime {py['onnxruntime']} "
      "(1 intra-op thread, no spinning, CPU execution provider on both sides).\n")
print("| what | p50 µs | p99 µs | mean µs |\n|---|---|---|---|")
for name, r in rows:
    print(f"| {name} | {us(r['p50_ns'])} | {us(r['p99_ns'])} | {us(r['mean_ns'])} |")
speed = py["inference"]["p50_ns"] / rust["inference"]["p50_ns"]
speed_default = py["inference_default_options"]["p50_ns"] / rust["inference"]["p50_ns"]
print(f"\nAt the median rust-core's inference is **{speed:.1f}×** faster than Python's `run()` with the same "
      f"session options and **{speed_default:.1f}×** faster than with Python's defaults (goal ≥ 2×); frame → state "
      f"p99 is **{us(rust['frame_to_state']['p99_ns'])} µs** (goal ≤ 100 µs).")
met = lambda x: "met" if x >= 2 else "not met"
print("\nBoth sides call the same ONNX Runtime build with the same graph: what differs is the overhead of each "
      "binding around ONNX Runtime's own `Run`, which dominates for a model this small. The 2× goal is "
      f"{met(speed)} against the same session options and {met(speed_default)} against Python's defaults (which "
      "spin a thread per core and suffer most from a busy machine); see the closing note of issue 2 for what was "
      "tried (graph optimisation levels, pre-bound I/O).")
print("\nDecode and feature timings are per call, measured over batches of 100 calls (below the clock's resolution otherwise).")
PY
cat docs/benchmarks.md
