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
    """Feeds the calibration windows in batches, as `pipeline quantize` does."""

    def __init__(self, path: str, input_name: str, batch: int = 256):
        self.data = np.load(path).astype(np.float32)
        # Equal batches: quantize_static's percentile/entropy collectors fail on a ragged last batch.
        batch = max(d for d in range(1, min(batch, len(self.data)) + 1) if len(self.data) % d == 0)
        self.input_name, self.batch, self.at = input_name, batch, 0

    def get_next(self):
        if self.at >= len(self.data):
            return None
        chunk = self.data[self.at : self.at + self.batch]
        self.at += self.batch
        return {self.input_name: chunk}

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

        input_name = onnx.load(pre).graph.input[0].name
        quantize_static(
            pre,
            out,
            Windows(calibration, input_name),
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
