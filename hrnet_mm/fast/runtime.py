"""What the ONNX-based backends (ONNX Runtime, OpenVINO) share: tracing the rewritten PyTorch
module to ONNX with dynamic batch / height / width, and :class:`RuntimeModel`, the module-like
callable that feeds a runtime and returns the model's own output structure in fp32."""
import copy
import tempfile
import threading
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch.utils import _pytree as pytree

from .backends import require

INPUT_NAME = 'input'
OPSET = 17


class _FlatOutputs(nn.Module):
    """``module`` with its outputs (tensor, list, tuple or dict of tensors) flattened to a
    tuple, which is what ONNX graph outputs are."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        leaves, _ = pytree.tree_flatten(self.module(x))
        return tuple(leaves)


def as_tensor_model(model: nn.Module) -> nn.Module:
    """An mm model (mmpose ``TopdownPoseEstimator``, mmseg ``EncoderDecoder``: anything with
    ``_forward`` and ``extract_feat``) as a tensor-in module (its ``_forward``: heatmaps /
    logits); any other module unchanged."""
    if hasattr(model, '_forward') and hasattr(model, 'extract_feat'):
        from ..export import MMModelForExport
        return MMModelForExport(model)
    return model


def trace_to_onnx(module: nn.Module, example: torch.Tensor, path: str,
                  opset: int = OPSET) -> Tuple[Any, List[str]]:
    """Export ``module`` (eval mode, parameters frozen) to ``path`` with dynamic batch, height
    and width, tracing ``example``. Returns the output tree spec (to rebuild the model's output
    structure from the graph outputs) and the output names."""
    require('onnx', 'the onnxruntime and openvino backends (ONNX export)')
    from ..export import _export
    with torch.no_grad():
        out = module(example)
    leaves, spec = pytree.tree_flatten(out)
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        raise ValueError(f'{type(module).__name__} must return tensors (or lists / tuples / '
                         f'dicts of tensors) to run on a runtime backend, got {type(out)}')
    names = [f'out{i}' for i in range(len(leaves))]
    axes = {INPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'}}
    for name, t in zip(names, leaves):
        axes[name] = {0: 'batch', 2: f'{name}_h', 3: f'{name}_w'} if t.dim() == 4 else \
            ({0: 'batch'} if t.dim() >= 1 else {})
    _export(_FlatOutputs(module), example, path, opset, INPUT_NAME, names,
            {k: v for k, v in axes.items() if v})
    return spec, names


def prepared_copy(model: nn.Module, fold_bn: bool, merge_exchange: bool) -> nn.Module:
    """A deep copy of ``model`` in eval mode, frozen, with the chosen rewrites applied."""
    from mmengine.model import revert_sync_batchnorm

    from .exchange import merge_exchange_units
    from .fold import fold_batch_norms
    module = revert_sync_batchnorm(copy.deepcopy(as_tensor_model(model)))
    module.eval()  # not chained: mm's HRNet.train() returns None
    if fold_bn:
        fold_batch_norms(module)
        if merge_exchange:
            merge_exchange_units(module)
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def example_from(example_input, calibration: Optional[Sequence]) -> Optional[torch.Tensor]:
    """The tensor to trace: ``example_input`` (a tensor or a shape), else the first
    calibration sample, else None (traced at the first call)."""
    if example_input is not None:
        if isinstance(example_input, torch.Tensor):
            return example_input.detach().float()
        shape = tuple(int(v) for v in example_input)
        if len(shape) != 4:
            raise ValueError(f'example_input must be a tensor or an (N, C, H, W) shape, got '
                             f'{example_input!r}')
        return torch.randn(shape, generator=torch.Generator().manual_seed(0))
    if calibration:
        return torch.as_tensor(calibration[0]).float()
    return None


class RuntimeModel(nn.Module):
    """A model run by ONNX Runtime or OpenVINO, called like the PyTorch model.

    Tensors in (fp32, NCHW; any batch and size), the model's output structure out (tensors,
    lists, tuples, dicts), fp32. The runtime graph is built from ``build(example)`` at the
    first call when no example was known at :func:`~hrnet_mm.fast.optimize` time.

    Args:
        build (callable): ``build(example: Tensor) -> (run, spec)`` where
            ``run(x: np.ndarray) -> list[np.ndarray]`` runs the graph.
        backend (str): Backend name (for ``repr`` and the benchmark).
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'int8'``.
        threads (int): Threads the runtime uses.
        example (Tensor, optional): Build now with this input.
        attrs (dict): Attributes copied from the original model (``out_channels``,
            ``out_strides``).
    """

    def __init__(self, build: Callable, backend: str, dtype: str, threads: int,
                 example: Optional[torch.Tensor] = None, attrs: Optional[dict] = None):
        super().__init__()
        self.backend = backend
        self.dtype = dtype
        self.threads = threads
        self._build = build
        self._run = None
        self._spec = None
        self._lock = threading.Lock()
        for k, v in (attrs or {}).items():
            setattr(self, k, v)
        if example is not None:
            self._ensure_built(example)

    def _ensure_built(self, x: torch.Tensor) -> None:
        with self._lock:
            if self._run is None:
                self._run, self._spec = self._build(x.detach().float())

    def forward(self, x: torch.Tensor):
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f'input must be an (N, C, H, W) tensor, got '
                             f'{getattr(x, "shape", type(x))}')
        self._ensure_built(x)
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        outs = [torch.from_numpy(np.asarray(o, dtype=np.float32)) for o in self._run(array)]
        return pytree.tree_unflatten(outs, self._spec)

    def extra_repr(self) -> str:
        return f'backend={self.backend!r}, dtype={self.dtype!r}, threads={self.threads}'


def temp_onnx_dir() -> tempfile.TemporaryDirectory:
    """A scratch directory for the intermediate ONNX files (removed when closed)."""
    return tempfile.TemporaryDirectory(prefix='hrnet_mm_fast_')
