"""A deploy graph (OpenVINO IR) run as a PyTorch module, so that an mm pipeline, a test or a
benchmark can put the very file a PaddleDetection user deploys where our network sits.

    run = DeployGraphModule('pp_tinypose/openvino_256x192/model.xml', threads=2)
    heatmaps = run(torch.rand(8, 3, 256, 192))   # any batch: compiled once per shape
"""
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from .backends import require
from .openvino_backend import CompiledPerShape, openvino_config


class DeployGraphModule(nn.Module):
    """``x -> output`` of an OpenVINO IR, compiled for the CPU once per input shape.

    Args:
        xml (str): The IR's ``.xml`` (its ``.bin`` beside it).
        output (str, optional): The output to return, by name; default the only 4-D output
            (PP-TinyPose's heatmaps; the graph's argmax output is left out).
        dtype (str): ``'fp32'`` or ``'bf16'`` (OpenVINO's ``INFERENCE_PRECISION_HINT``).
        threads (int, optional): Inference threads; default ``torch.get_num_threads()``.

    Raises:
        ValueError: when the IR has no such output, or no single 4-D one.
    """

    def __init__(self, xml: str, output: Optional[str] = None, dtype: str = 'fp32',
                 threads: Optional[int] = None):
        super().__init__()
        if dtype not in ('fp32', 'bf16'):
            raise ValueError(f'a deploy graph runs in fp32 or bf16, got dtype {dtype!r}')
        ov = require('openvino', 'running a deploy graph')
        model = ov.Core().read_model(xml)
        names = [sorted(o.get_names()) for o in model.outputs]
        if output is None:
            four_d = [i for i, o in enumerate(model.outputs) if o.get_partial_shape().rank == 4]
            if len(four_d) != 1:
                raise ValueError(f'{xml}: name the output to run (output=...), one of {names}')
            index = four_d[0]
        else:
            index = next((i for i, n in enumerate(names) if output in n), None)
            if index is None:
                raise ValueError(f'{xml} has no output {output!r}; its outputs: {names}')
        # one dynamic batch dimension; the height and width stay the graph's own
        shape = model.inputs[0].get_partial_shape()
        shape[0] = -1
        model.reshape({model.inputs[0].get_any_name(): shape})
        self.xml = xml
        self.index = index
        self.dtype = dtype
        self.threads = threads or torch.get_num_threads()
        self.run = CompiledPerShape(model, openvino_config(dtype, self.threads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        return torch.from_numpy(self.run(array)[self.index])
