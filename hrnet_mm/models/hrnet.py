"""The HRNet backbone: parallel multi-resolution streams fused by exchange units.

State-dict keys follow the official repositories, which mmpose, mmseg and mmdet share
(``conv1``, ``bn1``, ``layer1``, ``transition1``, ``stage2.0.branches``, ``stage2.0.fuse_layers``
...), so their checkpoints load with ``strict=True``.
"""
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..registry import MODELS
from .arch import HRNetArch, StageSpec, resolve_arch
from .blocks import BLOCKS, build_norm, check_norm_cfg, conv_norm, is_norm, make_res_layer
from .checkpointing import apply_memory_saving
from .resample import Upsample
from .validation import check_flag, check_input

STEM_CHANNELS = 64
TOOLBOXES = ('mmpose', 'mmseg', 'mmdet')

# Defaults each toolbox's own HRNet applies when the mm ``extra=`` dict is given unchanged.
_COMPAT_DEFAULTS = {
    None: dict(multiscale_output=True, upsample=Upsample('nearest'), norm_eval=False),
    'mmpose': dict(multiscale_output=False, upsample=Upsample('nearest'), norm_eval=False),
    'mmseg': dict(multiscale_output=True, norm_eval=False,
                  upsample=Upsample('bilinear', align_corners=False, scale_first=True)),
    'mmdet': dict(multiscale_output=True, upsample=Upsample('nearest'), norm_eval=True),
}
_INIT_CFGS = {
    'mmpose': [dict(type='Normal', std=0.001, layer=['Conv2d']),
               dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])],
    'default': [dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])],
}


def _current_toolbox() -> Optional[str]:
    """The toolbox whose default scope is active (inside an mm Runner or ``init_default_scope``)."""
    from mmengine.registry import DefaultScope
    scope = DefaultScope.get_current_instance()
    name = scope.scope_name if scope is not None else None
    return name if name in TOOLBOXES else None


class HRModule(nn.Module):
    """One high-resolution module: parallel branches of residual units, then an exchange unit.

    The exchange unit sums, for every output stream ``i``, all input streams brought to stream
    ``i``'s resolution: 1x1 conv + norm + upsampling from lower resolutions, a chain of strided
    3x3 convs from higher ones.

    Args:
        in_channels (Sequence[int]): Channels of each input stream.
        spec (StageSpec): The stage this module belongs to.
        num_outputs (int): Fused output streams (``num_branches``, or 1 for the V1 pose head).
        norm_cfg (dict): Norm config.
        upsample (Upsample): Upsampling used in the exchange unit.
        with_cp (bool): Checkpoint each residual unit.
    """

    checkpoint_segment = ('module',)  # memory saving: see models/checkpointing.py

    def __init__(self, in_channels: Sequence[int], spec: StageSpec, num_outputs: int,
                 norm_cfg: dict, upsample: Upsample, with_cp: bool = False):
        super().__init__()
        block = BLOCKS[spec.block]
        self.num_branches = spec.num_branches
        self.upsample = upsample
        self.branches = nn.ModuleList(
            make_res_layer(block, in_channels[b], spec.num_channels[b], spec.num_blocks[b],
                           norm_cfg=norm_cfg, with_cp=with_cp)
            for b in range(spec.num_branches))
        self.out_channels = tuple(c * block.expansion for c in spec.num_channels)
        self.fuse_layers = self._make_fuse_layers(num_outputs, norm_cfg)
        self.relu = nn.ReLU(inplace=True)

    def _make_fuse_layers(self, num_outputs: int, norm_cfg: dict) -> Optional[nn.ModuleList]:
        if self.num_branches == 1:
            return None
        ch = self.out_channels
        fuse_layers = []
        for i in range(num_outputs):
            row = []
            for j in range(self.num_branches):
                if j > i:  # lower resolution: 1x1 projection, upsampled in forward
                    row.append(conv_norm(ch[j], ch[i], 1, 1, norm_cfg))
                elif j == i:
                    row.append(None)
                else:  # higher resolution: i - j strided 3x3 convs, ReLU between them
                    steps = [conv_norm(ch[j], ch[j], 3, 2, norm_cfg, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(conv_norm(ch[j], ch[i], 3, 2, norm_cfg))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        out = []
        for i, row in enumerate(self.fuse_layers):
            size = x[i].shape[-2:]
            y = None
            for j in range(self.num_branches):
                if j == i:
                    term = x[j]
                elif j > i:
                    term = self.upsample(row[j](x[j]), size, 2 ** (j - i))
                else:
                    term = row[j](x[j])
                y = term if y is None else y + term
            out.append(self.relu(y))
        return out


@MODELS.register_module()
class HRNet(BaseModule):
    """HRNet backbone (V1 / V2 / V2p / C share it; the heads and necks differ).

    Args:
        arch (str | HRNetArch | dict, optional): A preset name (``w18_small_v1``,
            ``w18_small_v2``, ``w16``, ``w18``, ``w30``, ``w32``, ``w40``, ``w44``, ``w48``,
            ``w64``), an :class:`HRNetArch`, or an mm ``extra`` dict.
        extra (dict, optional): The mm ``extra=`` dict, unchanged from an mmpose / mmseg /
            mmdet config (alternative to ``arch``). Its ``upsample`` and
            ``stage4.multiscale_output`` keys are honoured.
        in_channels (int): Input image channels.
        norm_cfg (dict): Norm layer config (``BN``, ``SyncBN``, ``GN`` ...).
        norm_eval (bool, optional): Keep norm layers in eval mode during training.
        with_cp (bool): Checkpoint residual units to save activation memory.
        memory_saving (str, optional): ``'module'`` or ``'unit'``: activation checkpointing
            with outputs, gradients and batch-norm statistics identical to the plain model
            (:func:`hrnet_mm.models.checkpointing.enable_memory_saving`; ``'module'`` also
            recomputes the exchange units and saves the most). Replaces ``with_cp``. None: off.
        zero_init_residual (bool): Zero the last norm of each residual unit at init.
        frozen_stages (int): Freeze the stem (0), stage 1 and transition 1 (1), ... up to
            stage 4 (4); -1 freezes nothing.
        multiscale_output (bool, optional): True returns all four streams (HRNetV2 / V2p / C);
            False returns stream 0 only, with the official pose key layout (HRNetV1).
        upsample (str | dict | Upsample, optional): Exchange-unit upsampling, ``'nearest'``
            (official, mmpose, mmdet) or ``dict(mode='bilinear', align_corners=False)`` (mmseg).
        pretrained (str, optional): Deprecated mm spelling of
            ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
        compat (str, optional): ``'mmpose'``, ``'mmseg'`` or ``'mmdet'``: use that toolbox's
            defaults for the arguments left as None. When ``extra`` is given and ``compat`` is
            None, the active mm default scope decides, so an existing mm config works by
            changing only ``type``.
        init_cfg (dict | list[dict], optional): mmengine init config.

    Example:
        >>> import torch
        >>> model = HRNet('w18_small_v1').eval()
        >>> outs = model(torch.rand(1, 3, 64, 48))
        >>> [tuple(o.shape) for o in outs]
        [(1, 16, 16, 12), (1, 32, 8, 6), (1, 64, 4, 3), (1, 128, 2, 2)]
        >>> model.out_channels, model.out_strides
        ((16, 32, 64, 128), (4, 8, 16, 32))
    """

    def __init__(self,
                 arch: Union[str, HRNetArch, Mapping, None] = None,
                 *,
                 extra: Optional[Mapping] = None,
                 in_channels: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: Optional[bool] = None,
                 with_cp: bool = False,
                 memory_saving: Optional[str] = None,
                 zero_init_residual: bool = False,
                 frozen_stages: int = -1,
                 multiscale_output: Optional[bool] = None,
                 upsample: Union[str, Mapping, Upsample, None] = None,
                 compat: Optional[str] = None,
                 conv_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Union[dict, List[dict], None] = None):
        if pretrained is not None:  # mm's deprecated spelling (mmseg's EncoderDecoder sets it)
            if init_cfg is not None:
                raise ValueError('give either pretrained or init_cfg, not both')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if compat is None and extra is not None:
            compat = _current_toolbox()
        if compat not in _COMPAT_DEFAULTS:
            raise ValueError(f'compat must be one of {TOOLBOXES} or None, got {compat!r}')
        defaults = _COMPAT_DEFAULTS[compat]
        if init_cfg is None:
            init_cfg = _INIT_CFGS['mmpose' if compat == 'mmpose' else 'default']
        super().__init__(init_cfg=init_cfg)

        self.arch = resolve_arch(arch, extra)
        if extra is not None:
            if multiscale_output is None and 'multiscale_output' in extra['stage4']:
                multiscale_output = bool(extra['stage4']['multiscale_output'])
            if upsample is None and 'upsample' in extra:
                upsample = extra['upsample']
        if conv_cfg not in (None, dict(type='Conv2d'), dict(type='Conv')):
            raise ValueError(f'conv_cfg must be None or dict(type="Conv2d"), got {conv_cfg!r}')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= 4:
            raise ValueError(f'frozen_stages must be an int in [-1, 4], got {frozen_stages!r}')
        if norm_cfg is None:
            raise ValueError('norm_cfg must be a dict such as dict(type="BN"), got None')
        check_norm_cfg(norm_cfg)
        for field, value in (('with_cp', with_cp), ('zero_init_residual', zero_init_residual),
                             ('norm_eval', norm_eval), ('multiscale_output', multiscale_output)):
            if value is not None:
                check_flag(value, field, 'HRNet')

        self.in_channels = in_channels
        self.norm_cfg = dict(norm_cfg)
        self.norm_eval = defaults['norm_eval'] if norm_eval is None else bool(norm_eval)
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.frozen_stages = frozen_stages
        self.multiscale_output = (defaults['multiscale_output'] if multiscale_output is None
                                  else bool(multiscale_output))
        self.upsample = (defaults['upsample'] if upsample is None
                         else Upsample.from_cfg(upsample))

        # stem: two stride-2 3x3 convs to 1/4 resolution
        self.conv1 = nn.Conv2d(in_channels, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.norm1_name, norm1 = build_norm(self.norm_cfg, STEM_CHANNELS, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.norm2_name, norm2 = build_norm(self.norm_cfg, STEM_CHANNELS, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        # stage 1: one stream of residual units
        s1 = self.arch.stages[0]
        block1 = BLOCKS[s1.block]
        self.layer1 = make_res_layer(block1, STEM_CHANNELS, s1.num_channels[0],
                                     s1.num_blocks[0], norm_cfg=self.norm_cfg, with_cp=with_cp)
        channels = [s1.num_channels[0] * block1.expansion]

        # stages 2-4, each preceded by a transition that adds one lower-resolution stream
        for k in (2, 3, 4):
            spec = self.arch.stages[k - 1]
            expansion = BLOCKS[spec.block].expansion
            target = [c * expansion for c in spec.num_channels]
            self.add_module(f'transition{k - 1}', self._make_transition(channels, target))
            modules = []
            for m in range(spec.num_modules):
                last = k == 4 and m == spec.num_modules - 1
                num_outputs = 1 if last and not self.multiscale_output else spec.num_branches
                modules.append(HRModule(target, spec, num_outputs, self.norm_cfg,
                                        self.upsample, with_cp))
            self.add_module(f'stage{k}', nn.Sequential(*modules))
            channels = target

        num_out = 4 if self.multiscale_output else 1
        self.out_channels: Tuple[int, ...] = tuple(channels[:num_out])
        self.out_strides: Tuple[int, ...] = tuple(4 * 2 ** i for i in range(num_out))
        self._freeze_stages()
        if zero_init_residual:
            self._zero_init_residual()
        self.memory_saving = memory_saving
        apply_memory_saving(self, memory_saving, 'HRNet')

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _make_transition(self, pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
        layers = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(None if c == pre[i] else conv_norm(pre[i], c, 3, 1, self.norm_cfg,
                                                                 relu=True))
            else:  # new stream(s) from the lowest-resolution one
                n = i + 1 - len(pre)
                layers.append(nn.Sequential(*[
                    conv_norm(pre[-1], c if step == n - 1 else pre[-1], 3, 2, self.norm_cfg,
                              relu=True) for step in range(n)]))
        return nn.ModuleList(layers)

    def stage_modules(self, index: int) -> List[nn.Module]:
        """Modules that ``frozen_stages >= index`` freezes (0: stem, 1-4: stage + transition)."""
        if index == 0:
            return [self.conv1, self.norm1, self.conv2, self.norm2]
        mods = [self.layer1 if index == 1 else getattr(self, f'stage{index}')]
        if index < 4:
            mods.append(getattr(self, f'transition{index}'))
        return mods

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages + 1):
            for m in self.stage_modules(i):
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False

    def _zero_init_residual(self) -> None:
        from .blocks import _ResidualUnit
        for m in self.modules():
            if isinstance(m, _ResidualUnit) and hasattr(m.last_norm, 'weight'):
                nn.init.zeros_(m.last_norm.weight)

    def init_weights(self) -> None:
        """mmengine init, then ``zero_init_residual`` unless a pretrained checkpoint is loaded."""
        super().init_weights()
        pretrained = isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'
        if self.zero_init_residual and not pretrained:
            self._zero_init_residual()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        check_input(x, self.in_channels, type(self).__name__)
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in (2, 3, 4):
            transition = getattr(self, f'transition{k - 1}')
            xs = []
            for i, t in enumerate(transition):
                if t is None:
                    xs.append(ys[i])
                else:
                    xs.append(t(ys[i] if i < len(ys) else ys[-1]))
            ys = getattr(self, f'stage{k}')(xs)
        return tuple(ys)

    def train(self, mode: bool = True) -> 'HRNet':
        """Set train mode, keeping frozen stages (and norms when ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if is_norm(m):
                    m.eval()
        return self
