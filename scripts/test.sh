#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing (scripts/setup.sh),
# then the Rust workspace's unit, integration and end-to-end tests against real ONNX Runtime and the
# real mat recordings (../shared/data/seroton-mat).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked "$@"
