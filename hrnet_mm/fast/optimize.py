"""The inference entry point: :func:`optimize` returns an optimised copy of a model, run by
PyTorch (``'eager'``, ``'inductor'``) or by a runtime (``'onnxruntime'``, ``'openvino'``), in
fp32, bf16 or int8 (:mod:`.backends` lists the pairs)."""
import copy
import os
import warnings
from typing import Iterable, Optional, Sequence, Union

import torch
import torch.nn as nn

from .backends import check_backend_dtype, require, rewrites_for, warn_if_bf16_is_slow

from .exchange import merge_exchange_units
from .fold import fold_batch_norms


class OptimizedModel(nn.Module):
    """Wraps an optimised module: converts inputs to its layout/dtype and outputs back to fp32.

    Args:
        module (nn.Module): The optimised module (BN folded, layout/dtype converted, maybe
            compiled).
        dtype (torch.dtype): Compute dtype of ``module``.
        channels_last (bool): Whether ``module`` expects channels-last inputs.
    """

    def __init__(self, module: nn.Module, dtype: torch.dtype, channels_last: bool):
        super().__init__()
        self.module = module
        self.dtype = dtype
        self.channels_last = channels_last
        for attr in ('out_channels', 'out_strides'):
            if hasattr(module, attr):
                setattr(self, attr, getattr(module, attr))

    def forward(self, x: torch.Tensor):
        x = x.to(self.dtype)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            out = self.module(x)
        return _to_float(out)


def _to_float(out):
    if isinstance(out, torch.Tensor):
        return out.float().contiguous()
    if isinstance(out, (list, tuple)):
        return type(out)(_to_float(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_float(v) for k, v in out.items()}
    return out


class _TorchThreads(nn.Module):
    """Runs ``module`` with ``threads`` intra-op threads (PyTorch's setting is process-wide:
    set for the call, restored afterwards)."""

    def __init__(self, module: nn.Module, threads: int):
        super().__init__()
        self.module = module
        self.threads = threads
        for attr in ('out_channels', 'out_strides', 'dtype', 'channels_last'):
            if hasattr(module, attr):
                setattr(self, attr, getattr(module, attr))

    def forward(self, *args, **kwargs):
        before = torch.get_num_threads()
        if before == self.threads:
            return self.module(*args, **kwargs)
        torch.set_num_threads(self.threads)
        try:
            return self.module(*args, **kwargs)
        finally:
            torch.set_num_threads(before)


def optimize(model: nn.Module, dtype: Union[str, torch.dtype] = 'fp32',
             channels_last: Optional[bool] = None, fold_bn: Optional[bool] = None,
             merge_exchange: Optional[bool] = None, compile: bool = False, *,
             backend: Optional[str] = None, calibration: Optional[Iterable] = None,
             threads: Optional[int] = None,
             example_input: Union[torch.Tensor, Sequence[int], None] = None,
             fixed_ratios: Optional[bool] = None,
             unshuffle_lite: Optional[bool] = None) -> nn.Module:
    """An inference copy of ``model`` run by ``backend`` in ``dtype``; the model itself is
    never changed.

    ``'eager'`` and ``'inductor'`` run PyTorch on a copy with batch norms folded, exchange
    units merged and channels-last layout (``'inductor'``: ``torch.compile`` with frozen
    weights). ``'onnxruntime'`` and ``'openvino'`` trace the rewritten copy to ONNX (dynamic
    batch, height and width) and run it in the runtime; int8 is static post-training
    quantisation calibrated on ``calibration`` (NNCF for OpenVINO, ONNX Runtime's quantizer).
    Each backend gets the rewrites that measured fastest for it (:func:`rewrites_for`); the
    ``fold_bn`` / ``merge_exchange`` / ``channels_last`` arguments override them.

    Args:
        model (nn.Module): An hrnet_mm backbone (optionally with neck/head in a Sequential or
            :class:`~hrnet_mm.export.BackboneWithNeck`), any tensor-in module, or a whole mm
            model: the runtimes run its ``_forward`` (pose heatmaps, segmentation logits),
            eager/inductor copy it as it is. It is copied, never changed.
        dtype (str | torch.dtype): ``'fp32'``, ``'bf16'`` or ``'int8'`` (``torch.float32`` /
            ``torch.bfloat16`` accepted). Allowed per backend: :data:`BACKEND_DTYPES`.
        channels_last (bool, optional): Channels-last layout (PyTorch backends).
        fold_bn (bool, optional): Fold batch norms into the preceding convolutions.
        merge_exchange (bool, optional): Merge the exchange units' projections and resampling
            (:class:`MergedExchangeHRModule`; needs ``fold_bn``).
        compile (bool): Old spelling of ``backend='inductor'``.
        backend (str, optional): ``'eager'`` (default), ``'inductor'``, ``'onnxruntime'`` or
            ``'openvino'``.
        calibration (iterable, optional): Input tensors ``(N, C, H, W)`` preprocessed like the
            real inputs; required for int8 (a few dozen real crops are plenty).
        threads (int, optional): Threads of the backend (ONNX Runtime intra-op threads with one
            inter-op thread; OpenVINO ``INFERENCE_NUM_THREADS``; PyTorch set per call);
            default ``torch.get_num_threads()`` at optimisation time.
        example_input (Tensor | shape, optional): Runtimes: the input traced to ONNX (default
            the first calibration sample, else the first call's input). Any other size works
            afterwards.
        fixed_ratios (bool, optional): Runtimes: a second graph with fixed resampling ratios
            for sizes divisible by 32 (:mod:`.runtime`).
        unshuffle_lite (bool, optional): Runtimes: Lite-HRNet without channel shuffles
            (:mod:`.lite_unshuffle`; needs ``fold_bn``).

    Returns:
        A module-like callable: tensors in (fp32, NCHW), the model's output structure out, fp32.
        :class:`OptimizedModel` for eager/inductor, :class:`~.runtime.RuntimeModel` otherwise.

    Warns:
        SlowDtypeWarning: bf16 on a CPU without AVX512-BF16 or AMX (once per process).
        UserWarning: int8 on a Lite-HRNet with the official fusion (:data:`LITE_INT8_WARNING`).

    Raises:
        ValueError: an unknown backend or dtype, a pair the backend does not run (the message
            lists the allowed pairs), int8 without ``calibration``.
        BackendUnavailableError: the backend's package is missing (names the pip command).

    Example:
        >>> import torch
        >>> from hrnet_mm.models import HRNet
        >>> model = HRNet('w18_small_v1').eval()
        >>> fast = optimize(model)
        >>> x = torch.rand(1, 3, 64, 48)
        >>> max((a - b).abs().max().item() for a, b in zip(model(x), fast(x))) < 1e-4
        True
    """
    if backend is None:
        backend = 'inductor' if compile else 'eager'
    elif compile and backend != 'inductor':
        raise ValueError(f"compile=True means backend='inductor'; got backend={backend!r}")
    backend, dtype_name = check_backend_dtype(backend, dtype)
    warn_if_bf16_is_slow(dtype_name)  # once per process, on a CPU without AVX512-BF16 / AMX
    threads_given = threads is not None
    if threads is None:
        threads = torch.get_num_threads()
    elif not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f'threads must be a positive int or None, got {threads!r}')
    chosen = rewrites_for(backend, dtype_name)
    fold_bn = chosen.fold_bn if fold_bn is None else fold_bn
    merge_exchange = chosen.merge_exchange if merge_exchange is None else merge_exchange
    channels_last = chosen.channels_last if channels_last is None else channels_last
    if merge_exchange and not fold_bn:
        merge_exchange = False  # the merged convs need the fuse-layer norms folded
    if backend in ('eager', 'inductor'):
        torch_dtype = torch.bfloat16 if dtype_name == 'bf16' else torch.float32
        fast = _optimize_torch(model, torch_dtype, channels_last, fold_bn, merge_exchange,
                               backend == 'inductor')
        return _TorchThreads(fast, threads) if threads_given else fast
    unshuffle_lite = chosen.unshuffle_lite if unshuffle_lite is None else unshuffle_lite
    return _optimize_runtime(model, backend, dtype_name, fold_bn, merge_exchange,
                             chosen.fixed_ratios if fixed_ratios is None else fixed_ratios,
                             threads, calibration, example_input, fold_bn and unshuffle_lite)


def _optimize_torch(model: nn.Module, dtype: torch.dtype, channels_last: bool, fold_bn: bool,
                    merge_exchange: bool, compile: bool) -> OptimizedModel:
    module = copy.deepcopy(model)
    module.eval()  # not chained: mm's HRNet.train() returns None
    if fold_bn:
        fold_batch_norms(module)
    if merge_exchange:
        merge_exchange_units(module)
    module = module.to(dtype=dtype)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    for p in module.parameters():
        p.requires_grad_(False)
    if compile:
        module = torch.compile(module, dynamic=False, options={'freezing': True})
    return OptimizedModel(module, dtype, channels_last)


#: Why int8 Lite-HRNet (official fusion) is inaccurate; measured on the benchmark's models fitted
#: to the COCO sample (docs/benchmark.md, peers; the figures vary with the CPU).
LITE_INT8_WARNING = (
    "int8 on Lite-HRNet with the official fusion: it counts stream 0 twice in every module, so "
    "stream 0 doubles module after module (a Lite-HRNet-30 fitted to the COCO sample reaches "
    "8e4 against ~1-100 elsewhere), and per-tensor int8 activations cannot resolve the other "
    "streams added to it. Measured argmax within 1 heatmap px of fp32 (docs/fast.md): "
    "Lite-HRNet-18 96-99% (OpenVINO), 64-84% (ONNX Runtime); Lite-HRNet-30 below 5% on both: "
    "unusable. Check the accuracy on your data, or use dtype='bf16' on a CPU with AVX512-BF16 "
    "or AMX (100%, and faster than int8 on Lite-HRNet), else dtype='fp32'.")


def _lite_hrnets(model: nn.Module) -> list:
    """The Lite-HRNet backbones in ``model`` (ours or mmpose's)."""
    return [m for m in model.modules() if type(m).__name__ == 'LiteHRNet']


def _optimize_runtime(model: nn.Module, backend: str, dtype: str, fold_bn: bool,
                      merge_exchange: bool, fixed_ratios: bool, threads: int, calibration,
                      example_input, unshuffle_lite: bool = False):
    from ..export import divisible_for_fixed_ratios
    from .runtime import RuntimeModel, example_from, prepared_copy, temp_onnx_dir, trace_to_onnx
    require(backend)
    arrays = None
    lite = _lite_hrnets(model)
    if dtype == 'int8':
        from .quantize import calibration_arrays
        arrays = calibration_arrays(calibration)
        if backend == 'openvino':
            require('nncf', "int8 on the 'openvino' backend (NNCF)")
        if any(getattr(m, 'fuse', 'official') == 'official' for m in lite):
            warnings.warn(LITE_INT8_WARNING, stacklevel=3)
    # asymmetric activations: Lite-HRNet-18 int8 within 1 px 89% -> 99% (W32: same accuracy
    # and speed either way; docs/notes/fast_engineering.md)
    int8_preset = 'mixed' if lite else 'performance'
    module = prepared_copy(model, fold_bn, merge_exchange, unshuffle_lite)
    attrs = {a: getattr(model, a) for a in ('out_channels', 'out_strides') if hasattr(model, a)}
    if fixed_ratios and arrays is not None:
        # the fixed-ratio graph is calibrated on its own kind of input: sizes divisible by 32
        fixed_ratios = all(divisible_for_fixed_ratios(a.shape) for a in arrays)

    def build(example: torch.Tensor, variant: str):
        with temp_onnx_dir() as tmp:
            path = os.path.join(tmp, 'model.onnx')
            spec, _ = trace_to_onnx(module, example, path, fixed_ratios=variant == 'static')
            if backend == 'onnxruntime':
                from .ort_backend import build_ort
                run = build_ort(path, dtype, threads, arrays)
            else:
                from .openvino_backend import build_openvino
                run = build_openvino(path, dtype, threads, arrays, int8_preset)
        return run, spec

    example = example_from(example_input, arrays)
    return RuntimeModel(build, backend, dtype, threads, example, attrs,
                        static_variant=fixed_ratios)


def quantize(model: nn.Module, calibration: Iterable, backend: str = 'openvino',
             threads: Optional[int] = None, **kwargs) -> nn.Module:
    """int8 copy of ``model`` on ``backend``, calibrated on ``calibration``: the same as
    ``optimize(model, dtype='int8', backend=backend, calibration=calibration, ...)``.

    Args:
        model (nn.Module): A backbone (+ neck), a tensor-in module or an mm model.
        calibration (iterable): Input tensors ``(N, C, H, W)`` preprocessed like real inputs.
        backend (str): ``'openvino'`` (NNCF, default) or ``'onnxruntime'``.
        threads (int, optional): Runtime threads (default ``torch.get_num_threads()``).
        **kwargs: Passed to :func:`~hrnet_mm.fast.optimize`.

    Returns:
        A module-like callable with fp32 outputs.

    Example:
        >>> import torch
        >>> from hrnet_mm.models import HRNet
        >>> model = HRNet('w18_small_v1').eval()
        >>> calibration = [torch.randn(2, 3, 64, 48) for _ in range(4)]
        >>> fast = quantize(model, calibration, backend='onnxruntime', threads=1)
        >>> [tuple(f.shape) for f in fast(torch.randn(1, 3, 97, 75))][0]
        (1, 16, 25, 19)
    """
    return optimize(model, dtype='int8', backend=backend, calibration=calibration,
                    threads=threads, **kwargs)
