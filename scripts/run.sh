#!/usr/bin/env bash
# The main job on embedded defaults (no servers): simulate a dataset, train the presence CNN,
# export ONNX, quantize it to int8 and evaluate both into out/run/, then replay the real mat
# recordings (empty → person → empty) through the live monitor with the int8 model, as the phone runs it.
# Extra arguments go to `pipeline run` (e.g. --sessions 60 --epochs 8 for a quick try).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p pipeline
pipeline=target/release/pipeline
"$pipeline" run --out out/run "$@"
data=data/seroton-mat
echo
echo "== live monitor: real recordings, empty → person → empty (calibrating on the first 10 s)"
"$pipeline" monitor --model out/run/model.int8.onnx --calibrate 10 \
  --source "replay:$data/empty_or_cat_on_mat.csv,$data/human_on_mat.csv,$data/empty_or_cat_on_mat.csv"
