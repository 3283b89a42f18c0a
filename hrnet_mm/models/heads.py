"""HRNet-C: the classification head of the official HRNet-Image-Classification networks."""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..registry import MODELS
from .blocks import Bottleneck, build_norm, check_norm_cfg, make_res_layer
from .validation import check_streams

HEAD_PLANES = (32, 64, 128, 256)  # bottleneck widths; x4 expansion gives 128..1024
FEATURE_CHANNELS = 2048


@MODELS.register_module()
class HRNetClsHead(BaseModule):
    """Cascade of strided bottlenecks over the four streams, 1x1 to 2048-d, pool, linear.

    Stream ``i`` goes through one bottleneck (``incre_modules``) to ``128 * 2**i`` channels; from
    the highest resolution down, each result is downsampled by a strided 3x3 conv with bias
    (``downsamp_modules``) and added to the next one; a 1x1 conv (``final_layer``) maps the
    1/32 result to 2048 channels, then global average pooling and ``classifier``. Key names are
    the official ones (also timm's), so classification checkpoints load unchanged.

    Args:
        in_channels (list[int]): Channels of the four streams (C, 2C, 4C, 8C).
        num_classes (int): Classes; 0 returns the pooled 2048-d features.
        norm_cfg (dict): Norm config.
        init_cfg (dict | list[dict], optional): mmengine init config.

    Example:
        >>> import torch
        >>> head = HRNetClsHead([16, 32, 64, 128], num_classes=10)
        >>> xs = [torch.rand(2, c, 8 // 2 ** i, 8 // 2 ** i) for i, c in enumerate(head.in_channels)]
        >>> head(xs).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int = 1000,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Union[dict, List[dict], None] = None):
        super().__init__(init_cfg=init_cfg)
        if (len(in_channels) != len(HEAD_PLANES)
                or not all(isinstance(c, int) and c > 0 for c in in_channels)):
            raise ValueError(f'HRNetClsHead: in_channels must list the 4 positive stream '
                             f'widths, got {list(in_channels)}')
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f'HRNetClsHead: num_classes must be an int >= 0, got {num_classes!r}')
        check_norm_cfg(norm_cfg)
        self.in_channels = list(in_channels)
        self.num_classes = num_classes
        out = [p * Bottleneck.expansion for p in HEAD_PLANES]
        self.incre_modules = nn.ModuleList(
            make_res_layer(Bottleneck, c, p, 1, norm_cfg=norm_cfg)
            for c, p in zip(in_channels, HEAD_PLANES))
        self.downsamp_modules = nn.ModuleList(
            nn.Sequential(nn.Conv2d(out[i], out[i + 1], 3, 2, 1, bias=True),
                          build_norm(norm_cfg, out[i + 1])[1], nn.ReLU(inplace=True))
            for i in range(len(out) - 1))
        self.final_layer = nn.Sequential(
            nn.Conv2d(out[-1], FEATURE_CHANNELS, 1, bias=True),
            build_norm(norm_cfg, FEATURE_CHANNELS)[1], nn.ReLU(inplace=True))
        self.classifier = nn.Linear(FEATURE_CHANNELS, num_classes) if num_classes else None

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        check_streams(inputs, self.in_channels, 'HRNetClsHead')
        y = self.incre_modules[0](inputs[0])
        for i, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[i + 1](inputs[i + 1]) + down(y)
        y = self.final_layer(y).mean(dim=(2, 3))
        return y if self.classifier is None else self.classifier(y)


class HRNetClassifier(nn.Module):
    """HRNet-C: the all-stream backbone plus :class:`HRNetClsHead` (the ImageNet networks).

    Args:
        arch (str): HRNet preset.
        num_classes (int): Classes.
        norm_cfg (dict): Norm config.

    Example:
        >>> import torch
        >>> model = HRNetClassifier('w18_small_v1', num_classes=5).eval()
        >>> model(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 5])
    """

    def __init__(self, arch: str = 'w18', num_classes: int = 1000,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        from .hrnet import HRNet
        self.backbone = HRNet(arch, norm_cfg=norm_cfg, multiscale_output=True)
        self.head = HRNetClsHead(self.backbone.out_channels, num_classes, norm_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
