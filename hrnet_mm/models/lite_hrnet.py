"""Lite-HRNet backbone (Yu et al., CVPR 2021), for pose, segmentation and detection.

The network keeps mmpose's ``LiteHRNet`` module names, so mmpose and official Lite-HRNet
checkpoints load with ``strict=True`` (after stripping the ``backbone.`` prefix), and gives the
same numbers with the same weights. On top of mmpose it offers all four output streams (for
``HRNetV2Neck`` / ``HRNetV2pNeck``), any input size, ``frozen_stages``, a working ``with_cp``,
``train()`` returning ``self``, and ONNX-exportable pooling.

Two facts about the published numbers:

* **The fusion quirk.** The official fusion starts the sum of stream 0 from ``out[0]`` and then
  loops over every ``j`` from 0, adding in place: stream 0 becomes ``x0' = 2 * x0 + sum_j
  F_0j(x_j)``, and since the in-place add also overwrites ``out[0]``, every other stream reads
  ``x0'`` (not ``x0``) through ``F_i0``, twice: ``y_i = 2 * F_i0(x0') + ...``. The released
  weights were trained that way (the official comment says removing it costs 0.5-1 AP), so
  ``fuse='official'`` keeps it (default) and ``fuse='corrected'`` offers the usual HRNet sum
  ``y_i = sum_j F_ij(x_j)`` for training from scratch. Here ``F_i0(x0')`` is computed once and
  doubled (``f + f``: bit-identical to the official two calls, and fewer multiply-adds).
* **FLOP units.** The paper's 273.4M (Lite-HRNet-18) and 425.3M (Lite-HRNet-30) at 256x256 are
  torchstat counts divided by 2**20, and torchstat keeps only the last call of a module, so the
  second ``F_i0`` call of the quirk is missing. The multiply-adds of conv and linear layers of
  the official computation (both calls, in units of 10**6, backbone with the iterative head)
  are 240.3M / 320.3M (Lite-HRNet-18, 256x192 / 256x256) and 384.0M / 512.0M (Lite-HRNet-30).
  This implementation, computing ``F_i0(x0')`` once, needs fewer (see ``docs/lite_hrnet.md``).
"""
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from ..registry import MODELS
from .blocks import ConvModule, build_norm, check_norm_cfg, is_norm
from .checkpointing import apply_memory_saving
from .lite_arch import LiteHRNetArch, resolve_lite_arch
from .validation import check_flag, check_input

OUT_STREAMS = ('all', 'first')
FUSE_MODES = ('official', 'corrected')

# mmpose's default initialisation of LiteHRNet, used when init_cfg is None.
_DEFAULT_INIT_CFG = [
    dict(type='Normal', std=0.001, layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups (ShuffleNet)."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, c, h, w)


def pool_to_size(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Average-pool ``x`` to ``size``, as ``F.adaptive_avg_pool2d(x, size)`` does.

    When the size divides exactly (the case for inputs divisible by 32) this is a plain
    ``avg_pool2d`` whose kernel and stride are Python ints, which ONNX exports as a fixed
    AveragePool. The kernel is the ratio between two streams' sizes, the same for every input
    size divisible by 32, so one export with dynamic height and width serves all of them.
    mmpose's ``adaptive_avg_pool2d(x, x_last.size()[-2:])`` does not export in that case
    ("output_size is not constant"; Lite-HRNet#3). Other sizes fall back to adaptive pooling.

    Example:
        >>> x = torch.rand(1, 2, 8, 6)
        >>> torch.allclose(pool_to_size(x, (2, 3)), F.adaptive_avg_pool2d(x, (2, 3)))
        True
    """
    if torch.jit.is_tracing():
        # ONNX export: the Python size arithmetic below would freeze the example input's
        # sizes into the graph; the averaging-matrix form is adaptive pooling for any size.
        return _adaptive_avg_pool_matmul(x, size)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    out_h, out_w = int(size[0]), int(size[1])
    if h % out_h == 0 and w % out_w == 0:
        kernel = (h // out_h, w // out_w)
        if kernel == (1, 1):
            return x
        return F.avg_pool2d(x, kernel, kernel)
    return F.adaptive_avg_pool2d(x, (out_h, out_w))


def _averaging_matrix(n_in, n_out, like: torch.Tensor) -> torch.Tensor:
    """``(n_out, n_in)`` matrix whose row ``i`` averages bin ``i`` of adaptive pooling.

    Bin ``i`` is ``[floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out))``; ``j`` is inside
    it iff ``(j + 1) * n_out > i * n_in`` and ``j * n_out < (i + 1) * n_in`` (no division, so
    few ONNX nodes).
    """
    i = torch.arange(n_out, device=like.device)[:, None]
    j = torch.arange(n_in, device=like.device)[None, :]
    inside = ((j + 1) * n_out > i * n_in) & (j * n_out < (i + 1) * n_in)
    weights = inside.to(like.dtype)
    return weights / weights.sum(dim=1, keepdim=True)


def _adaptive_avg_pool_matmul(x: torch.Tensor, size: Sequence) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, size)`` as two matrix products (exports with dynamic sizes).

    Example:
        >>> x = torch.rand(1, 2, 25, 19)
        >>> torch.allclose(_adaptive_avg_pool_matmul(x, (4, 3)), F.adaptive_avg_pool2d(x, (4, 3)))
        True
    """
    rows = _averaging_matrix(x.shape[-2], size[0], x)
    cols = _averaging_matrix(x.shape[-1], size[1], x)
    return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def _conv_module(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, norm_cfg: Optional[dict] = None,
                 act: Optional[str] = 'relu') -> ConvModule:
    """mmcv-keyed conv (bias only without norm) -> norm -> ReLU / Sigmoid / nothing."""
    module = ConvModule(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                        groups=groups, norm_cfg=norm_cfg, act=act == 'relu')
    if act == 'sigmoid':
        module.add_module('activate', nn.Sigmoid())
    return module


def _dw_pw(in_channels: int, out_channels: int, stride: int, norm_cfg: dict,
           relu: bool) -> nn.Sequential:
    """Depthwise-separable 3x3: ``Sequential(dw conv, norm, pw conv, norm[, ReLU])`` with
    indexed children (the official key layout of transitions and fusions)."""
    layers = [nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
              build_norm(norm_cfg, in_channels)[1],
              nn.Conv2d(in_channels, out_channels, 1, bias=False),
              build_norm(norm_cfg, out_channels)[1]]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _run(module: nn.Module, fn, with_cp: bool, *xs: torch.Tensor):
    """``fn(*xs)``, recomputed in backward when ``with_cp`` and gradients are recorded.

    Non-reentrant checkpointing works for list-valued blocks and for inputs that do not
    require grad (mmpose's ``x.requires_grad`` check fails on the lists of the weighting block).
    As with any checkpointed BN network, BN running statistics are updated again during the
    recomputation.
    """
    if with_cp and module.training and torch.is_grad_enabled():
        return cp.checkpoint(fn, *xs, use_reentrant=False)
    return fn(*xs)


class SpatialWeighting(nn.Module):
    """Per-stream channel weights from its own global context: GAP, FC-ReLU-FC-sigmoid.

    Args:
        channels (int): Channels of the stream.
        ratio (int): Reduction of the hidden FC layer.
    """

    def __init__(self, channels: int, ratio: int = 4):
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = _conv_module(channels, int(channels / ratio), 1, act='relu')
        self.conv2 = _conv_module(int(channels / ratio), channels, 1, act='sigmoid')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class CrossResolutionWeighting(nn.Module):
    """Channel weights of every stream computed from all streams at once.

    Every stream is average-pooled to the size of the smallest one, the concatenation goes
    through 1x1-ReLU-1x1-sigmoid, and each stream is multiplied by its weights upsampled
    (nearest) back to its size.

    Args:
        channels (Sequence[int]): Channels of each stream.
        ratio (int): Reduction of the hidden 1x1 conv.
        norm_cfg (dict): Norm after each 1x1 conv.
    """

    def __init__(self, channels: Sequence[int], ratio: int, norm_cfg: dict):
        super().__init__()
        self.channels = list(channels)
        total = sum(self.channels)
        self.conv1 = _conv_module(total, int(total / ratio), 1, norm_cfg=norm_cfg, act='relu')
        self.conv2 = _conv_module(int(total / ratio), total, 1, norm_cfg=norm_cfg,
                                  act='sigmoid')

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        mini_size = x[-1].shape[-2:]
        pooled = [pool_to_size(s, mini_size) for s in x[:-1]] + [x[-1]]
        weights = self.conv2(self.conv1(torch.cat(pooled, dim=1)))
        weights = torch.split(weights, self.channels, dim=1)
        return [s * F.interpolate(a, size=s.shape[-2:], mode='nearest')
                for s, a in zip(x, weights)]


class ConditionalChannelWeighting(nn.Module):
    """The Lite-HRNet block: on one half of each stream's channels, cross-resolution weighting,
    a 3x3 depthwise conv and spatial weighting; the other half passes; then channel shuffle.

    Args:
        in_channels (Sequence[int]): Channels of each stream.
        reduce_ratio (int): Reduction of the cross-resolution weighting.
        norm_cfg (dict): Norm config.
        with_cp (bool): Recompute the block in backward to save memory.
    """

    checkpoint_segment = ('unit',)  # memory saving: see models/checkpointing.py

    def __init__(self, in_channels: Sequence[int], reduce_ratio: int, norm_cfg: dict,
                 with_cp: bool = False):
        super().__init__()
        self.with_cp = with_cp
        half = [c // 2 for c in in_channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(half, reduce_ratio,
                                                                   norm_cfg)
        self.depthwise_convs = nn.ModuleList([
            _conv_module(c, c, 3, groups=c, norm_cfg=norm_cfg, act=None) for c in half])
        self.spatial_weighting = nn.ModuleList([SpatialWeighting(c, ratio=4) for c in half])

    def _inner(self, *x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        halves = [s.chunk(2, dim=1) for s in x]
        x2 = self.cross_resolution_weighting([h[1] for h in halves])
        x2 = [sw(dw(s)) for s, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting)]
        return tuple(channel_shuffle(torch.cat([h[0], s], dim=1), 2)
                     for h, s in zip(halves, x2))

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        return list(_run(self, self._inner, self.with_cp, *x))


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit with stride 1 (the block of the naive Lite-HRNet): half the channels
    go through 1x1-dw3x3-1x1, the other half passes, then channel shuffle.

    Args:
        channels (int): Input and output channels (even).
        norm_cfg (dict): Norm config.
        with_cp (bool): Recompute the unit in backward to save memory.
    """

    checkpoint_segment = ('unit',)  # memory saving: see models/checkpointing.py

    def __init__(self, channels: int, norm_cfg: dict, with_cp: bool = False):
        super().__init__()
        self.with_cp = with_cp
        half = channels // 2
        self.branch2 = nn.Sequential(
            _conv_module(half, half, 1, norm_cfg=norm_cfg, act='relu'),
            _conv_module(half, half, 3, groups=half, norm_cfg=norm_cfg, act=None),
            _conv_module(half, half, 1, norm_cfg=norm_cfg, act='relu'))

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((x1, self.branch2(x2)), dim=1), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self, self._inner, self.with_cp, x)


class Stem(nn.Module):
    """3x3 stride-2 conv, then a stride-2 shuffle block: the input at 1/4 resolution.

    Args:
        in_channels (int): Image channels.
        stem_channels (int): Width of the first conv.
        out_channels (int): Output width.
        expand_ratio (float): Expansion of the inverted-residual branch.
        norm_cfg (dict): Norm config.
        with_cp (bool): Recompute the stem in backward to save memory.
    """

    checkpoint_segment = ('module', 'unit')  # memory saving: see models/checkpointing.py

    def __init__(self, in_channels: int, stem_channels: int, out_channels: int,
                 expand_ratio: float, norm_cfg: dict, with_cp: bool = False):
        super().__init__()
        self.out_channels = out_channels
        self.with_cp = with_cp
        mid_channels = int(round(stem_channels * expand_ratio))
        branch_channels = stem_channels // 2
        if stem_channels == out_channels:
            inc_channels = out_channels - branch_channels
            linear_out = branch_channels
        else:
            inc_channels = out_channels - stem_channels
            linear_out = stem_channels
        self.conv1 = _conv_module(in_channels, stem_channels, 3, stride=2, norm_cfg=norm_cfg)
        self.branch1 = nn.Sequential(
            _conv_module(branch_channels, branch_channels, 3, stride=2, groups=branch_channels,
                         norm_cfg=norm_cfg, act=None),
            _conv_module(branch_channels, inc_channels, 1, norm_cfg=norm_cfg))
        self.expand_conv = _conv_module(branch_channels, mid_channels, 1, norm_cfg=norm_cfg)
        self.depthwise_conv = _conv_module(mid_channels, mid_channels, 3, stride=2,
                                           groups=mid_channels, norm_cfg=norm_cfg, act=None)
        self.linear_conv = _conv_module(mid_channels, linear_out, 1, norm_cfg=norm_cfg)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return channel_shuffle(torch.cat((self.branch1(x1), x2), dim=1), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run(self, self._inner, self.with_cp, x)


class LiteHRModule(nn.Module):
    """Parallel streams (weighting blocks or shuffle blocks), then the multi-resolution fusion.

    Fusion ``F_ij`` brings stream ``j`` to stream ``i``: 1x1 conv + norm + nearest upsampling
    (to the exact size of stream ``i``) from lower resolutions, depthwise-separable stride-2
    convs from higher ones.

    Args:
        num_branches (int): Streams.
        num_blocks (int): Blocks.
        in_channels (Sequence[int]): Channels of each stream.
        reduce_ratio (int): Reduction of the cross-resolution weighting (``'LITE'``).
        module_type (str): ``'LITE'`` or ``'NAIVE'``.
        with_fuse (bool): Whether the fusion closes the module.
        fuse (str): ``'official'`` (stream 0 counted twice, see the module docstring) or
            ``'corrected'``.
        norm_cfg (dict): Norm config.
        with_cp (bool): Recompute blocks in backward to save memory.
    """

    checkpoint_segment = ('module',)  # memory saving: see models/checkpointing.py

    def __init__(self, num_branches: int, num_blocks: int, in_channels: Sequence[int],
                 reduce_ratio: int, module_type: str, with_fuse: bool = True,
                 fuse: str = 'official', norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False):
        super().__init__()
        self.in_channels = list(in_channels)
        self.num_branches = num_branches
        self.module_type = module_type
        # One stream: no fusion, and all blocks run (mmpose runs only the first one there).
        self.with_fuse = with_fuse and num_branches > 1
        self.fuse = fuse
        if module_type == 'LITE':
            self.layers = nn.Sequential(*[
                ConditionalChannelWeighting(self.in_channels, reduce_ratio, norm_cfg, with_cp)
                for _ in range(num_blocks)])
        else:
            self.layers = nn.ModuleList([
                nn.Sequential(*[ShuffleUnit(c, norm_cfg, with_cp) for _ in range(num_blocks)])
                for c in self.in_channels])
        if self.with_fuse:
            self.fuse_layers = self._make_fuse_layers(norm_cfg)
        # Not in place: the official fusion reads the pre-activation sum of stream 0 again.
        self.relu = nn.ReLU()

    def _make_fuse_layers(self, norm_cfg: dict) -> nn.ModuleList:
        channels = self.in_channels
        fuse_layers = []
        for i in range(self.num_branches):
            row = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(nn.Sequential(
                        nn.Conv2d(channels[j], channels[i], 1, bias=False),
                        build_norm(norm_cfg, channels[i])[1]))
                elif j == i:
                    row.append(nn.Identity())  # never called; mmpose stores None (no keys)
                else:
                    steps = [_dw_pw(channels[j], channels[j], 2, norm_cfg, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(_dw_pw(channels[j], channels[i], 2, norm_cfg, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def _transfer(self, i: int, j: int, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """``F_ij(x)``: stream ``j`` brought to the width and ``size`` of stream ``i``."""
        x = self.fuse_layers[i][j](x)
        if j > i:
            x = F.interpolate(x, size=size, mode='nearest')
        return x

    def _fuse_official(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        # Same additions in the same order as the official in-place loop, so the same bits.
        n = self.num_branches
        x0 = x[0] + x[0]
        for j in range(1, n):
            x0 = x0 + self._transfer(0, j, x[j], x[0].shape[-2:])
        out = [self.relu(x0)]
        for i in range(1, n):
            size = x[i].shape[-2:]
            f = self._transfer(i, 0, x0, size)  # computed once, added twice
            y = f + f
            for j in range(1, n):
                y = y + (x[j] if j == i else self._transfer(i, j, x[j], size))
            out.append(self.relu(y))
        return out

    def _fuse_corrected(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        out = []
        for i in range(self.num_branches):
            size = x[i].shape[-2:]
            y = x[0] if i == 0 else self._transfer(i, 0, x[0], size)
            for j in range(1, self.num_branches):
                y = y + (x[j] if j == i else self._transfer(i, j, x[j], size))
            out.append(self.relu(y))
        return out

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        if self.module_type == 'LITE':
            out = self.layers(list(x))
        else:
            out = [branch(s) for branch, s in zip(self.layers, x)]
        if not self.with_fuse:
            return out
        if self.fuse == 'official':
            return self._fuse_official(out)
        return self._fuse_corrected(out)


class _DepthwiseSeparable(nn.Module):
    """mmcv ``DepthwiseSeparableConvModule`` keys: 3x3 depthwise + norm, 1x1 + norm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict):
        super().__init__()
        self.depthwise_conv = _conv_module(in_channels, in_channels, 3, groups=in_channels,
                                           norm_cfg=norm_cfg, act=None)
        self.pointwise_conv = _conv_module(in_channels, out_channels, 1, norm_cfg=norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class IterativeHead(nn.Module):
    """From the lowest resolution up, each stream plus the (bilinearly upsampled, with
    ``align_corners=True``) result of the one below goes through a depthwise-separable conv to
    the width of the next higher stream; stream 0 keeps its width.

    Args:
        in_channels (Sequence[int]): Channels of each stream, highest resolution first.
        norm_cfg (dict): Norm config.
    """

    def __init__(self, in_channels: Sequence[int], norm_cfg: dict):
        super().__init__()
        rev = list(in_channels)[::-1]
        self.projects = nn.ModuleList([
            _DepthwiseSeparable(rev[i], rev[min(i + 1, len(rev) - 1)], norm_cfg)
            for i in range(len(rev))])

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        out = []
        last = None
        for s, project in zip(x[::-1], self.projects):
            if last is not None:
                s = s + F.interpolate(last, size=s.shape[-2:], mode='bilinear',
                                      align_corners=True)
            last = project(s)
            out.append(last)
        return out[::-1]


@MODELS.register_module()
class LiteHRNet(BaseModule):
    """Lite-HRNet backbone (`Lite-HRNet: A Lightweight High-Resolution Network
    <https://arxiv.org/abs/2104.06403>`_), keyed like mmpose's ``LiteHRNet``.

    Args:
        arch (str | LiteHRNetArch | dict, optional): ``'lite18'``, ``'lite30'``, ``'naive18'``,
            ``'wider_naive18'``, a :class:`~hrnet_mm.models.lite_arch.LiteHRNetArch`, or
            mmpose's ``extra`` dict (mmpose passes it as the first positional argument).
        extra (dict, optional): mmpose's / the official ``extra`` dict, unchanged (``stem``,
            ``num_stages``, ``stages_spec``, ``with_head``). Give ``arch`` or ``extra``.
        in_channels (int): Image channels.
        norm_cfg (dict): Norm config (``BN``, ``SyncBN``, ``GN`` ...).
        norm_eval (bool): Keep norm layers in eval mode (frozen statistics) during training.
        with_cp (bool): Recompute blocks in backward to save activation memory; same outputs
            and gradients.
        memory_saving (str, optional): ``'module'`` or ``'unit'``: activation checkpointing
            with outputs, gradients and batch-norm statistics identical to the plain model
            (:func:`hrnet_mm.models.checkpointing.enable_memory_saving`). Replaces ``with_cp``.
            None: off.
        frozen_stages (int): Freeze (no gradient, eval mode) the stem (0) and stages 1 to
            ``frozen_stages`` with their transitions; -1 freezes nothing. The iterative head
            is never frozen.
        out_streams (str, optional): ``'all'`` returns every stream (strides 4, 8, 16, 32), for
            ``HRNetV2Neck`` / ``HRNetV2pNeck``; ``'first'`` returns only the 1/4 stream, as
            mmpose does (for pose heads). None means ``'first'`` when the architecture comes
            from an mmpose ``extra`` dict (drop-in for mmpose configs) and ``'all'`` otherwise.
        fuse (str): ``'official'`` keeps the official fusion, which counts stream 0 twice
            (needed by the released weights); ``'corrected'`` sums each stream once.
        conv_cfg (dict, optional): Accepted for mmpose configs; only plain ``Conv2d``.
        init_cfg (dict | list[dict], optional): mmengine init config. None means mmpose's
            initialisation: Normal(std=0.001) for convs, 1 for norm weights.

    Attributes:
        arch (LiteHRNetArch): The architecture.
        out_channels (tuple[int]): Channels of each returned stream.
        out_strides (tuple[int]): Nominal stride of each returned stream (for sizes that are
            not multiples of the stride, each stride-2 step rounds up).

    Example:
        >>> import torch
        >>> model = LiteHRNet('lite18').eval()
        >>> outs = model(torch.rand(1, 3, 64, 48))
        >>> [tuple(o.shape) for o in outs]
        [(1, 40, 16, 12), (1, 40, 8, 6), (1, 80, 4, 3), (1, 160, 2, 2)]
        >>> model.out_channels, model.out_strides
        ((40, 40, 80, 160), (4, 8, 16, 32))
        >>> LiteHRNet('lite18', out_streams='first').out_channels
        (40,)
    """

    def __init__(self,
                 arch: Union[str, LiteHRNetArch, Mapping, None] = None,
                 *,
                 extra: Optional[Mapping] = None,
                 in_channels: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 memory_saving: Optional[str] = None,
                 frozen_stages: int = -1,
                 out_streams: Optional[str] = None,
                 fuse: str = 'official',
                 conv_cfg: Optional[dict] = None,
                 init_cfg: Union[dict, List[dict], None] = None):
        super().__init__(init_cfg=_DEFAULT_INIT_CFG if init_cfg is None else init_cfg)
        from_extra = extra is not None or isinstance(arch, Mapping)
        self.arch = resolve_lite_arch(arch, extra)
        if out_streams is None:
            out_streams = 'first' if from_extra else 'all'
        if out_streams not in OUT_STREAMS:
            raise ValueError(f'out_streams must be one of {OUT_STREAMS} (or None), got '
                             f'{out_streams!r}')
        if fuse not in FUSE_MODES:
            raise ValueError(f'fuse must be one of {FUSE_MODES}, got {fuse!r}')
        if conv_cfg not in (None, dict(type='Conv2d'), dict(type='Conv')):
            raise ValueError(f'conv_cfg must be None or dict(type="Conv2d"), got {conv_cfg!r}')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be an int >= 1, got {in_channels!r}')
        check_norm_cfg(norm_cfg)
        if norm_cfg is None:
            raise ValueError('norm_cfg must be a norm config dict, got None')
        check_flag(norm_eval, 'norm_eval', 'LiteHRNet')
        check_flag(with_cp, 'with_cp', 'LiteHRNet')
        num_stages = len(self.arch.stages)
        if (not isinstance(frozen_stages, int) or isinstance(frozen_stages, bool)
                or not -1 <= frozen_stages <= num_stages):
            raise ValueError(f'frozen_stages must be an int in [-1, {num_stages}] (-1: none, '
                             f'0: stem, k: stem and stages 1..k), got {frozen_stages!r}')
        self.in_channels = in_channels
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.frozen_stages = frozen_stages
        self.out_streams = out_streams
        self.fuse = fuse

        stem = self.arch.stem
        self.stem = Stem(in_channels, stem.stem_channels, stem.out_channels, stem.expand_ratio,
                         norm_cfg, with_cp)
        channels = [stem.out_channels]
        for k, spec in enumerate(self.arch.stages):
            setattr(self, f'transition{k}',
                    self._make_transition(channels, list(spec.num_channels)))
            channels = list(spec.num_channels)
            setattr(self, f'stage{k}', nn.Sequential(*[
                LiteHRModule(spec.num_branches, spec.num_blocks, channels, spec.reduce_ratio,
                             spec.module_type, spec.with_fuse, fuse, norm_cfg, with_cp)
                for _ in range(spec.num_modules)]))
        if self.arch.with_head:
            self.head_layer = IterativeHead(channels, norm_cfg)

        num_out = self.arch.num_streams if out_streams == 'all' else 1
        self.out_channels: Tuple[int, ...] = tuple(self.arch.out_channels[:num_out])
        self.out_strides: Tuple[int, ...] = tuple(4 * 2**k for k in range(num_out))
        self._freeze_stages()
        self.memory_saving = memory_saving
        apply_memory_saving(self, memory_saving, 'LiteHRNet')

    def _make_transition(self, pre: List[int], cur: List[int]) -> nn.ModuleList:
        """Depthwise-separable 3x3 for a width change, stride-2 ones to open new streams."""
        layers = []
        for i, c in enumerate(cur):
            if i < len(pre):
                # Pass-through; mmpose stores None here (no keys either way).
                layers.append(nn.Identity() if c == pre[i] else
                              _dw_pw(pre[i], c, 1, self.norm_cfg, relu=True))
            else:
                steps = i + 1 - len(pre)
                layers.append(nn.Sequential(*[
                    _dw_pw(pre[-1], c if s == steps - 1 else pre[-1], 2, self.norm_cfg,
                           relu=True)
                    for s in range(steps)]))
        return nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the streams selected by ``out_streams``, highest resolution first."""
        if not torch.jit.is_tracing():
            check_input(x, self.in_channels, type(self).__name__)
        y = [self.stem(x)]
        for k, spec in enumerate(self.arch.stages):
            transition = getattr(self, f'transition{k}')
            # New streams branch off the lowest-resolution one.
            inputs = [transition[j](y[j] if j < len(y) else y[-1])
                      for j in range(spec.num_branches)]
            y = getattr(self, f'stage{k}')(inputs)
        if self.arch.with_head:
            y = self.head_layer(y)
        return tuple(y[:len(self.out_channels)])

    def stage_modules(self, index: int) -> List[nn.Module]:
        """Modules that ``frozen_stages >= index`` freezes (0: stem, k: transition and stage
        k, which mmpose names ``transition{k-1}`` and ``stage{k-1}``)."""
        if index == 0:
            return [self.stem]
        return [getattr(self, f'transition{index - 1}'), getattr(self, f'stage{index - 1}')]

    def _freeze_stages(self) -> None:
        for index in range(self.frozen_stages + 1):
            for module in self.stage_modules(index):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'LiteHRNet':
        """Set training mode, keeping frozen stages and (with ``norm_eval``) norms in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if is_norm(module):
                    module.eval()
        return self


__all__ = ['LiteHRNet', 'IterativeHead', 'LiteHRModule', 'ConditionalChannelWeighting',
           'CrossResolutionWeighting', 'SpatialWeighting', 'ShuffleUnit', 'Stem',
           'channel_shuffle', 'pool_to_size']
