"""The ``'onnxruntime'`` backend: the rewritten module traced to ONNX (dynamic batch, height,
width), run by ONNX Runtime's CPU provider; int8 through ONNX Runtime's static quantisation."""
import os
from typing import Optional, Sequence

import numpy as np

from .backends import require


def ort_session_options(threads: int):
    """Session options used for every ONNX Runtime session of hrnet_mm (the backend, export
    verification, the benchmark's peers): ``threads`` intra-op threads, one inter-op thread,
    all graph optimisations."""
    ort = require('onnxruntime')
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def ort_session(path_or_bytes, threads: int):
    """An ONNX Runtime CPU session for a file path or serialized model bytes."""
    ort = require('onnxruntime')
    return ort.InferenceSession(path_or_bytes, ort_session_options(threads),
                                providers=['CPUExecutionProvider'])


def build_ort(onnx_file: str, dtype: str, threads: int,
              calibration: Optional[Sequence[np.ndarray]] = None, input_name: str = 'input'):
    """``run(x) -> list of arrays`` for the ONNX file ``onnx_file`` (read into memory, so the
    file may be removed afterwards); ``dtype='int8'`` quantises it first."""
    if dtype == 'int8':
        from .quantize import quantize_onnx_file
        int8_file = os.path.splitext(onnx_file)[0] + '.int8.onnx'
        quantize_onnx_file(onnx_file, int8_file, calibration, input_name)
        onnx_file = int8_file
    with open(onnx_file, 'rb') as f:
        session = ort_session(f.read(), threads)

    def run(x: np.ndarray):
        return session.run(None, {input_name: x})

    run.session = session
    return run
