#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing (scripts/setup.sh),
# then the Rust workspace's unit, integration and end-to-end tests against real ONNX Runtime and the
# real mat recordings (../shared/data/seroton-mat), then a smoke run of the side-by-side quantization
# benchmark against ONNX Runtime's Python quantizer (it must run end to end; its figures are not judged).
# Ends with one line totalling the tests: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
cargo test --workspace --locked "$@" 2>&1 | tee build/test.log
scripts/bench-quantize.sh --smoke
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' build/test.log
