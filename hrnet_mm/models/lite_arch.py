"""Lite-HRNet architecture presets as data.

A preset is a frozen :class:`LiteHRNetArch`: a :class:`LiteStemSpec` and one
:class:`LiteStageSpec` per stage. Variants are made with ``dataclasses.replace``, never by
mutating the table. mmpose's (and the official repository's) ``extra=`` dict is converted once,
at the edge, by :func:`lite_arch_from_extra`, and :func:`lite_arch_to_extra` gives it back (for
building mmpose's own ``LiteHRNet`` in parity tests).

The presets follow the official configs (HRNet/Lite-HRNet, ``configs/top_down``): a 32-channel
shuffle-style stem at 1/4 resolution, then three stages of 2, 3 and 4 streams with 2 blocks per
module, and the iterative head. ``lite18`` and ``lite30`` use conditional channel weighting
(``'LITE'``) with reduce ratio 8; ``naive18`` and ``wider_naive18`` use shuffle blocks
(``'NAIVE'``), for which the reduce ratio is unused (the official configs write 1).
"""
from dataclasses import dataclass
from typing import Dict, Mapping, Tuple, Union

MODULE_TYPES = ('LITE', 'NAIVE')


@dataclass(frozen=True)
class LiteStemSpec:
    """The stem: a 3x3 stride-2 conv, then a stride-2 shuffle block (output at 1/4).

    Attributes:
        stem_channels (int): Width of the first conv (even: it is split in two halves).
        out_channels (int): Width of the stem output.
        expand_ratio (float): Expansion of the stem block's inverted-residual branch.
    """
    stem_channels: int = 32
    out_channels: int = 32
    expand_ratio: float = 1

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field that is wrong."""
        if self.stem_channels < 2 or self.stem_channels % 2:
            raise ValueError(f'stem.stem_channels must be an even number >= 2, got '
                             f'{self.stem_channels}')
        low = (self.stem_channels // 2 if self.stem_channels == self.out_channels
               else self.stem_channels) + 1
        if self.out_channels < low:
            raise ValueError(f'stem.out_channels must be >= {low} for stem_channels='
                             f'{self.stem_channels}, got {self.out_channels}')
        if not self.expand_ratio > 0 or round(self.stem_channels * self.expand_ratio) < 1:
            raise ValueError(f'stem.expand_ratio must be > 0 (and leave at least one channel), '
                             f'got {self.expand_ratio}')


@dataclass(frozen=True)
class LiteStageSpec:
    """One stage: ``num_modules`` Lite-HR modules of ``num_branches`` parallel streams.

    Attributes:
        num_modules (int): Modules in the stage (each ends with a fusion unless
            ``with_fuse`` is False).
        num_branches (int): Parallel streams; stream ``k`` runs at 1/(4 * 2**k).
        num_blocks (int): Blocks per module (conditional channel weighting blocks for
            ``'LITE'``, shuffle blocks on each stream for ``'NAIVE'``).
        module_type (str): ``'LITE'`` or ``'NAIVE'``.
        with_fuse (bool): Whether each module ends with the multi-resolution fusion.
        reduce_ratio (int): Channel reduction of the cross-resolution weighting (``'LITE'``
            only; ignored by ``'NAIVE'``).
        num_channels (tuple[int]): Width of each stream (even: blocks split channels in two).
    """
    num_modules: int
    num_branches: int
    num_blocks: int
    module_type: str
    with_fuse: bool
    reduce_ratio: int
    num_channels: Tuple[int, ...]

    def validate(self, name: str) -> None:
        """Raise ``ValueError`` naming the field that is inconsistent."""
        if self.module_type not in MODULE_TYPES:
            raise ValueError(f'{name}.module_type must be one of {MODULE_TYPES}, got '
                             f'{self.module_type!r}')
        for field in ('num_modules', 'num_branches', 'num_blocks', 'reduce_ratio'):
            if getattr(self, field) < 1:
                raise ValueError(f'{name}.{field} must be >= 1, got {getattr(self, field)}')
        if len(self.num_channels) != self.num_branches:
            raise ValueError(f'{name}.num_channels has {len(self.num_channels)} entries but '
                             f'{name}.num_branches is {self.num_branches}: give one per branch')
        if any(c < 2 or c % 2 for c in self.num_channels):
            raise ValueError(f'{name}.num_channels must be even numbers >= 2 (blocks split '
                             f'the channels in two halves), got {self.num_channels}')
        if self.module_type == 'LITE':
            if any(c // 2 < 4 for c in self.num_channels):
                raise ValueError(f'{name}.num_channels must be >= 8 for "LITE" modules (the '
                                 f'spatial weighting reduces half the width by 4), got '
                                 f'{self.num_channels}')
            if int(sum(c // 2 for c in self.num_channels) / self.reduce_ratio) < 1:
                raise ValueError(f'{name}.reduce_ratio {self.reduce_ratio} leaves no channel '
                                 f'in the cross-resolution weighting of {self.num_channels}')


@dataclass(frozen=True)
class LiteHRNetArch:
    """A Lite-HRNet: the stem, the stages and whether the iterative head closes the network.

    Attributes:
        stem (LiteStemSpec): The stem.
        stages (tuple[LiteStageSpec]): The stages, in order (the official nets have three).
        with_head (bool): Whether the iterative head (coarse-to-fine sums of the streams)
            closes the backbone; it changes the stream widths, see :attr:`out_channels`.
    """
    stem: LiteStemSpec
    stages: Tuple[LiteStageSpec, ...]
    with_head: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` naming the stage and field that is wrong."""
        self.stem.validate()
        if len(self.stages) < 1:
            raise ValueError('stages must hold at least one stage')
        for k, stage in enumerate(self.stages):
            stage.validate(f'stages[{k}]')

    @property
    def num_streams(self) -> int:
        """Streams leaving the last stage."""
        return self.stages[-1].num_branches

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Width of every output stream, highest resolution first.

        The iterative head maps each stream (from the lowest resolution up) to the width of
        the next higher one, and keeps the width of stream 0: (40, 80, 160, 320) becomes
        (40, 40, 80, 160).
        """
        channels = tuple(self.stages[-1].num_channels)
        if self.with_head:
            channels = (channels[0],) + channels[:-1]
        return channels


def _official(width: int, module_type: str, num_modules: Tuple[int, int, int],
              reduce_ratio: int) -> LiteHRNetArch:
    """The official layout: stem 32, stages of 2/3/4 streams, 2 blocks, iterative head."""
    return LiteHRNetArch(
        stem=LiteStemSpec(32, 32, 1),
        stages=tuple(
            LiteStageSpec(num_modules=m, num_branches=k + 2, num_blocks=2,
                          module_type=module_type, with_fuse=True, reduce_ratio=reduce_ratio,
                          num_channels=tuple(width * 2**b for b in range(k + 2)))
            for k, m in enumerate(num_modules)),
        with_head=True)


LITE_ARCH_PRESETS: Mapping[str, LiteHRNetArch] = {
    'lite18': _official(40, 'LITE', (2, 4, 2), 8),
    'lite30': _official(40, 'LITE', (3, 8, 3), 8),
    # The naive nets replace channel weighting by shuffle blocks; the official configs write
    # reduce_ratios=(1, 1, 1) with the comment "will be ignored".
    'naive18': _official(30, 'NAIVE', (2, 4, 2), 1),
    'wider_naive18': _official(40, 'NAIVE', (2, 4, 2), 1),
}

_STAGE_FIELDS = ('num_modules', 'num_branches', 'num_blocks', 'module_type', 'with_fuse',
                 'reduce_ratios', 'num_channels')


def lite_arch_from_extra(extra: Mapping) -> LiteHRNetArch:
    """Convert mmpose's / the official ``extra=`` dict into a :class:`LiteHRNetArch`.

    Example:
        >>> extra = dict(
        ...     stem=dict(stem_channels=32, out_channels=32, expand_ratio=1),
        ...     num_stages=3,
        ...     stages_spec=dict(
        ...         num_modules=(2, 4, 2), num_branches=(2, 3, 4), num_blocks=(2, 2, 2),
        ...         module_type=('LITE', 'LITE', 'LITE'), with_fuse=(True, True, True),
        ...         reduce_ratios=(8, 8, 8),
        ...         num_channels=((40, 80), (40, 80, 160), (40, 80, 160, 320))),
        ...     with_head=True)
        >>> lite_arch_from_extra(extra) == LITE_ARCH_PRESETS['lite18']
        True
    """
    if not isinstance(extra, Mapping):
        raise ValueError(f'extra must be a dict, got {type(extra).__name__}')
    missing = [k for k in ('stem', 'num_stages', 'stages_spec') if k not in extra]
    if missing:
        raise ValueError(f'extra is missing {missing} (needs stem, num_stages, stages_spec '
                         'and optionally with_head)')
    stem_cfg = extra['stem']
    missing = [k for k in ('stem_channels', 'out_channels', 'expand_ratio') if k not in stem_cfg]
    if missing:
        raise ValueError(f'extra["stem"] is missing {missing}')
    stem = LiteStemSpec(int(stem_cfg['stem_channels']), int(stem_cfg['out_channels']),
                        stem_cfg['expand_ratio'])
    num_stages = extra['num_stages']
    if not isinstance(num_stages, int) or num_stages < 1:
        raise ValueError(f'extra["num_stages"] must be an int >= 1, got {num_stages!r}')
    spec = extra['stages_spec']
    missing = [k for k in _STAGE_FIELDS if k not in spec]
    if missing:
        raise ValueError(f'extra["stages_spec"] is missing {missing}')
    for field in _STAGE_FIELDS:
        if len(spec[field]) < num_stages:
            raise ValueError(f'extra["stages_spec"]["{field}"] has {len(spec[field])} entries '
                             f'but extra["num_stages"] is {num_stages}')
    stages = []
    for k in range(num_stages):
        module_type = str(spec['module_type'][k]).upper()
        stages.append(LiteStageSpec(
            num_modules=int(spec['num_modules'][k]),
            num_branches=int(spec['num_branches'][k]),
            num_blocks=int(spec['num_blocks'][k]),
            module_type=module_type,
            with_fuse=bool(spec['with_fuse'][k]),
            reduce_ratio=int(spec['reduce_ratios'][k]),
            num_channels=tuple(int(c) for c in spec['num_channels'][k])))
    arch = LiteHRNetArch(stem, tuple(stages), bool(extra.get('with_head', False)))
    try:
        arch.validate()
    except ValueError as err:  # say where the wrong value came from
        raise ValueError(f'extra: {err}') from None
    return arch


def lite_arch_to_extra(arch: LiteHRNetArch) -> Dict:
    """The mmpose ``extra=`` dict of ``arch`` (for building mmpose's own ``LiteHRNet``).

    Example:
        >>> lite_arch_from_extra(lite_arch_to_extra(LITE_ARCH_PRESETS['naive18'])) \\
        ...     == LITE_ARCH_PRESETS['naive18']
        True
    """
    stages = arch.stages
    return dict(
        stem=dict(stem_channels=arch.stem.stem_channels, out_channels=arch.stem.out_channels,
                  expand_ratio=arch.stem.expand_ratio),
        num_stages=len(stages),
        stages_spec=dict(
            num_modules=tuple(s.num_modules for s in stages),
            num_branches=tuple(s.num_branches for s in stages),
            num_blocks=tuple(s.num_blocks for s in stages),
            module_type=tuple(s.module_type for s in stages),
            with_fuse=tuple(s.with_fuse for s in stages),
            reduce_ratios=tuple(s.reduce_ratio for s in stages),
            num_channels=tuple(tuple(s.num_channels) for s in stages)),
        with_head=arch.with_head)


def resolve_lite_arch(arch: Union[str, LiteHRNetArch, Mapping, None],
                      extra: Union[Mapping, None]) -> LiteHRNetArch:
    """Pick the architecture from ``arch`` (preset name, :class:`LiteHRNetArch` or an mm
    ``extra`` dict) or from ``extra``."""
    if extra is not None:
        if arch is not None:
            raise ValueError('give either arch or extra, not both')
        return lite_arch_from_extra(extra)
    if arch is None:
        raise ValueError(f'arch is required: one of {sorted(LITE_ARCH_PRESETS)}, a '
                         'LiteHRNetArch, or the mmpose extra= dict')
    if isinstance(arch, str):
        if arch not in LITE_ARCH_PRESETS:
            raise ValueError(f'arch must be one of {sorted(LITE_ARCH_PRESETS)}, got {arch!r}')
        return LITE_ARCH_PRESETS[arch]
    if isinstance(arch, LiteHRNetArch):
        arch.validate()
        return arch
    if isinstance(arch, Mapping):
        return lite_arch_from_extra(arch)
    raise ValueError(f'arch must be a preset name, a LiteHRNetArch or an extra dict, got '
                     f'{arch!r}')


__all__ = ['LiteStemSpec', 'LiteStageSpec', 'LiteHRNetArch', 'LITE_ARCH_PRESETS',
           'lite_arch_from_extra', 'lite_arch_to_extra', 'resolve_lite_arch']
