"""HRNet architecture presets as data.

A preset is a frozen :class:`HRNetArch` of four :class:`StageSpec`; variants are made with
``dataclasses.replace`` and never by mutating the table. The mm ``extra=`` dict is converted
once, at the edge, by :func:`arch_from_extra`.
"""
from dataclasses import dataclass
from typing import Dict, Mapping, Tuple, Union

BLOCK_TYPES = ('BASIC', 'BOTTLENECK')


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``num_modules`` HR modules of ``num_branches`` parallel streams.

    Attributes:
        num_modules (int): HR modules (each ends with an exchange unit).
        num_branches (int): Parallel streams (1 to 4; stage ``k`` has ``k``).
        block (str): Residual unit, ``'BASIC'`` or ``'BOTTLENECK'``.
        num_blocks (tuple[int]): Residual units per branch.
        num_channels (tuple[int]): Width of each branch before block expansion.
    """
    num_modules: int
    num_branches: int
    block: str
    num_blocks: Tuple[int, ...]
    num_channels: Tuple[int, ...]

    def validate(self, name: str) -> None:
        """Raise ``ValueError`` naming the field that is inconsistent."""
        if self.block not in BLOCK_TYPES:
            raise ValueError(f'{name}.block must be one of {BLOCK_TYPES}, got {self.block!r}')
        if self.num_modules < 1:
            raise ValueError(f'{name}.num_modules must be >= 1, got {self.num_modules}')
        for field in ('num_blocks', 'num_channels'):
            value = getattr(self, field)
            if len(value) != self.num_branches:
                raise ValueError(
                    f'{name}.{field} has {len(value)} entries but {name}.num_branches is '
                    f'{self.num_branches}: give one value per branch')
            if any(int(v) < 1 for v in value):
                raise ValueError(f'{name}.{field} must be positive, got {tuple(value)}')


@dataclass(frozen=True)
class HRNetArch:
    """The four stages of an HRNet. ``stages[0]`` is stage 1 (one stream, bottlenecks)."""
    stages: Tuple[StageSpec, StageSpec, StageSpec, StageSpec]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the stage and field that is wrong."""
        if len(self.stages) != 4:
            raise ValueError(f'an HRNet has 4 stages, got {len(self.stages)}')
        for k, stage in enumerate(self.stages, start=1):
            stage.validate(f'stage{k}')
            if stage.num_branches != k:
                raise ValueError(f'stage{k}.num_branches must be {k}, got {stage.num_branches}')

    @property
    def width(self) -> int:
        """Width C of the high-resolution stream in stages 2-4 (the W in HRNet-W32)."""
        return self.stages[1].num_channels[0]


def _wide(c: int) -> HRNetArch:
    """HRNet-W<c>: stage 1 four bottlenecks, stages 2-4 1/4/3 modules of 4 basic blocks."""
    return HRNetArch((
        StageSpec(1, 1, 'BOTTLENECK', (4,), (64,)),
        StageSpec(1, 2, 'BASIC', (4, 4), (c, 2 * c)),
        StageSpec(4, 3, 'BASIC', (4, 4, 4), (c, 2 * c, 4 * c)),
        StageSpec(3, 4, 'BASIC', (4, 4, 4, 4), (c, 2 * c, 4 * c, 8 * c)),
    ))


ARCH_PRESETS: Mapping[str, HRNetArch] = {
    'w18_small_v1': HRNetArch((
        StageSpec(1, 1, 'BOTTLENECK', (1,), (32,)),
        StageSpec(1, 2, 'BASIC', (2, 2), (16, 32)),
        StageSpec(1, 3, 'BASIC', (2, 2, 2), (16, 32, 64)),
        StageSpec(1, 4, 'BASIC', (2, 2, 2, 2), (16, 32, 64, 128)),
    )),
    'w18_small_v2': HRNetArch((
        StageSpec(1, 1, 'BOTTLENECK', (2,), (64,)),
        StageSpec(1, 2, 'BASIC', (2, 2), (18, 36)),
        StageSpec(3, 3, 'BASIC', (2, 2, 2), (18, 36, 72)),
        StageSpec(2, 4, 'BASIC', (2, 2, 2, 2), (18, 36, 72, 144)),
    )),
    # w16 is the "Small HRNet" of some pose works.
    **{f'w{c}': _wide(c) for c in (16, 18, 30, 32, 40, 44, 48, 64)},
}


def arch_from_extra(extra: Mapping) -> HRNetArch:
    """Convert the mm ``extra=`` dict (``stage1`` ... ``stage4``) into an :class:`HRNetArch`.

    Keys other than the stage fields (``upsample``, ``multiscale_output`` inside ``stage4``,
    ``final_conv_kernel`` ...) are read by :class:`~hrnet_mm.models.HRNet` itself.

    Example:
        >>> arch = arch_from_extra(dict(
        ...     stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
        ...                 num_blocks=(4,), num_channels=(64,)),
        ...     stage2=dict(num_modules=1, num_branches=2, block='BASIC',
        ...                 num_blocks=(4, 4), num_channels=(32, 64)),
        ...     stage3=dict(num_modules=4, num_branches=3, block='BASIC',
        ...                 num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
        ...     stage4=dict(num_modules=3, num_branches=4, block='BASIC',
        ...                 num_blocks=(4, 4, 4, 4), num_channels=(32, 64, 128, 256))))
        >>> arch == ARCH_PRESETS['w32']
        True
    """
    stages = []
    for k in range(1, 5):
        key = f'stage{k}'
        if key not in extra:
            raise ValueError(f'extra is missing "{key}" (needs stage1..stage4)')
        cfg = extra[key]
        missing = [f for f in ('num_modules', 'num_branches', 'block', 'num_blocks',
                               'num_channels') if f not in cfg]
        if missing:
            raise ValueError(f'extra["{key}"] is missing {missing}')
        stages.append(StageSpec(int(cfg['num_modules']), int(cfg['num_branches']),
                                str(cfg['block']), tuple(int(v) for v in cfg['num_blocks']),
                                tuple(int(v) for v in cfg['num_channels'])))
    arch = HRNetArch(tuple(stages))
    arch.validate()
    return arch


def arch_to_extra(arch: HRNetArch) -> Dict[str, dict]:
    """The mm ``extra=`` dict of ``arch`` (for building the toolboxes' own HRNet)."""
    return {f'stage{k}': dict(num_modules=s.num_modules, num_branches=s.num_branches,
                              block=s.block, num_blocks=s.num_blocks,
                              num_channels=s.num_channels)
            for k, s in enumerate(arch.stages, start=1)}


def resolve_arch(arch: Union[str, HRNetArch, None], extra: Union[Mapping, None]) -> HRNetArch:
    """Pick the architecture from ``arch`` (preset name or :class:`HRNetArch`) or ``extra``."""
    if extra is not None:
        if arch is not None:
            raise ValueError('give either arch or extra, not both')
        return arch_from_extra(extra)
    if arch is None:
        raise ValueError(f'arch is required: one of {sorted(ARCH_PRESETS)}, an HRNetArch, '
                         'or the mm extra= dict')
    if isinstance(arch, str):
        if arch not in ARCH_PRESETS:
            raise ValueError(f'arch must be one of {sorted(ARCH_PRESETS)}, got {arch!r}')
        return ARCH_PRESETS[arch]
    if isinstance(arch, HRNetArch):
        arch.validate()
        return arch
    if isinstance(arch, Mapping):
        return arch_from_extra(arch)
    raise ValueError(f'arch must be a preset name, an HRNetArch or an extra dict, got {arch!r}')


__all__ = ['StageSpec', 'HRNetArch', 'ARCH_PRESETS', 'arch_from_extra', 'arch_to_extra',
           'resolve_arch']
