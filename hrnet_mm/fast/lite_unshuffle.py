"""Lite-HRNet without channel shuffles, splits or concatenations: the inference form for the
runtimes (ONNX Runtime, OpenVINO) of a BN-folded :class:`~hrnet_mm.models.LiteHRNet`.

In every conditional channel weighting block only half of each stream's channels is weighted,
and every op on that half is per-channel (two multiplies, the 3x3 depthwise conv) except the
1x1 convs on pooled tensors. So the block can run on the whole stream in place
(:class:`MaskedChannelWeighting`): the pass-through channels get weight 1 (zero weights and a
saturating bias before the sigmoid) and the identity depthwise kernel, and the pooled 1x1 convs
get zero columns for them. The concatenation is then the stream itself, and the shuffle after
it only renames channels: each stream carries a static *order* (physical channel ``p`` holds
channel ``order[p]`` of the original model's tensor), and every conv that reads a stream takes
its input columns in that order; every conv that writes into a stream (fusion, iterative head)
writes its rows in that stream's order. The stem drops its shuffle the same way. The output
of the iterative head's stream 0 is in the original order; other returned streams get one
channel gather at the end.

Exact in fp32 up to summation order (max abs diff ~1e-6). Applied by the runtimes where it
measured faster (:data:`hrnet_mm.fast.backends.REWRITES`, ``docs/notes/fast_engineering.md``).

Example:
    >>> import torch
    >>> from hrnet_mm.models import LiteHRNet
    >>> from hrnet_mm.fast import fold_batch_norms
    >>> model = LiteHRNet('lite18').eval()
    >>> x = torch.rand(1, 3, 64, 48)
    >>> ref = model(x)
    >>> _ = fold_batch_norms(model)
    >>> unshuffle_lite_hrnet(model)
    1
    >>> max((a - b).abs().max().item() for a, b in zip(ref, model(x))) < 1e-4
    True
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import lite_hrnet
from ..models.blocks import is_norm
from ..models.lite_hrnet import ConditionalChannelWeighting, LiteHRNet, Stem

#: Pre-sigmoid value of the pass-through channels: sigmoid(30) is 1.0 in fp32 and bf16.
_ONE_LOGIT = 30.0


def shuffled_order(order: torch.Tensor) -> torch.Tensor:
    """The order of a stream after a 2-group channel shuffle that the rewrite skips: physical
    ``p`` held channel ``z = order[p]`` of the concatenation, which the shuffle moves to
    ``2 * (z % half) + z // half``.

    Example:
        >>> shuffled_order(torch.arange(6)).tolist()
        [0, 2, 4, 1, 3, 5]
    """
    half = len(order) // 2
    return 2 * (order % half) + order // half


def _identity(channels: int) -> torch.Tensor:
    return torch.arange(channels)


def _is_identity(order: torch.Tensor) -> bool:
    return torch.equal(order, _identity(len(order)))


def _conv(module: nn.Module) -> nn.Conv2d:
    """The conv of a conv, a folded ``ConvModule`` or a folded ``Sequential(conv, ...)``."""
    conv = module if isinstance(module, nn.Conv2d) else module[0]
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f'expected a conv, got {type(conv).__name__}')
    return conv


def _with_bias(conv: nn.Conv2d) -> torch.Tensor:
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.zeros(conv.out_channels, dtype=conv.weight.dtype),
                                 requires_grad=False)
    return conv.bias


def _read_in(conv: nn.Conv2d, order: torch.Tensor) -> None:
    """``conv`` reads a stream in ``order``: input columns permuted (dense convs), or channels
    permuted with the outputs (depthwise: the output keeps the stream's order)."""
    with torch.no_grad():
        if conv.groups == 1:
            conv.weight.data = conv.weight.data[:, order].contiguous()
        elif conv.groups == conv.in_channels == conv.out_channels:
            conv.weight.data = conv.weight.data[order].contiguous()
            bias = _with_bias(conv)
            bias.data = bias.data[order].contiguous()
        else:
            raise ValueError(f'cannot permute a conv with {conv.groups} groups')


def _write_out(conv: nn.Conv2d, order: torch.Tensor) -> None:
    """``conv`` (dense) writes its rows in ``order``."""
    with torch.no_grad():
        conv.weight.data = conv.weight.data[order].contiguous()
        bias = _with_bias(conv)
        bias.data = bias.data[order].contiguous()


def _read_dw_pw(seq: nn.Sequential, order: torch.Tensor) -> None:
    """A folded ``Sequential(dw, Identity, pw, Identity[, ReLU])`` reads a stream in ``order``
    (its output: the original order)."""
    _read_in(seq[0], order)
    _read_in(seq[2], order)


def _masked_1x1(conv: nn.Conv2d, columns: Sequence[Optional[torch.Tensor]],
                rows: Sequence[Optional[torch.Tensor]], pass_bias: float) -> nn.Conv2d:
    """A 1x1 conv over whole streams computing ``conv`` over their weighted halves.

    ``columns[i]`` / ``rows[i]``: for each physical channel of input / output stream ``i``, the
    index of ``conv``'s input / output channel it is (-1: pass-through). Pass-through inputs get
    zero columns; pass-through outputs zero rows and bias ``pass_bias``.
    """
    cols, rws = torch.cat(list(columns)), torch.cat(list(rows))
    weight = conv.weight.detach()[:, :, 0, 0]
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    mapped = weight.new_zeros(len(rws), len(cols))
    keep_r, keep_c = rws >= 0, cols >= 0
    inner = weight[:, cols[keep_c]]
    mapped[keep_r.nonzero()[:, 0][:, None], keep_c.nonzero()[:, 0][None, :]] = \
        inner[rws[keep_r]]
    new_bias = bias.new_full((len(rws),), pass_bias)
    new_bias[keep_r] = bias[rws[keep_r]]
    out = nn.Conv2d(len(cols), len(rws), 1, bias=True).to(weight.dtype)
    with torch.no_grad():
        out.weight.copy_(mapped[:, :, None, None])
        out.bias.copy_(new_bias)
    return out.requires_grad_(False)


def _weighted_index(order: torch.Tensor) -> torch.Tensor:
    """Per physical channel: its index within the weighted half, or -1 (pass-through)."""
    half = len(order) // 2
    return torch.where(order >= half, order - half, torch.full_like(order, -1))


def _masked_depthwise(conv: nn.Conv2d, index: torch.Tensor) -> nn.Conv2d:
    """``conv`` (depthwise, over the weighted half) on the whole stream; identity kernel (centre
    1, bias 0) on the pass-through channels."""
    channels = len(index)
    weight = conv.weight.detach()
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    kh, kw = weight.shape[-2:]
    new_w = weight.new_zeros(channels, 1, kh, kw)
    new_w[:, 0, kh // 2, kw // 2] = 1
    new_b = bias.new_zeros(channels)
    keep = index >= 0
    new_w[keep] = weight[index[keep]]
    new_b[keep] = bias[index[keep]]
    out = nn.Conv2d(channels, channels, (kh, kw), conv.stride, conv.padding, conv.dilation,
                    groups=channels, bias=True).to(weight.dtype)
    with torch.no_grad():
        out.weight.copy_(new_w)
        out.bias.copy_(new_b)
    return out.requires_grad_(False)


class MaskedChannelWeighting(nn.Module):
    """A BN-folded :class:`~hrnet_mm.models.lite_hrnet.ConditionalChannelWeighting` on whole
    streams whose channels are in ``orders``, without chunk, concat or shuffle. Its outputs are
    the block's outputs in the orders :func:`shuffled_order` gives. The cross-resolution
    weighting needs no concat or split either: its first 1x1 conv is a sum of one conv per
    stream, its second one conv per stream (OpenVINO fp32 2-4% faster at batch 8 than concat
    + conv + split, bf16 1-3% slower; docs/notes/fast_engineering.md).

    Args:
        block (ConditionalChannelWeighting): The folded block.
        orders (Sequence[Tensor]): The order of each input stream.
    """

    def __init__(self, block: ConditionalChannelWeighting, orders: Sequence[torch.Tensor]):
        super().__init__()
        index = [_weighted_index(o) for o in orders]
        crw = block.cross_resolution_weighting
        offsets = [0]
        for c in crw.channels:
            offsets.append(offsets[-1] + c)
        flat = [torch.where(i >= 0, i + off, i) for i, off in zip(index, offsets)]
        conv1, conv2 = _conv(crw.conv1), _conv(crw.conv2)
        hidden = _identity(conv1.out_channels)
        # per stream: conv1(cat(pooled)) == sum_i conv1_i(pooled_i), and conv2's rows of each
        # stream are a conv of their own, so neither the concat nor the split is needed
        self.crw_reduce = nn.ModuleList(_masked_1x1(conv1, [f], [hidden], 0.0) for f in flat)
        with torch.no_grad():
            for part in self.crw_reduce[1:]:
                part.bias.zero_()  # the bias once
        self.crw_expand = nn.ModuleList(_masked_1x1(conv2, [hidden], [f], _ONE_LOGIT)
                                        for f in flat)
        self.depthwise = nn.ModuleList([
            _masked_depthwise(_conv(dw), i) for dw, i in zip(block.depthwise_convs, index)])
        self.sw_reduce = nn.ModuleList()
        self.sw_expand = nn.ModuleList()
        for sw, i in zip(block.spatial_weighting, index):
            c1, c2 = _conv(sw.conv1), _conv(sw.conv2)
            mid = _identity(c1.out_channels)
            self.sw_reduce.append(_masked_1x1(c1, [i], [mid], 0.0))
            self.sw_expand.append(_masked_1x1(c2, [mid], [i], _ONE_LOGIT))
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        mini_size = x[-1].shape[-2:]
        # module attribute: export's fixed_ratio_resampling swaps it while tracing
        pooled = [lite_hrnet.pool_to_size(s, mini_size) for s in x[:-1]] + [x[-1]]
        hidden = self.crw_reduce[0](pooled[0])
        for part, p in zip(self.crw_reduce[1:], pooled[1:]):
            hidden = hidden + part(p)
        hidden = F.relu(hidden)
        out = []
        for s, part, dw, reduce, expand in zip(x, self.crw_expand, self.depthwise,
                                               self.sw_reduce, self.sw_expand):
            a = torch.sigmoid(part(hidden))
            s = dw(s * F.interpolate(a, size=s.shape[-2:], mode='nearest'))
            out.append(s * torch.sigmoid(expand(F.relu(reduce(self.global_avgpool(s))))))
        return out


class UnshuffledStem(nn.Module):
    """A :class:`~hrnet_mm.models.lite_hrnet.Stem` without its final shuffle: the output is
    the stem's in the order ``shuffled_order(arange(C))``."""

    def __init__(self, stem: Stem):
        super().__init__()
        self.stem = stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem
        x1, x2 = stem.conv1(x).chunk(2, dim=1)
        x2 = stem.linear_conv(stem.depthwise_conv(stem.expand_conv(x2)))
        return torch.cat((stem.branch1(x1), x2), dim=1)


class RestoreOrder(nn.Module):
    """``module``'s list of streams, each gathered back to the original channel order.

    Args:
        module (nn.Module): Returns a list of streams.
        orders (Sequence[Tensor | None]): Each stream's order (None: already in order).
    """

    def __init__(self, module: nn.Module, orders: Sequence[Optional[torch.Tensor]]):
        super().__init__()
        self.module = module
        self.num = len(orders)
        for i, order in enumerate(orders):
            inverse = None if order is None else torch.argsort(order)
            self.register_buffer(f'inverse{i}', inverse)

    def forward(self, x):
        out = list(self.module(x))
        for i in range(self.num):
            inverse = getattr(self, f'inverse{i}')
            if inverse is not None:
                out[i] = out[i].index_select(1, inverse)
        return out


def can_unshuffle(model: nn.Module) -> bool:
    """Whether :func:`unshuffle_lite_hrnet` applies: a :class:`LiteHRNet` in eval mode whose
    stages are all conditional channel weighting ('LITE') and whose norms are all folded."""
    return (isinstance(model, LiteHRNet) and not model.training
            and all(s.module_type == 'LITE' for s in model.arch.stages)
            and isinstance(model.stem, Stem)
            and not any(is_norm(m) for m in model.modules()))


def _rewrite_transition(transition: nn.ModuleList, orders: List[torch.Tensor],
                        num_branches: int) -> List[torch.Tensor]:
    new = []
    for j in range(num_branches):
        layer = transition[j]
        if j < len(orders) and isinstance(layer, nn.Identity):
            new.append(orders[j])
            continue
        first = layer if j < len(orders) else layer[0]
        _read_dw_pw(first, orders[min(j, len(orders) - 1)])
        last = layer[-1] if j >= len(orders) else layer
        new.append(_identity(last[2].out_channels))
    return new


def _rewrite_fusion(module: lite_hrnet.LiteHRModule,
                    orders: List[torch.Tensor]) -> List[torch.Tensor]:
    blocks = []
    for block in module.layers:
        blocks.append(_masked_block(block, orders))
        orders = [shuffled_order(o) for o in orders]
    module.layers = nn.Sequential(*blocks)
    if not module.with_fuse:
        return orders
    n = module.num_branches
    for i in range(n):
        for j in range(n):
            layer = module.fuse_layers[i][j]
            if j > i:
                _read_in(_conv(layer), orders[j])
                _write_out(_conv(layer), orders[i])
            elif j < i:
                _read_dw_pw(layer[0], orders[j])
                _write_out(layer[-1][2], orders[i])
    return orders


def _masked_block(block: nn.Module, orders: List[torch.Tensor]) -> nn.Module:
    if not isinstance(block, ConditionalChannelWeighting):
        raise TypeError(f'expected a ConditionalChannelWeighting, got {type(block).__name__}')
    return MaskedChannelWeighting(block, orders)


def _rewrite_head(head: lite_hrnet.IterativeHead,
                  orders: List[torch.Tensor]) -> List[torch.Tensor]:
    n = len(orders)
    out = [None] * n
    for r, project in enumerate(head.projects):
        i = n - 1 - r
        _read_in(_conv(project.depthwise_conv), orders[i])
        pointwise = _conv(project.pointwise_conv)
        _read_in(pointwise, orders[i])
        if i > 0:
            _write_out(pointwise, orders[i - 1])
            out[i] = orders[i - 1]
        else:
            out[i] = _identity(pointwise.out_channels)
    return out


def unshuffle_lite_hrnet(model: nn.Module) -> int:
    """Rewrite every BN-folded, all-'LITE' :class:`LiteHRNet` inside ``model`` (in place) into
    the shuffle-free form of the module docstring; returns how many were rewritten. Others
    (naive Lite-HRNet, unfolded norms, training mode) stay as they are."""
    count = 0
    for net in [m for m in model.modules() if can_unshuffle(m)]:
        orders = [shuffled_order(_identity(net.stem.out_channels))]
        net.stem = UnshuffledStem(net.stem)
        for k, spec in enumerate(net.arch.stages):
            orders = _rewrite_transition(getattr(net, f'transition{k}'), orders,
                                         spec.num_branches)
            for module in getattr(net, f'stage{k}'):
                orders = _rewrite_fusion(module, orders)
        if net.arch.with_head:
            orders = _rewrite_head(net.head_layer, orders)
        returned = [None if _is_identity(o) else o for o in orders[:len(net.out_channels)]]
        if any(o is not None for o in returned):
            last = 'head_layer' if net.arch.with_head else f'stage{len(net.arch.stages) - 1}'
            setattr(net, last, RestoreOrder(getattr(net, last), returned))
        count += 1
    return count


__all__ = ['MaskedChannelWeighting', 'RestoreOrder', 'UnshuffledStem', 'can_unshuffle',
           'shuffled_order', 'unshuffle_lite_hrnet']
