"""The ``'openvino'`` backend: the rewritten module traced to ONNX, read by OpenVINO, compiled
for the CPU once per input shape (static shapes are OpenVINO's fastest; a new shape
reshapes a clone and compiles it, a few hundred ms); bf16 through
``INFERENCE_PRECISION_HINT``, int8 through NNCF."""
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

from .backends import require

MAX_COMPILED_SHAPES = 8


def openvino_config(dtype: str, threads: int) -> dict:
    """The CPU plugin properties of hrnet_mm's OpenVINO models (the backend, the IR export
    check, the benchmark's peers): ``threads`` inference threads, one stream, latency hint,
    and the inference precision (f32, or bf16; int8 models run their unquantised ops in f32)."""
    return {'INFERENCE_NUM_THREADS': int(threads), 'PERFORMANCE_HINT': 'LATENCY',
            'NUM_STREAMS': 1,
            'INFERENCE_PRECISION_HINT': 'bf16' if dtype == 'bf16' else 'f32'}


def read_openvino(onnx_file: str):
    """The ``ov.Model`` of an ONNX file."""
    ov = require('openvino')
    return ov.Core().read_model(onnx_file)


class CompiledPerShape:
    """Runs an ``ov.Model`` compiled for each input shape seen (the last
    ``MAX_COMPILED_SHAPES`` kept)."""

    def __init__(self, model, config: dict):
        ov = require('openvino')
        self.core = ov.Core()
        self.model = model
        self.config = dict(config)
        self.compiled: 'OrderedDict[tuple, object]' = OrderedDict()

    def compile(self, shape: tuple):
        request = self.compiled.get(shape)
        if request is not None:
            self.compiled.move_to_end(shape)
            return request
        model = self.model.clone()
        model.reshape({model.inputs[0].get_any_name(): list(shape)})
        compiled = self.core.compile_model(model, 'CPU', self.config)
        request = compiled.create_infer_request()
        self.compiled[shape] = request
        if len(self.compiled) > MAX_COMPILED_SHAPES:
            self.compiled.popitem(last=False)
        return request

    def __call__(self, x: np.ndarray):
        request = self.compile(tuple(x.shape))
        request.infer({0: x})
        # the request's output buffers are reused by the next call: copy
        return [np.array(request.get_output_tensor(i).data, copy=True)
                for i in range(len(request.model_outputs))]


def build_openvino(onnx_file: str, dtype: str, threads: int,
                   calibration: Optional[Sequence[np.ndarray]] = None,
                   int8_preset: str = 'performance'):
    """``run(x) -> list of arrays`` for the ONNX file ``onnx_file``; ``dtype='int8'``
    quantises the OpenVINO model with NNCF first (``int8_preset``: see
    :func:`hrnet_mm.fast.quantize.quantize_openvino_model`)."""
    model = read_openvino(onnx_file)
    if dtype == 'int8':
        from .quantize import quantize_openvino_model
        model = quantize_openvino_model(model, calibration, preset=int8_preset)
    return CompiledPerShape(model, openvino_config(dtype, threads))
