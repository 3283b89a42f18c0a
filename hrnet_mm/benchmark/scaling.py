"""HRNet-W32 pose forward time vs input size and batch: mmpose fp32 against ours optimised."""
import os
from typing import List, Tuple

import torch

from .common import log
from .sections import Context, register_section
from .specs import SPECS, build_pair
from .timing import time_interleaved
from .variants import forward_variants

SCALING_VARIANTS = ('theirs', 'ours_fast', 'ours_fast_bf16')


def scaling_points(quick: bool) -> List[Tuple[str, Tuple[int, ...]]]:
    """(key, input shape) of the sweep: sizes at batch 1, then batches at the first size.

    Example:
        >>> [k for k, _ in scaling_points(quick=True)]
        ['size 128x96 batch 1', 'size 256x192 batch 1', 'size 128x96 batch 2']
    """
    # mmpose's HRNet needs sizes divisible by 32
    sizes = [(128, 96), (256, 192)] if quick else [(256, 192), (512, 384), (1024, 768)]
    batches = [1, 2] if quick else [1, 8, 32]
    pts = [(f'size {h}x{w} batch 1', (1, 3, h, w)) for h, w in sizes]
    h, w = sizes[0]
    pts += [(f'size {h}x{w} batch {b}', (b, 3, h, w)) for b in batches if b != 1]
    return pts


def bench_scaling(quick: bool) -> dict:
    """Interleaved forward times at every :func:`scaling_points` point.

    Returns:
        key -> ``shape`` and, per variant, the timing of
        :func:`hrnet_mm.benchmark.timing.time_interleaved` with ``img_per_s``.
    """
    log('scaling: W32 pose forward vs input size and batch')
    theirs, ours, _ = build_pair(SPECS['pose_w32'])
    names = list(SCALING_VARIANTS)
    variants = forward_variants(theirs, ours, 'pose', names)
    res = {}
    for key, shape in scaling_points(quick):
        x = torch.rand(*shape)

        def caller(n):
            def call():
                with torch.no_grad():
                    variants[n](x)
            return call

        big = shape[0] * shape[2] * shape[3] > 8 * 256 * 192
        rounds = 1 if quick else (2 if big else 3)
        t = time_interleaved({n: caller(n) for n in names}, rounds, f'scaling {key}')
        for v in t.values():
            if 'median_s' in v:
                v['img_per_s'] = shape[0] / v['median_s']
        res[key] = dict(shape=list(shape), **t)
    return res


@register_section('scaling', help='W32 pose forward time vs input size and batch')
def scaling_section(ctx: Context) -> None:
    """Time the sweep into ``results['scaling']``; the memory of each point (the memory
    section's) is kept from the results being merged into."""
    if ctx.args.no_scaling:
        return
    new = bench_scaling(ctx.args.quick)
    old = ctx.results.get('scaling', {})
    for key, point in new.items():
        for variant, t in point.items():
            before = old.get(key, {}).get(variant) if isinstance(t, dict) else None
            if isinstance(before, dict) and 'extra_mib' in before:
                t.setdefault('extra_mib', before['extra_mib'])
    if 'memory_error' in old:
        new['memory_error'] = old['memory_error']
    ctx.results['scaling'] = new
    ctx.loads.append(os.getloadavg()[0])
