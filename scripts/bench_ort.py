"""Reference: one inference of the same ONNX model through Python's onnxruntime, per-call p50/p99.

Same session settings as rust-core (1 intra-op thread, 1 inter-op thread, no spinning) and the same
single-window input shape. Prints one JSON object. Run by scripts/bench.sh.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    model, iterations = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    tuned = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    # What a Python script does by default (the makers' live-inference script): default options.
    default = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    print(json.dumps({
        "onnxruntime": ort.__version__,
        "inference": time_runs(tuned, iterations),
        "inference_default_options": time_runs(default, iterations),
    }))


def time_runs(sess, iterations):
    rng = np.random.default_rng(0)
    feed = {sess.get_inputs()[0].name: rng.normal(0, 300, size=(1, 4, 20)).astype(np.float32)}
    for _ in range(1000):
        sess.run(None, feed)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        sess.run(None, feed)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    at = lambda q: samples[round((len(samples) - 1) * q)]
    return {"calls": len(samples), "p50_ns": at(0.5), "p99_ns": at(0.99), "mean_ns": sum(samples) / len(samples)}


if __name__ == "__main__":
    main()
