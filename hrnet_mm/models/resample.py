"""Resampling choices of the HRNet copies, as one explicit, validated setting.

mmpose, mmdet and the official classification/pose repos upsample with ``nearest``; mmseg uses
``bilinear`` (``align_corners=False``) and, for sizes that are not multiples of 32, first scales
by the stride ratio and then resizes to the exact size (``scale_first=True``); the official
segmentation OCR branch uses ``align_corners=True``. Each is a named, reproducible choice here.
"""
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F

UPSAMPLE_MODES = ('nearest', 'bilinear')


@dataclass(frozen=True)
class Upsample:
    """How lower-resolution streams are brought to a higher resolution.

    Attributes:
        mode (str): ``'nearest'`` or ``'bilinear'``.
        align_corners (bool, optional): For ``bilinear`` only (None means False).
        scale_first (bool): mmseg's behaviour: scale by the exact power of two, then resize
            to the target size when the two differ (only for sizes not divisible by 32).

    Example:
        >>> up = Upsample.from_cfg(dict(mode='bilinear', align_corners=False))
        >>> up(torch.ones(1, 1, 2, 2), (3, 5), 2).shape
        torch.Size([1, 1, 3, 5])
    """
    mode: str = 'nearest'
    align_corners: Optional[bool] = None
    scale_first: bool = False

    def __post_init__(self):
        if self.mode not in UPSAMPLE_MODES:
            raise ValueError(f'upsample mode must be one of {UPSAMPLE_MODES}, got {self.mode!r}')
        if self.mode == 'nearest' and self.align_corners:
            raise ValueError('upsample align_corners=True needs mode "bilinear"')

    @classmethod
    def from_cfg(cls, cfg: Union['Upsample', Mapping, str, None]) -> 'Upsample':
        """Accept an :class:`Upsample`, a mode name or an mm-style ``dict(mode=, align_corners=)``."""
        if cfg is None:
            return cls()
        if isinstance(cfg, cls):
            return cfg
        if isinstance(cfg, str):
            return cls(mode=cfg)
        if isinstance(cfg, Mapping):
            unknown = set(cfg) - {'mode', 'align_corners', 'scale_first'}
            if unknown:
                raise ValueError(f'upsample has unknown keys {sorted(unknown)}; allowed: '
                                 'mode, align_corners, scale_first')
            return cls(**cfg)
        raise ValueError(f'upsample must be a mode name, a dict or Upsample, got {cfg!r}')

    @property
    def _align(self) -> Optional[bool]:
        return None if self.mode == 'nearest' else bool(self.align_corners)

    def __call__(self, x: torch.Tensor, size: Sequence[int], factor: int) -> torch.Tensor:
        """Resize ``x`` to ``size``; ``factor`` is the nominal stride ratio (a power of 2)."""
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            # Keep sizes symbolic so that an export with dynamic H/W resizes to the real size
            # (a Python-level shape comparison would be frozen into the graph).
            if self.scale_first:
                x = F.interpolate(x, scale_factor=float(factor), mode=self.mode,
                                  align_corners=self._align)
            return F.interpolate(x, size=size, mode=self.mode, align_corners=self._align)
        size = (int(size[0]), int(size[1]))
        if tuple(x.shape[-2:]) == size:
            return x
        if self.scale_first:
            x = F.interpolate(x, size=(x.shape[-2] * factor, x.shape[-1] * factor),
                              mode=self.mode, align_corners=self._align)
            if tuple(x.shape[-2:]) == size:
                return x
        return F.interpolate(x, size=size, mode=self.mode, align_corners=self._align)
