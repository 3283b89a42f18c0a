"""What the ONNX-based backends (ONNX Runtime, OpenVINO) share: tracing the rewritten PyTorch
module to ONNX with dynamic batch / height / width, and :class:`RuntimeModel`, the module-like
callable that feeds a runtime and returns the model's own output structure in fp32.

**Fixed ratios.** Traced for any input size, the resampling between streams resizes to the
symbolic size of the target stream, and Lite-HRNet's cross-resolution pooling is two matrix
products per stream. For inputs whose height and width are divisible by 32 the ratios are
fixed powers of 2: ``Resize`` with constant scales (ONNX Runtime then keeps the whole HRNet in
its blocked layout) and a fixed ``AveragePool`` (OpenVINO Lite-HRNet-18 2-3x faster)
(:func:`hrnet_mm.export.fixed_ratio_resampling`). With ``Rewrites.fixed_ratios`` the runtimes
trace such a second graph and use it for sizes divisible by 32; other sizes run the general
graph.
"""
import copy
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
                  opset: int = OPSET, fixed_ratios: bool = False) -> Tuple[Any, List[str]]:
    """Export ``module`` (eval mode, parameters frozen) to ``path`` with dynamic batch, height
    and width, tracing ``example``. Returns the output tree spec (to rebuild the model's output
    structure from the graph outputs) and the output names. ``fixed_ratios``: trace under
    :func:`hrnet_mm.export.fixed_ratio_resampling` (the graph is then valid for sizes divisible
    by 32 only)."""
    require('onnx', 'the onnxruntime and openvino backends (ONNX export)')
    from ..export import traced
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
    # A fresh copy per trace: a second trace of the same frozen module (the fixed-ratio and the
    # general graph) came out wrong for unfolded conv + BN pairs (0.08 off on a test module).
    traced(_FlatOutputs(copy.deepcopy(module)), example, path, opset, INPUT_NAME, names,
           {k: v for k, v in axes.items() if v}, fixed_ratios)
    return spec, names


def prepared_copy(model: nn.Module, fold_bn: bool, merge_exchange: bool,
                  unshuffle_lite: bool = False) -> nn.Module:
    """A deep copy of ``model`` in eval mode, frozen, with the chosen rewrites applied."""
    from mmengine.model import revert_sync_batchnorm

    from .exchange import merge_exchange_units
    from .fold import fold_batch_norms
    from .lite_unshuffle import unshuffle_lite_hrnet
    module = revert_sync_batchnorm(copy.deepcopy(as_tensor_model(model)))
    module.eval()  # not chained: mm's HRNet.train() returns None
    if fold_bn:
        fold_batch_norms(module)
        if merge_exchange:
            merge_exchange_units(module)
        if unshuffle_lite:
            unshuffle_lite_hrnet(module)
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
    lists, tuples, dicts), fp32. Graphs are built by ``build(example, variant)`` when first
    needed: ``'static'`` (fixed ratios, for sizes divisible by 32, see the module docstring)
    when ``static_variant`` is set, ``'general'`` otherwise.

    Args:
        build (callable): ``build(example: Tensor, variant: str) -> (run, spec)`` where
            ``run(x: np.ndarray) -> list[np.ndarray]`` runs the graph.
        backend (str): Backend name (for ``repr`` and the benchmark).
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'int8'``.
        threads (int): Threads the runtime uses.
        example (Tensor, optional): Build the graph for this input now.
        attrs (dict): Attributes copied from the original model (``out_channels``,
            ``out_strides``).
        static_variant (bool): Use a fixed-ratio graph for sizes divisible by 32.
    """

    def __init__(self, build: Callable, backend: str, dtype: str, threads: int,
                 example: Optional[torch.Tensor] = None, attrs: Optional[dict] = None,
                 static_variant: bool = False):
        super().__init__()
        self.backend = backend
        self.dtype = dtype
        self.threads = threads
        self.static_variant = static_variant
        self._build = build
        self._graphs: Dict[str, Tuple[Callable, Any]] = {}
        self._lock = threading.Lock()
        for k, v in (attrs or {}).items():
            setattr(self, k, v)
        if example is not None:
            self._graph(example)

    def variant(self, shape: Sequence[int]) -> str:
        """``'static'`` or ``'general'``: the graph that runs an input of ``shape``."""
        from ..export import divisible_for_fixed_ratios
        return 'static' if self.static_variant and divisible_for_fixed_ratios(shape) \
            else 'general'

    def _graph(self, x: torch.Tensor) -> Tuple[Callable, Any]:
        variant = self.variant(x.shape)
        with self._lock:
            if variant not in self._graphs:
                self._graphs[variant] = self._build(x.detach().float(), variant)
            return self._graphs[variant]

    @property
    def _run(self) -> Optional[Callable]:
        """The runner of the graph built first (for inspection)."""
        return next(iter(self._graphs.values()))[0] if self._graphs else None

    def forward(self, x: torch.Tensor):
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f'input must be an (N, C, H, W) tensor, got '
                             f'{getattr(x, "shape", type(x))}')
        run, spec = self._graph(x)
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        outs = [torch.from_numpy(np.asarray(o, dtype=np.float32)) for o in run(array)]
        return pytree.tree_unflatten(outs, spec)

    def extra_repr(self) -> str:
        return (f'backend={self.backend!r}, dtype={self.dtype!r}, threads={self.threads}, '
                f'graphs={sorted(self._graphs)}')


def temp_onnx_dir() -> tempfile.TemporaryDirectory:
    """A scratch directory for the intermediate ONNX files (removed when closed)."""
    return tempfile.TemporaryDirectory(prefix='hrnet_mm_fast_')
