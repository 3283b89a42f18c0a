"""Merged exchange units: the inference form of a BN-folded HR module (fewer, larger convs; for
nearest upsampling, lower streams summed hierarchically without materialising upsampled maps)."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from ..models.hrnet import HRModule


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
