"""HRNetV2 and HRNetV2p necks: concatenate every stream at 1/4 resolution (15C channels), then
optionally reduce (V2) or reduce to 256 channels and pool into a 5-level pyramid (V2p)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from ..registry import MODELS
from .blocks import ConvModule, check_norm_cfg
from .resample import Upsample
from .validation import check_flag, check_streams

POOLING_TYPES = ('AVG', 'MAX')


def _check_in_channels(in_channels, owner: str) -> List[int]:
    if (not isinstance(in_channels, (list, tuple)) or not in_channels
            or not all(isinstance(c, int) and c > 0 for c in in_channels)):
        raise ValueError(f'{owner}: in_channels must be a non-empty list of positive ints '
                         f'(one per stream), got {in_channels!r}')
    return list(in_channels)


def concat_streams(xs: Sequence[torch.Tensor], upsample: Upsample) -> torch.Tensor:
    """Resize every stream to stream 0's size and concatenate along channels (HRNetV2)."""
    size = xs[0].shape[-2:]
    return torch.cat([xs[0]] + [upsample(x, size, 2 ** i) for i, x in enumerate(xs[1:], 1)],
                     dim=1)


@MODELS.register_module()
class HRNetV2Neck(BaseModule):
    """HRNetV2 representation: all streams upsampled to stream 0 and concatenated.

    Covers mmseg's ``input_transform='resize_concat'`` (then an ``FCNHead`` with
    ``in_channels=sum(in_channels)``) and mmpose's ``FeatureMapProcessor(concat=True)``.

    Args:
        in_channels (list[int]): Channels of each input stream.
        out_channels (int, optional): If given, a 1x1 conv + norm + ReLU maps the 15C
            concatenation to this many channels.
        upsample (str | dict | Upsample): Resampling of the lower streams; bilinear,
            ``align_corners=False`` by default (mmseg, mmpose).
        norm_cfg (dict): Norm of the optional 1x1 conv.
        init_cfg (dict | list[dict], optional): mmengine init config.

    Example:
        >>> import torch
        >>> neck = HRNetV2Neck([18, 36, 72, 144])
        >>> xs = [torch.rand(1, c, 16 // 2 ** i, 12 // 2 ** i) for i, c in enumerate(neck.in_channels)]
        >>> neck(xs)[0].shape
        torch.Size([1, 270, 16, 12])
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Optional[int] = None,
                 upsample: Union[str, dict, Upsample] = dict(mode='bilinear',
                                                             align_corners=False),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Union[dict, List[dict], None] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = _check_in_channels(in_channels, 'HRNetV2Neck')
        if out_channels is not None and (not isinstance(out_channels, int) or out_channels < 1):
            raise ValueError(f'HRNetV2Neck: out_channels must be None or a positive int, '
                             f'got {out_channels!r}')
        check_norm_cfg(norm_cfg)
        self.upsample = Upsample.from_cfg(upsample)
        concat = sum(self.in_channels)
        self.conv = (None if out_channels is None else
                     ConvModule(concat, out_channels, 1, norm_cfg=norm_cfg, act=True))
        self.out_channels: Tuple[int] = (concat if out_channels is None else out_channels,)
        self.out_strides: Tuple[int] = (4,)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        check_streams(inputs, self.in_channels, 'HRNetV2Neck')
        out = concat_streams(inputs, self.upsample)
        if self.conv is not None:
            out = self.conv(out)
        return (out,)


@MODELS.register_module()
class HRNetV2pNeck(BaseModule):
    """HRNetV2p feature pyramid (an FPN replacement), numerically equal to mmdet's ``HRFPN``.

    The V2 concatenation is reduced to ``out_channels`` by a 1x1 conv, pooled with kernels
    2, 4, 8, 16 into ``num_outs`` levels (strides 4..64) and each level goes through a 3x3 conv.
    Unlike mmdet's ``HRFPN``, ``norm_cfg`` is honoured (norm after each conv) and inputs of any
    size work.

    Args:
        in_channels (list[int]): Channels of each input stream.
        out_channels (int): Channels of every pyramid level.
        num_outs (int): Pyramid levels.
        pooling_type (str): ``'AVG'`` or ``'MAX'``.
        norm_cfg (dict, optional): Norm after each conv; None (mmdet's behaviour) for none.
        with_cp (bool): Checkpoint the convs to save activation memory.
        share_conv (bool): One 3x3 conv shared by all levels instead of one per level.
        stride (int): Stride of the 3x3 convs (mmdet's ``stride``).
        upsample (str | dict | Upsample): Resampling of the lower streams.
        init_cfg (dict | list[dict], optional): mmengine init config (mmdet's default).

    Example:
        >>> import torch
        >>> neck = HRNetV2pNeck([18, 36, 72, 144], out_channels=32)
        >>> xs = [torch.rand(1, c, 32 // 2 ** i, 32 // 2 ** i) for i, c in enumerate(neck.in_channels)]
        >>> [tuple(o.shape[-2:]) for o in neck(xs)]
        [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256, num_outs: int = 5,
                 pooling_type: str = 'AVG', norm_cfg: Optional[dict] = None,
                 with_cp: bool = False, share_conv: bool = False, stride: int = 1,
                 upsample: Union[str, dict, Upsample] = dict(mode='bilinear',
                                                             align_corners=False),
                 conv_cfg: Optional[dict] = None,
                 init_cfg: Union[dict, List[dict], None] = dict(type='Caffe2Xavier',
                                                                layer='Conv2d')):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = _check_in_channels(in_channels, 'HRNetV2pNeck')
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f'HRNetV2pNeck: out_channels must be a positive int, '
                             f'got {out_channels!r}')
        if not isinstance(num_outs, int) or num_outs < 1:
            raise ValueError(f'HRNetV2pNeck: num_outs must be a positive int, got {num_outs!r}')
        if pooling_type not in POOLING_TYPES:
            raise ValueError(f'HRNetV2pNeck: pooling_type must be one of {POOLING_TYPES}, '
                             f'got {pooling_type!r}')
        if conv_cfg not in (None, dict(type='Conv2d'), dict(type='Conv')):
            raise ValueError(f'HRNetV2pNeck: conv_cfg must be None, got {conv_cfg!r}')
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'HRNetV2pNeck: stride must be a positive int, got {stride!r}')
        check_flag(with_cp, 'with_cp', 'HRNetV2pNeck')
        check_flag(share_conv, 'share_conv', 'HRNetV2pNeck')
        check_norm_cfg(norm_cfg)
        self.num_outs = num_outs
        self.with_cp = with_cp
        self.share_conv = share_conv
        self.upsample = Upsample.from_cfg(upsample)
        self.pool = F.max_pool2d if pooling_type == 'MAX' else F.avg_pool2d
        self.reduction_conv = ConvModule(sum(self.in_channels), out_channels, 1,
                                         norm_cfg=norm_cfg, act=False)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, stride, 1, norm_cfg=norm_cfg, act=False)
            for _ in range(1 if share_conv else num_outs))
        self.out_channels: Tuple[int, ...] = (out_channels,) * num_outs
        self.out_strides: Tuple[int, ...] = tuple(4 * 2 ** i * stride
                                                  for i in range(num_outs))

    def _run(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(module, x, use_reentrant=False)
        return module(x)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        check_streams(inputs, self.in_channels, 'HRNetV2pNeck')
        smallest = 2 ** (self.num_outs - 1)
        if not torch.jit.is_tracing() and min(inputs[0].shape[-2:]) < smallest:
            raise ValueError(
                f'HRNetV2pNeck with num_outs={self.num_outs} pools stream 0 by up to '
                f'{smallest}x, so stream 0 must be at least {smallest}x{smallest} (an input of '
                f'{4 * smallest}x{4 * smallest} pixels); got {tuple(inputs[0].shape[-2:])}')
        out = self._run(self.reduction_conv, concat_streams(inputs, self.upsample))
        levels = [out] + [self.pool(out, kernel_size=2 ** i, stride=2 ** i)
                          for i in range(1, self.num_outs)]
        convs = [self.fpn_convs[0]] * self.num_outs if self.share_conv else self.fpn_convs
        return tuple(self._run(conv, level) for conv, level in zip(convs, levels))
