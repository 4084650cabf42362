#!/usr/bin/env bash
# Side-by-side: the same fp32 model and the same calibration windows quantized by this crate
# (`pipeline quantize`) and by ONNX Runtime's Python `quantize_static` (scripts/ort_quantize.py),
# both int8 models scored by the same evaluator (`pipeline evaluate`). Writes docs/quantization.md.
#
#   scripts/bench-quantize.sh            full run on out/run (trained first if missing), min-max and entropy
#   scripts/bench-quantize.sh --smoke    a tiny model, min-max only, table in build/ (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

smoke=0; [ "${1:-}" = "--smoke" ] && smoke=1
repeats=5
if [ $smoke = 1 ]; then
  # The test build is already there: a smoke run needs no optimised build of its own.
  cargo build --locked -q -p pipeline; pipeline=target/debug/pipeline
else
  cargo build --release --locked -q -p pipeline; pipeline=target/release/pipeline
fi

venv=build/venv-bench
if ! "$venv/bin/python" -c "import onnxruntime, onnx, numpy, sympy" 2>/dev/null; then
  python3 -m venv "$venv"
  # The same hash-checked wheel scripts/setup.sh took the runtime from; onnx and sympy for quant_pre_process.
  "$venv/bin/pip" install --quiet build/wheels/onnxruntime-1.31.1-*.whl numpy "onnx==1.23.2" sympy
fi

if [ $smoke = 1 ]; then
  run=build/smoke-quantize; methods="minmax"; repeats=1; table=build/smoke-quantize/quantization.md
  "$pipeline" run --quiet --no-quantize --sessions 20 --session-seconds 200 --long-sessions 0 --epochs 2 --out "$run"
else
  run=${RUN:-out/run}; methods="minmax entropy"; table=docs/quantization.md
  [ -f "$run/model.fp32.onnx" ] || "$pipeline" run --quiet --out "$run"
fi
model=$run/model.fp32.onnx
calib=$run/data/calibration.npy
work=build/bench-quantize; rm -rf "$work"; mkdir -p "$work"

now() { date +%s%N; }
for m in $methods; do
  for i in $(seq "$repeats"); do
    t0=$(now)
    "$pipeline" quantize --json --model "$model" --calibration "$calib" --method "$m" --out "$work/ours.$m.onnx" \
      2>>"$work/log" > "$work/ours.$m.$i.json"
    echo $(( $(now) - t0 )) > "$work/ours.$m.$i.wall"
    if [ "$m" = entropy ]; then
      # Also with ONNX Runtime's histogram size, for a like-for-like entropy row.
      t0=$(now)
      "$pipeline" quantize --json --model "$model" --calibration "$calib" --method "$m" --bins 128 \
        --out "$work/ours128.$m.onnx" 2>>"$work/log" > "$work/ours128.$m.$i.json"
      echo $(( $(now) - t0 )) > "$work/ours128.$m.$i.wall"
    fi
    t0=$(now)
    "$venv/bin/python" scripts/ort_quantize.py "$model" "$calib" "$m" "$work/ort.$m.onnx" preprocess_scale \
      2>>"$work/log" > "$work/ort.$m.$i.json"
    echo $(( $(now) - t0 )) > "$work/ort.$m.$i.wall"
  done
  for who in ours ort $([ "$m" = entropy ] && echo ours128); do
    "$pipeline" evaluate --fp32 "$model" --int8 "$work/$who.$m.onnx" --data "$run/data" --out "$work/eval.$who.$m" 2>>"$work/log"
  done
done

python3 - "$work" "$model" "$repeats" "$smoke" $methods > "$table" <<'PY'
import json, os, statistics, sys
work, model, repeats, smoke, methods = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
def med(paths, key=None):
    # .json: the quantizer's own time in seconds; .wall: the whole command in nanoseconds.
    vals = [json.load(open(p))[key] if key else int(open(p).read()) / 1e9 for p in paths]
    return statistics.median(vals)
print("# Quantization: this crate against ONNX Runtime's `quantize_static`\n")
print(f"Made by `scripts/bench-quantize.sh{' --smoke' if smoke else ''}` on {os.cpu_count()} cores ({cpu}): model "
      f"`{model}`, the same calibration windows for both, each quantizer run {repeats}× (medians), both int8 models "
      "scored by `pipeline evaluate` on the same held-out simulated subjects.\n")
print("Settings on both sides: QDQ, per-channel symmetric int8 weights, int8 asymmetric activations, the float "
      "pre-processing (`preprocess_scale`) left float; ONNX Runtime after `quant_pre_process`. Entropy: ours 512 "
      "histogram bins, ONNX Runtime's fixed 128.\n")
print("| method | quantizer | accuracy drop vs fp32 (points) | fp32/int8 agreement | int8 size (B) | int8 latency p50 / p99 (µs) | quantization time, in process (s) | whole command (s) |")
print("|---|---|---|---|---|---|---|---|")
# ONNX Runtime's time is `quantize_static` alone (its `quant_pre_process` is listed below), the stricter comparison.
rows = {}
for m in methods:
    quantizers = [("ours", "this crate", "seconds"), ("ort", "ONNX Runtime", "seconds_quantize")]
    if m == "entropy":
        quantizers.insert(1, ("ours128", "this crate, 128 bins", "seconds"))
    for who, name, key in quantizers:
        e = json.load(open(f"{work}/eval.{who}.{m}/evaluation.json"))
        t = med([f"{work}/{who}.{m}.{i}.json" for i in range(1, repeats + 1)], key)
        w = med([f"{work}/{who}.{m}.{i}.wall" for i in range(1, repeats + 1)])
        rows[(m, who)] = (e, t, w)
        print(f"| {m} | {name} | {e['accuracy_drop_points']:+.2f} | {100 * e['agreement']:.2f}% | {e['int8']['bytes']} | "
              f"{e['int8']['latency']['p50_us']:.1f} / {e['int8']['latency']['p99_us']:.1f} | {t:.4f} | {w:.2f} |")
print(f"\nfp32 reference: accuracy {100 * rows[(methods[0], 'ours')][0]['fp32']['test']['accuracy']:.2f}%, "
      f"{rows[(methods[0], 'ours')][0]['fp32']['bytes']} B, latency p50 {rows[(methods[0], 'ours')][0]['fp32']['latency']['p50_us']:.1f} µs.\n")
pre = med([f"{work}/ort.{methods[0]}.{i}.json" for i in range(1, repeats + 1)], "seconds_pre_process")
print(f"ONNX Runtime's `quant_pre_process` took another {pre:.4f} s (not counted above). Our time includes loading the "
      "model, BatchNorm folding, calibration through ONNX Runtime and writing the QDQ graph.\n")
print("Goals: accuracy drop ≤ ONNX Runtime's + 0.2 points, size ≤ its size, quantization time ≤ 0.5× its time.\n")
ok = lambda b: "met" if b else "**missed**"
for m in methods:
    (eo, to, _), (er, tr, _) = rows[(m, "ours")], rows[(m, "ort")]
    print(f"- {m}: accuracy drop {eo['accuracy_drop_points']:+.2f} vs {er['accuracy_drop_points']:+.2f} "
          f"({ok(eo['accuracy_drop_points'] <= er['accuracy_drop_points'] + 0.2)}); size {eo['int8']['bytes']} vs "
          f"{er['int8']['bytes']} B ({ok(eo['int8']['bytes'] <= er['int8']['bytes'])}); time {to:.4f} vs {tr:.4f} s = "
          f"{to / tr:.2f}× ({ok(to <= 0.5 * tr)}).")
    if (m, "ours128") in rows:
        e8, t8, _ = rows[(m, "ours128")]
        print(f"- {m} with ONNX Runtime's 128 bins: accuracy drop {e8['accuracy_drop_points']:+.2f} "
              f"({ok(e8['accuracy_drop_points'] <= er['accuracy_drop_points'] + 0.2)}), time {t8 / tr:.2f}× "
              f"({ok(t8 <= 0.5 * tr)}).")
PY
cat "$table"
