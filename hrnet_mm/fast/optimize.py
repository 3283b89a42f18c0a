"""The inference entry point: :func:`optimize` returns an optimised copy of a model."""
import copy

import torch
import torch.nn as nn

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


def optimize(model: nn.Module, dtype: torch.dtype = torch.float32, channels_last: bool = True,
             fold_bn: bool = True, merge_exchange: bool = True,
             compile: bool = False) -> OptimizedModel:
    """An inference copy of ``model``: BN folded, exchange units merged, channels-last,
    optional bf16 and ``torch.compile``.

    Args:
        model (nn.Module): An hrnet_mm backbone (optionally with neck/head in a Sequential), a
            whole toolbox model wrapped to take a tensor, or any module; it is copied, never
            changed.
        dtype (torch.dtype): ``torch.float32`` or ``torch.bfloat16``.
        channels_last (bool): Use the channels-last memory layout (faster oneDNN kernels).
        fold_bn (bool): Fold batch norms into the preceding convolutions.
        merge_exchange (bool): Merge the exchange units' projections and resampling
            (:class:`MergedExchangeHRModule`; needs ``fold_bn``).
        compile (bool): Also ``torch.compile`` the module with inductor and frozen weights
            (``freezing=True``: constant folding, oneDNN weight prepacking, conv + add + ReLU
            fusion); the first call compiles (tens of seconds on a small CPU, cached on disk
            afterwards), a new input shape compiles again.

    Returns:
        OptimizedModel: call it like the original; outputs are fp32.

    Example:
        >>> import torch
        >>> from hrnet_mm.models import HRNet
        >>> model = HRNet('w18_small_v1').eval()
        >>> fast = optimize(model)
        >>> x = torch.rand(1, 3, 64, 48)
        >>> max((a - b).abs().max().item() for a, b in zip(model(x), fast(x))) < 1e-4
        True
    """
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f'dtype must be torch.float32 or torch.bfloat16, got {dtype}')
    if merge_exchange and not fold_bn:
        merge_exchange = False  # the merged convs need the fuse-layer norms folded
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
