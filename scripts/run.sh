#!/usr/bin/env bash
# The main job on embedded defaults (no servers): simulate a dataset, train the presence CNN,
# export ONNX and evaluate it into out/run/, then replay the real mat recordings
# (empty → person → empty) through the live monitor with that model.
# Extra arguments go to `pipeline run` (e.g. --sessions 60 --epochs 8 for a quick try).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p pipeline
pipeline=target/release/pipeline
"$pipeline" run --out out/run "$@"
data=../shared/data/seroton-mat
if [ -f "$data/human_on_mat.csv" ]; then
  echo
  echo "== live monitor: real recordings, empty → person → empty (calibrating on the first 10 s)"
  "$pipeline" monitor --model out/run/model.fp32.onnx --calibrate 10 \
    --source "replay:$data/empty_or_cat_on_mat.csv,$data/human_on_mat.csv,$data/empty_or_cat_on_mat.csv"
fi
