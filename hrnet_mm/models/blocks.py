"""Building blocks shared by the HRNet family: norm layers, conv-norm-act, residual units.

Attribute names follow mmcv/mmpose (``conv1``, ``bn1`` or ``gn1``, ``downsample``), which are also
the names of the official repositories, so every existing checkpoint maps onto these modules
without renaming.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

# norm type -> (constructor, attribute prefix used by mmcv's build_norm_layer)
_NORMS = {
    'BN': (nn.BatchNorm2d, 'bn'),
    'BN2d': (nn.BatchNorm2d, 'bn'),
    'SyncBN': (nn.SyncBatchNorm, 'bn'),
    'GN': (nn.GroupNorm, 'gn'),
    'IN': (nn.InstanceNorm2d, 'in'),
}


def check_norm_cfg(norm_cfg: Optional[dict], field: str = 'norm_cfg') -> None:
    """Raise ``ValueError`` naming ``field`` when ``norm_cfg`` is not a known norm config."""
    if norm_cfg is None:
        return
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise ValueError(f'{field} must be a dict with a "type" key, got {norm_cfg!r}')
    if norm_cfg['type'] not in _NORMS:
        raise ValueError(f'{field}["type"] must be one of {sorted(_NORMS)}, '
                         f'got {norm_cfg["type"]!r}')
    if norm_cfg['type'] == 'GN' and 'num_groups' not in norm_cfg:
        raise ValueError(f'{field} of type "GN" needs "num_groups"')


def build_norm(norm_cfg: dict, num_features: int, postfix='') -> Tuple[str, nn.Module]:
    """Build a norm layer from an mm-style config and return ``(name, layer)``.

    The name is mmcv's (``bn1``, ``gn1``, ...) so state dict keys match mm checkpoints.

    Example:
        >>> build_norm(dict(type='BN'), 8, postfix=1)[0]
        'bn1'
    """
    check_norm_cfg(norm_cfg)
    cfg = dict(norm_cfg)
    layer_type = cfg.pop('type')
    requires_grad = cfg.pop('requires_grad', True)
    cls, prefix = _NORMS[layer_type]
    if layer_type == 'GN':
        layer = cls(num_channels=num_features, **cfg)
    else:
        cfg.setdefault('eps', 1e-5)
        layer = cls(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return f'{prefix}{postfix}', layer


def is_norm(module: nn.Module) -> bool:
    """True for the norm layers whose statistics ``norm_eval`` freezes."""
    return isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm,
                               nn.modules.instancenorm._InstanceNorm))


class ConvModule(nn.Sequential):
    """Conv -> optional norm -> optional ReLU, keyed like mmcv's ``ConvModule``.

    The children are named ``conv`` and ``bn``/``gn`` so that checkpoints of mm modules built
    with ``ConvModule`` (e.g. mmdet's ``HRFPN``) load unchanged.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        stride (int): Stride.
        padding (int): Padding.
        groups (int): Conv groups.
        bias (bool | str): Conv bias; ``'auto'`` means "only when there is no norm".
        norm_cfg (dict, optional): Norm config; None for no norm.
        act (bool): Whether a ReLU follows.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias='auto',
                 norm_cfg: Optional[dict] = None, act: bool = True):
        super().__init__()
        if bias == 'auto':
            bias = norm_cfg is None
        self.add_module('conv', nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                          padding, groups=groups, bias=bias))
        if norm_cfg is not None:
            name, norm = build_norm(norm_cfg, out_channels)
            self.add_module(name, norm)
        if act:
            self.add_module('activate', nn.ReLU(inplace=True))


def conv_norm(in_channels: int, out_channels: int, kernel_size: int, stride: int,
              norm_cfg: dict, relu: bool = False) -> nn.Sequential:
    """``Sequential(conv, norm[, relu])`` with indexed children (official key layout ``.0``/``.1``)."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                        bias=False),
              build_norm(norm_cfg, out_channels)[1]]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _ResidualUnit(nn.Module):
    """Shared forward of the residual units: ``relu(body(x) + shortcut(x))``, optionally
    recomputed in backward (``with_cp``) to save activation memory."""

    checkpoint_segment = ('module', 'unit')  # memory saving: see models/checkpointing.py

    expansion = 1

    def __init__(self, with_cp: bool):
        super().__init__()
        self.with_cp = with_cp
        self.relu = nn.ReLU(inplace=True)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.body(x) + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner, x, use_reentrant=False)
        else:
            out = self._inner(x)
        return self.relu(out)

    @property
    def last_norm(self) -> nn.Module:
        """The norm closing the residual branch (zeroed by ``zero_init_residual``)."""
        raise NotImplementedError


class BasicBlock(_ResidualUnit):
    """Two 3x3 convs (the residual unit of HRNet stages 2-4).

    Args:
        in_channels (int): Input channels.
        planes (int): Output channels (``expansion`` is 1).
        stride (int): Stride of the first conv.
        downsample (nn.Module, optional): Shortcut projection.
        norm_cfg (dict): Norm config.
        with_cp (bool): Recompute in backward to save memory.
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False):
        super().__init__(with_cp)
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, 1, bias=False)
        self.norm1_name, norm1 = build_norm(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.norm2_name, norm2 = build_norm(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.downsample = downsample

    def body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        return getattr(self, self.norm2_name)(self.conv2(out))

    @property
    def last_norm(self) -> nn.Module:
        return getattr(self, self.norm2_name)


class Bottleneck(_ResidualUnit):
    """1x1 -> 3x3 (stride) -> 1x1 with expansion 4 (stage 1 and the HRNet-C head).

    Args:
        in_channels (int): Input channels.
        planes (int): Bottleneck width; the output has ``4 * planes`` channels.
        stride (int): Stride of the 3x3 conv.
        downsample (nn.Module, optional): Shortcut projection.
        norm_cfg (dict): Norm config.
        with_cp (bool): Recompute in backward to save memory.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False):
        super().__init__(with_cp)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.norm1_name, norm1 = build_norm(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.norm2_name, norm2 = build_norm(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.norm3_name, norm3 = build_norm(norm_cfg, planes * self.expansion, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.downsample = downsample

    def body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        out = self.relu(getattr(self, self.norm2_name)(self.conv2(out)))
        return getattr(self, self.norm3_name)(self.conv3(out))

    @property
    def last_norm(self) -> nn.Module:
        return getattr(self, self.norm3_name)


BLOCKS = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}


def make_res_layer(block: type, in_channels: int, planes: int, num_blocks: int,
                   stride: int = 1, norm_cfg: dict = dict(type='BN'),
                   with_cp: bool = False) -> nn.Sequential:
    """A stack of residual units; the first projects the shortcut when shapes change."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = conv_norm(in_channels, out_channels, 1, stride, norm_cfg)
    layers = [block(in_channels, planes, stride, downsample, norm_cfg, with_cp)]
    layers += [block(out_channels, planes, 1, None, norm_cfg, with_cp)
               for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)
