"""The reference quantizer: ONNX Runtime's own `quantize_static` on the same model and calibration
windows as `pipeline quantize`, with matching settings (QDQ, per-channel symmetric int8 weights,
int8 activations, the same calibration method, the same float pre-processing left float), after
`quant_pre_process` as ONNX Runtime recommends. Prints one JSON object with the wall times.

Run by scripts/bench-quantize.sh; arguments: MODEL CALIBRATION.npy METHOD OUT [EXCLUDED_NODE...]
"""
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}


class Windows(CalibrationDataReader):
    """Feeds the calibration windows in batches, as `pipeline quantize` does: the first graph input
    from CALIBRATION.npy, every other input NAME from calibration_NAME.npy beside it."""

    def __init__(self, path: str, input_names: list, batch: int = 256):
        first = Path(path)
        self.data = {input_names[0]: np.load(first).astype(np.float32)}
        for name in input_names[1:]:
            self.data[name] = np.load(first.with_name(f"calibration_{name}.npy")).astype(np.float32)
        n = len(self.data[input_names[0]])
        # Equal batches: quantize_static's percentile/entropy collectors fail on a ragged last batch.
        batch = max(d for d in range(1, min(batch, n) + 1) if n % d == 0)
        self.n, self.batch, self.at = n, batch, 0

    def get_next(self):
        if self.at >= self.n:
            return None
        chunk = {name: data[self.at : self.at + self.batch] for name, data in self.data.items()}
        self.at += self.batch
        return chunk

    def rewind(self):
        self.at = 0


def main() -> None:
    model, calibration, method, out, *exclude = sys.argv[1:]
    started = time.perf_counter()
    # ONNX Runtime's calibrators print progress on stdout; stdout carries only our JSON.
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as tmp:
        pre = str(Path(tmp) / "pre.onnx")
        quant_pre_process(model, pre)
        preprocessed = time.perf_counter()
        import onnx

        graph = onnx.load(pre).graph
        initializers = {t.name for t in graph.initializer}
        input_names = [i.name for i in graph.input if i.name not in initializers]
        quantize_static(
            pre,
            out,
            Windows(calibration, input_names),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=METHODS[method],
            nodes_to_exclude=exclude,
        )
    done = time.perf_counter()
    print(json.dumps({
        "seconds_pre_process": preprocessed - started,
        "seconds_quantize": done - preprocessed,
        "seconds_total": done - started,
    }))


if __name__ == "__main__":
    main()
