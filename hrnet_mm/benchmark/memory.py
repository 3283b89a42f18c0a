"""Activation memory, measured in a fresh process: the peak resident set of one call minus
the resident set just before it.

The probe process (``python -m hrnet_mm.benchmark --probe JOB ...``, started by
:func:`run_probe`) runs one thread with glibc's mmap threshold at 64 KiB, so freed tensors go
back to the OS at once and the resident set tracks live memory; the peak (``VmHWM``) is reset
through ``/proc/self/clear_refs`` after a warm-up call.
"""
import ctypes
import json
import os
import re
import subprocess
import sys
from typing import Callable, Dict, List

import torch

from .common import REPO_ROOT, log
from .scaling import scaling_points
from .sections import Context, register_section
from .specs import SPECS, build_pair
from .variants import MEM_INFER_VARIANTS, TRAIN_VARIANTS, TrainStep, forward_variants, train_models


def _vm(field: str) -> float:
    with open('/proc/self/status') as f:
        return int(re.search(field + r':\s+(\d+)', f.read()).group(1)) / 1024


def _reset_peak() -> float:
    """Give freed memory back, reset the peak resident set; return the resident set (MiB)."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:
        pass
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return _vm('VmRSS')


def measure_peak(fn: Callable[[], object]) -> dict:
    """Extra resident memory of ``fn()`` at its peak (MiB), and the process peak."""
    before = _reset_peak()
    fn()
    peak = _vm('VmHWM')
    return dict(before_mib=before, peak_rss_mib=peak, extra_mib=peak - before)


def run_probe(jobs: List[str], quick: bool) -> Dict[str, dict]:
    """Run the memory probe for ``jobs`` (model names, ``'scaling'``) in a fresh process;
    return ``{job: result}`` (``{job: {'error': ...}}`` when it failed).

    The probe runs one thread with sleeping OpenMP waits: memory does not depend on it, and
    two spinning threads on a machine shared with other jobs can take ten times as long.
    """
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', OMP_NUM_THREADS='1',
               OMP_WAIT_POLICY='PASSIVE')
    cmd = [sys.executable, '-m', 'hrnet_mm.benchmark', '--threads', '1', '--probe'] + jobs
    if quick:
        cmd.append('--quick')
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('PROBE ')]
    if r.returncode != 0 or not lines:
        err = f'probe {jobs} failed (rc {r.returncode}): {r.stderr[-800:]}'
        return {job: dict(error=err) for job in jobs}
    return json.loads(lines[-1][6:])


def probe(jobs: List[str], quick: bool) -> Dict[str, dict]:
    """The probe process's work: ``{job: result}`` for model names and ``'scaling'``."""
    return {job: probe_scaling(quick) if job == 'scaling' else probe_model(job, quick)
            for job in jobs}


def probe_model(name: str, quick: bool) -> dict:
    """Memory of the inference variants and of one training step per training variant."""
    spec = SPECS[name]
    shape = spec.quick_shape if quick else spec.shape
    theirs, ours, _ = build_pair(spec)
    x = torch.rand(*shape)
    result = dict(inference={}, train={})
    variants = forward_variants(theirs, ours, spec.task, MEM_INFER_VARIANTS)
    for vname, fn in variants.items():
        with torch.no_grad():
            result['inference'][vname] = measure_peak(lambda: fn(x))
    if spec.task == 'pose':
        for vname, (model, cl) in train_models(theirs, ours, TRAIN_VARIANTS).items():
            try:
                step = TrainStep(model, spec.task, x, cl)
                step()  # warm-up: gradients, momentum buffers, kernels
                result['train'][vname] = measure_peak(step)
            except Exception as e:  # noqa: BLE001
                result['train'][vname] = dict(error=f'{type(e).__name__}: {e}'[:200])
    return result


def probe_scaling(quick: bool) -> dict:
    """Inference memory of W32 pose (theirs, ours fast fp32 / bf16) over sizes and batches."""
    theirs, ours, _ = build_pair(SPECS['pose_w32'])
    variants = forward_variants(theirs, ours, 'pose', ('theirs', 'ours_fast', 'ours_fast_bf16'))
    out = {}
    for key, shape in scaling_points(quick):
        for vname, fn in variants.items():
            x = torch.rand(*shape)
            with torch.no_grad():
                out[f'{key}/{vname}'] = measure_peak(lambda: fn(x))
    return out


def attach_memory(res: dict, mem: dict) -> None:
    """Put a model's probe result into its results, with ratios to theirs."""
    res['memory'] = mem
    for part in ('train', 'inference'):
        variants = mem.get(part, {})
        base = variants.get('theirs', {}).get('extra_mib')
        for v in variants.values():
            if base and 'extra_mib' in v:
                v['ratio'] = v['extra_mib'] / base


def attach_scaling_memory(res: dict, mem: dict) -> None:
    """Put the scaling probe's result (``'key/variant' -> peak``) into the scaling results."""
    for k, v in mem.items():
        if k == 'error' or 'extra_mib' not in v:
            res['memory_error'] = v
            continue
        key, n = k.split('/')
        if n in res.get(key, {}):
            res[key][n]['extra_mib'] = v['extra_mib']


@register_section('memory', help='inference and training-step activation memory of the '
                  'models in the results, and of the scaling points (fresh processes)')
def memory_section(ctx: Context) -> None:
    """Probe the models of this run that are in the results (the full run: one process per
    model; ``--quick``: pose_w32 only, or the single model) and the scaling points."""
    args, results = ctx.args, ctx.results
    if args.no_memory:
        return
    names = [n for n in ctx.names if n in results['models']]
    if args.quick:  # one model is enough to exercise the probe
        names = [n for n in names if n == 'pose_w32' or len(ctx.names) == 1]
    scaling = 'scaling' in results and not args.no_scaling
    if args.quick:
        jobs = names + (['scaling'] if scaling else [])
        if not jobs:
            return
        log(f'memory probe (one subprocess): {", ".join(jobs)}')
        mem = run_probe(jobs, True)
    else:
        mem = {}
        for name in names:
            log(f'{name}: memory probe (subprocess)')
            mem.update(run_probe([name], False))
        if scaling:
            log('scaling: memory probe (subprocess)')
            mem.update(run_probe(['scaling'], False))
    for job, m in mem.items():
        if job == 'scaling':
            attach_scaling_memory(results['scaling'], m)
        else:
            attach_memory(results['models'][job], m)
    ctx.loads.append(os.getloadavg()[0])
