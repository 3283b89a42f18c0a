"""The ``'onnxruntime'`` backend: the rewritten module traced to ONNX (dynamic batch, height,
width), run by ONNX Runtime's CPU provider in one session per input shape (the graph's free
dimensions fixed to it: with fully static shapes ONNX Runtime plans better; HRNet-W32 batch 8
ran 9% faster than in one dynamic session, level with the toolbox's static export); int8
through ONNX Runtime's static quantisation."""
import os
import threading
from collections import OrderedDict
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
        return SessionPerShape(f.read(), threads, input_name)


#: Sessions kept per model (the most recently used shapes).
MAX_SESSIONS = 8


class SessionPerShape:
    """``run(x) -> list of arrays``: an ONNX Runtime session per input shape (the last
    :data:`MAX_SESSIONS` kept), each with the graph's free input dimensions (batch, height,
    width) overridden by that shape, so ONNX Runtime sees a static graph."""

    def __init__(self, model: bytes, threads: int, input_name: str = 'input'):
        import onnx
        self.model, self.threads, self.input_name = model, threads, input_name
        self.sessions: 'OrderedDict[tuple, object]' = OrderedDict()
        # the symbolic names of the input's free dimensions, by axis (read from the graph:
        # milliseconds, where a session to ask would cost a whole graph optimisation)
        graph_input = next(i for i in onnx.load_model_from_string(model).graph.input
                           if i.name == input_name)
        self.free_dims = {axis: d.dim_param for axis, d in
                          enumerate(graph_input.type.tensor_type.shape.dim) if d.dim_param}
        self.last = None
        self._lock = threading.Lock()

    @property
    def session(self):
        """The session of the last call (before any call: a dynamic-shape one, for inspection)."""
        if self.last is None:
            self.last = ort_session(self.model, self.threads)
        return self.last

    def session_for(self, shape: tuple):
        """The session for inputs of ``shape`` (created on first use)."""
        with self._lock:
            session = self.sessions.get(shape)
            if session is not None:
                self.sessions.move_to_end(shape)
                return session
            session = self._new_session(shape)
            self.sessions[shape] = session
            if len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
            return session

    def _new_session(self, shape: tuple):
        ort = require('onnxruntime')
        options = ort_session_options(self.threads)
        for axis, name in self.free_dims.items():
            options.add_free_dimension_override_by_name(name, int(shape[axis]))
        return ort.InferenceSession(self.model, options, providers=['CPUExecutionProvider'])

    def __call__(self, x: np.ndarray):
        self.last = self.session_for(tuple(x.shape))
        return self.last.run(None, {self.input_name: x})
