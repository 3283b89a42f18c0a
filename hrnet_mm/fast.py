"""Inference-time optimisation and memory-saving training for the HRNet family.

:func:`optimize` returns an inference copy of a model with every batch norm folded into the
convolution before it, the exchange units' resampling merged (one 1x1 projection per source
stream, and for nearest upsampling the lower streams summed hierarchically before a single
upsampling step), weights and activations in ``channels_last`` layout, optionally bfloat16
weights and optionally ``torch.compile`` (inductor with frozen weights). fp32 outputs stay
within 1e-4 of the plain model; bf16 trades precision for about 2x on CPUs with
AVX512-BF16/AMX.

:func:`enable_memory_saving` switches a training model to activation checkpointing (per HR
module and exchange unit, or per residual unit) with identical outputs, gradients and batch-norm
running statistics.

``tools/benchmark.py`` measures all of it against the mm toolboxes' own models
(``docs/benchmark.md``).
"""
import copy
import types
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from .models.blocks import _ResidualUnit
from .models.hrnet import HRModule

MEMORY_SAVING_GRANULARITIES = ('module', 'unit')


# --------------------------------------------------------------------------- BN folding

def fold_conv_bn(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold ``bn`` (eval statistics) into ``conv`` in place: ``bn(conv(x)) == conv'(x)``."""
    if conv.out_channels != bn.num_features:
        raise ValueError(f'cannot fold a norm of {bn.num_features} features into a conv with '
                         f'{conv.out_channels} outputs')
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
            1 / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias if bn.affine else 0) - bn.running_mean * scale
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.bias = nn.Parameter(bias.detach().clone())


def _is_foldable_bn(m: nn.Module) -> bool:
    return (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            and m.running_mean is not None)


def _fold_named(module: nn.Module, conv: Optional[nn.Module], norm_name: Optional[str]) -> int:
    """Fold ``module.<norm_name>`` into ``conv`` and replace it with ``nn.Identity`` when both
    exist and the norm is foldable; returns the number folded (0 or 1)."""
    if not isinstance(conv, nn.Conv2d) or not isinstance(norm_name, str):
        return 0
    bn = getattr(module, norm_name, None)
    if not _is_foldable_bn(bn):
        return 0
    fold_conv_bn(conv, bn)
    setattr(module, norm_name, nn.Identity())
    return 1


def _fold_mmcv_conv_module(module: nn.Module) -> int:
    """mmcv's ``ConvModule`` (toolbox heads, mm backbones): conv, then ``norm_name``."""
    order = tuple(getattr(module, 'order', ('conv', 'norm', 'act')))
    if order.index('norm') != order.index('conv') + 1:
        return 0
    return _fold_named(module, getattr(module, 'conv', None), getattr(module, 'norm_name', None))


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every conv -> batch norm pair whose order is fixed by the module structure
    (``nn.Sequential`` neighbours, ``convK``/``normK_name`` of residual units and the stem,
    mmcv ``ConvModule``) and replace the norm with ``nn.Identity``. Returns the number of
    folded norms. The model must be in eval mode."""
    if model.training:
        raise ValueError('fold_batch_norms needs a model in eval mode (it uses running stats)')
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and _is_foldable_bn(bn):
                    fold_conv_bn(conv, bn)
                    module._modules[b] = nn.Identity()
                    folded += 1
        elif hasattr(module, 'norm1_name'):  # residual units and the HRNet stem
            for k in (1, 2, 3):
                folded += _fold_named(module, getattr(module, f'conv{k}', None),
                                      getattr(module, f'norm{k}_name', None))
        elif hasattr(module, 'norm_name') and hasattr(module, 'conv'):
            folded += _fold_mmcv_conv_module(module)
    return folded


# --------------------------------------------------------------------------- exchange units

def _plain_conv(seq: nn.Module) -> Optional[nn.Conv2d]:
    """The conv of a folded ``Sequential(conv, Identity[, ReLU])``, or None if not folded."""
    if not isinstance(seq, nn.Sequential) or not isinstance(seq[0], nn.Conv2d):
        return None
    if len(seq) > 1 and not isinstance(seq[1], nn.Identity):
        return None
    return seq[0]


def _stack_convs(convs: Sequence[nn.Conv2d]) -> nn.Conv2d:
    """One conv computing ``convs`` (same input, kernel and stride) side by side."""
    first = convs[0]
    merged = nn.Conv2d(first.in_channels, sum(c.out_channels for c in convs),
                       first.kernel_size, first.stride, first.padding, bias=True)
    with torch.no_grad():
        merged.weight.copy_(torch.cat([c.weight for c in convs]))
        merged.bias.copy_(torch.cat([c.bias if c.bias is not None
                                     else torch.zeros(c.out_channels) for c in convs]))
    return merged.to(first.weight.dtype)


def _add_upsampled2(y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``y += nearest_upsample_x2(u)`` in place, without materialising the upsampled tensor."""
    h, w = u.shape[-2:]
    y.unflatten(-1, (w, 2)).unflatten(-3, (h, 2)).add_(u[:, :, :, None, :, None])
    return y


class MergedExchangeHRModule(nn.Module):
    """Inference form of a (BN-folded) :class:`~hrnet_mm.models.hrnet.HRModule`: same outputs,
    less exchange-unit work.

    * The 1x1 projections that bring stream ``j`` up to every higher resolution are one conv
      (their weights stacked), and the first strided 3x3 conv of every downsampling chain that
      starts at stream ``j`` is one conv too.
    * With nearest upsampling and exact 2x size ratios (inputs divisible by 32), the
      projected lower streams are summed from the lowest resolution up, one 2x step at a time
      (``up4(a) + up2(b) == up2(up2(a) + b)`` exactly for nearest), and each step is a
      broadcast add into the higher-resolution sum, so no upsampled tensor is materialised.
      Other resampling (mmseg's bilinear) upsamples each term directly, as the original does.

    Args:
        module (HRModule): A module whose fuse-layer norms have been folded (``fold_batch_norms``).
    """

    def __init__(self, module: HRModule):
        super().__init__()
        self.branches = module.branches
        self.upsample = module.upsample
        self.num_branches = n = module.num_branches
        self.out_channels = module.out_channels
        fuse = module.fuse_layers
        self.num_outputs = m = len(fuse)
        ch = module.out_channels
        self.up_splits: List[List[int]] = []
        up_proj = []
        for j in range(n):
            targets = [i for i in range(min(j, m))]
            self.up_splits.append([ch[i] for i in targets])
            up_proj.append(_stack_convs([_plain_conv(fuse[i][j]) for i in targets])
                           if targets else nn.Identity())
        self.up_proj = nn.ModuleList(up_proj)
        self.down_splits: List[List[int]] = []
        down_first, down_rest = [], nn.ModuleDict()
        for j in range(n):
            targets = list(range(j + 1, m))
            firsts = [_plain_conv(fuse[i][j][0]) for i in targets]
            self.down_splits.append([c.out_channels for c in firsts])
            down_first.append(_stack_convs(firsts) if targets else nn.Identity())
            for i in targets:
                down_rest[f'{i}_{j}'] = nn.Sequential(*list(fuse[i][j])[1:])
        self.down_first = nn.ModuleList(down_first)
        self.down_rest = down_rest

    @staticmethod
    def can_merge(module: nn.Module) -> bool:
        """True for an :class:`HRModule` with an exchange unit whose norms are all folded."""
        if not isinstance(module, HRModule) or module.fuse_layers is None:
            return False
        for i, row in enumerate(module.fuse_layers):
            for j, layer in enumerate(row):
                if j > i and _plain_conv(layer) is None:
                    return False
                if j < i and any(_plain_conv(step) is None for step in layer):
                    return False
        return True

    def _hierarchical(self, x: List[torch.Tensor]) -> bool:
        if self.upsample.mode != 'nearest' or torch.jit.is_tracing():
            return False
        return all(x[j - 1].shape[-2] == 2 * x[j].shape[-2]
                   and x[j - 1].shape[-1] == 2 * x[j].shape[-1] for j in range(1, len(x)))

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        n, m = self.num_branches, self.num_outputs
        ups = [torch.split(self.up_proj[j](x[j]), self.up_splits[j], dim=1) if j else ()
               for j in range(n)]
        downs = [[] for _ in range(m)]
        for j in range(n):
            if not self.down_splits[j]:
                continue
            firsts = torch.split(self.down_first[j](x[j]), self.down_splits[j], dim=1)
            for i, t in zip(range(j + 1, m), firsts):
                if i > j + 1:
                    t = self.down_rest[f'{i}_{j}'](t.relu_())
                downs[i].append(t)
        # Every projection has been computed: the branch outputs and the projected slices
        # are read once more below, so the sums can be accumulated in place (inference only).
        hierarchical = self._hierarchical(x)
        out = []
        for i in range(m):
            y = x[i]
            for t in downs[i]:
                y = y.add_(t)
            if hierarchical:
                u = None
                for j in range(n - 1, i, -1):
                    u = ups[j][i] if u is None else _add_upsampled2(ups[j][i], u)
                if u is not None:
                    y = _add_upsampled2(y, u)
            else:
                for j in range(i + 1, n):
                    y = y.add_(self.upsample(ups[j][i], x[i].shape[-2:], 2 ** (j - i)))
            out.append(y.relu_())
        return out


def merge_exchange_units(model: nn.Module) -> int:
    """Replace every BN-folded :class:`HRModule` in ``model`` by a
    :class:`MergedExchangeHRModule` (in place); returns how many were replaced."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if MergedExchangeHRModule.can_merge(child):
                parent._modules[name] = MergedExchangeHRModule(child)
                count += 1
    return count


# --------------------------------------------------------------------------- optimize

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


# --------------------------------------------------------------------------- memory saving

@contextmanager
def _frozen_norm_stats(module: nn.Module) -> Iterator[None]:
    """Batch norms of ``module`` normalise with batch statistics but leave their running
    statistics untouched (for the recomputation of a checkpointed segment, so that the
    statistics are updated once per step, as without checkpointing)."""
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training \
                and m.track_running_stats and m.running_mean is not None:
            saved.append((m, m.momentum, m.num_batches_tracked.clone()
                          if m.num_batches_tracked is not None else None))
            # momentum 0: running = 1 * running + 0 * batch, bit for bit unchanged
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def _checkpointed_forward(self: nn.Module, *args):
    """Forward of a checkpointed segment: activations inside are recomputed in backward."""
    plain = type(self).forward
    if not (self.training and torch.is_grad_enabled()):
        return plain(self, *args)
    calls = []

    def run(*inputs):
        calls.append(None)
        if len(calls) == 1:
            return plain(self, *inputs)
        with _frozen_norm_stats(self):
            return plain(self, *inputs)

    return cp.checkpoint(run, *args, use_reentrant=False)


def set_with_cp(model: nn.Module, value: bool) -> int:
    """Set every mm-style ``with_cp`` switch in ``model``; returns how many there are."""
    switches = [m for m in model.modules() if isinstance(getattr(m, 'with_cp', None), bool)]
    for m in switches:
        m.with_cp = value
    return len(switches)


def _checkpoint(module: nn.Module) -> None:
    set_with_cp(module, False)  # checkpointed from outside: no nested recomputation
    module.forward = types.MethodType(_checkpointed_forward, module)


def _segments(model: nn.Module, granularity: str) -> List[nn.Module]:
    """The modules to checkpoint, outermost first, none inside another."""
    from .models.lite_hrnet import ConditionalChannelWeighting, LiteHRModule, ShuffleUnit, Stem
    if granularity == 'module':
        kinds = (HRModule, LiteHRModule, _ResidualUnit, Stem)
    else:
        kinds = (_ResidualUnit, ConditionalChannelWeighting, ShuffleUnit, Stem)
    chosen: List[nn.Module] = []

    def visit(m: nn.Module) -> None:
        if isinstance(m, kinds):
            chosen.append(m)
            return
        for child in m.children():
            visit(child)

    visit(model)
    return chosen


def enable_memory_saving(model: nn.Module, granularity: str = 'module') -> nn.Module:
    """Turn on activation checkpointing in ``model`` (in place); returns ``model``.

    Outputs, gradients and batch-norm running statistics are identical to the plain model's
    (the recomputation in backward leaves the running statistics alone, unlike mm's
    ``with_cp``). State-dict keys do not change.

    Args:
        model (nn.Module): A model containing hrnet_mm backbones (or any module with mm-style
            ``with_cp`` switches, which are turned on instead).
        granularity (str): ``'module'`` stores only the inputs of each HR module (branches and
            exchange unit together) and of each residual unit outside them (stage 1), and
            recomputes the rest in backward; ``'unit'`` checkpoints every residual unit /
            Lite-HRNet block, as mm's ``with_cp`` does, which keeps the exchange units'
            activations.

    Example:
        >>> import torch
        >>> from hrnet_mm.models import HRNet
        >>> model = enable_memory_saving(HRNet('w18_small_v1'))
        >>> sum(o.sum() for o in model(torch.rand(1, 3, 64, 48))).backward()
    """
    if granularity not in MEMORY_SAVING_GRANULARITIES:
        raise ValueError(f'granularity must be one of {MEMORY_SAVING_GRANULARITIES}, '
                         f'got {granularity!r}')
    segments = _segments(model, granularity)
    for m in segments:
        _checkpoint(m)
    count = len(segments) or set_with_cp(model, True)  # foreign models: their own switches
    if count == 0:
        raise ValueError(f'{type(model).__name__} has no module that supports checkpointing')
    return model


def apply_memory_saving(model: nn.Module, memory_saving: Optional[str], owner: str) -> None:
    """The backbones' ``memory_saving=`` argument: None (off), ``'module'`` or ``'unit'``
    (:func:`enable_memory_saving`); a bad value raises ``ValueError`` naming ``owner``."""
    if memory_saving is None:
        return
    if memory_saving not in MEMORY_SAVING_GRANULARITIES:
        raise ValueError(f'{owner}: memory_saving must be None or one of '
                         f'{MEMORY_SAVING_GRANULARITIES}, got {memory_saving!r}')
    enable_memory_saving(model, memory_saving)
