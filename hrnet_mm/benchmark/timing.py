"""Timing on a shared machine: interleaved rounds, disturbed rounds discarded, waiting for
quiet, the thread count and the measured GEMM peak."""
import os
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from .common import log

MAX_ROUND_FACTOR = 3   # at most 3x the requested rounds when other jobs disturb them
DISTURBED = 1.5        # a round is disturbed when any time in it is > 1.5x that variant's best


def pin_threads(threads: int) -> None:
    """Fix torch's intra-op thread count for the whole run (every variant gets the same)."""
    torch.set_num_threads(threads)


def time_interleaved(fns: Dict[str, Callable[[], object]], rounds: int,
                     label: str) -> Dict[str, dict]:
    """Warm up each, then ``rounds`` rounds of one call each, the order rotated by one every
    round (A, B, C, B, C, A, C, A, B ...): a runtime's leftover work (worker threads still
    spinning, evicted caches) slows whichever variant runs next, and rotating spreads that
    over all variants instead of charging it to the same neighbour every round.

    A variant whose warm-up call raises is reported (``{'error': ...}``) and left out, so a
    toolbox bug (e.g. mm's ``with_cp``) does not end the run.

    Args:
        fns: name -> the call to time.
        rounds: undisturbed rounds wanted (up to :data:`MAX_ROUND_FACTOR` x as many are run).
        label: prefix of the progress lines.

    Returns:
        name -> ``first_call_s``, ``times_s``, ``rounds_used``, ``median_s`` (or ``error``);
        the first variant also gets ``disturbed_rounds``.
    """
    res = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        try:
            fn()
            res[name] = dict(first_call_s=time.perf_counter() - t, times_s=[])
        except Exception as e:  # noqa: BLE001  (reported, not fatal: e.g. mm's with_cp bugs)
            res[name] = dict(error=f'{type(e).__name__}: {str(e).splitlines()[0][:200]}')
            log(f'{label}: {name} failed: {res[name]["error"]}')
        log(f'{label}: warmed up {name} ({time.perf_counter() - t:.1f} s)')
    alive = [n for n in fns if 'error' not in res[n]]
    if not alive:
        return res
    done = 0
    while True:
        shift = done % len(alive)
        for name in alive[shift:] + alive[:shift]:
            t = time.perf_counter()
            fns[name]()
            res[name]['times_s'].append(time.perf_counter() - t)
        done += 1
        clean = _clean_rounds(res, alive, done)
        log(f'{label}: round {done} ({len(clean)}/{rounds} undisturbed) ' + ' '.join(
            f'{n}={res[n]["times_s"][-1]:.3f}s' for n in alive))
        if len(clean) >= rounds or done >= MAX_ROUND_FACTOR * rounds:
            break
    if len(clean) < rounds:  # never quiet: use every round, and say so
        clean = list(range(done))
    for name in alive:
        res[name]['rounds_used'] = clean
        res[name]['median_s'] = statistics.median(res[name]['times_s'][i] for i in clean)
    res[alive[0]]['disturbed_rounds'] = done - len(clean) if len(clean) < done else 0
    return res


def _clean_rounds(res: dict, names: Sequence[str], done: int) -> List[int]:
    """Rounds in which no variant took more than ``DISTURBED`` x its fastest time: other jobs
    on a shared machine stall whole rounds (OpenMP threads waiting on a descheduled peer), and
    since every round times all variants, dropping whole rounds keeps the ratios fair."""
    best = {n: min(res[n]['times_s']) for n in names}
    return [i for i in range(done)
            if all(res[n]['times_s'][i] <= DISTURBED * best[n] for n in names)]


def wait_for_idle_cpu(max_other_cores: float = 0.5, max_wait_s: float = 300) -> float:
    """Wait (up to ``max_wait_s``) until other processes use less than ``max_other_cores``
    cores, sampled over 5 s while this process sleeps; returns the last sample."""
    def busy():
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v) - idle, sum(v)

    t0 = time.time()
    while True:
        b0, t_0 = busy()
        time.sleep(5)
        b1, t_1 = busy()
        others = (b1 - b0) / max(t_1 - t_0, 1) * (os.cpu_count() or 1)
        if others < max_other_cores or time.time() - t0 > max_wait_s:
            return others
        log(f'other jobs use {others:.1f} cores: waiting ({time.time() - t0:.0f} s)')


def wait_for_quiet(max_load: float, max_wait_s: float) -> dict:
    """Wait (up to ``max_wait_s``) until the 1-min load average is below ``max_load``.

    Returns:
        ``before`` (the load when starting), ``waited_s`` and a ``note`` for the report when
        the load never dropped.
    """
    t0 = time.time()
    load = os.getloadavg()[0]
    while load >= max_load and time.time() - t0 < max_wait_s:
        log(f'load average {load:.2f} >= {max_load}: waiting ({time.time() - t0:.0f} s)')
        time.sleep(30)
        load = os.getloadavg()[0]
    waited = time.time() - t0
    note = '' if load < max_load else (f'The load never dropped below {max_load} in '
                                       f'{max_wait_s / 60:.0f} min of waiting: other jobs shared '
                                       f'the cores, so absolute times are pessimistic and noisy; '
                                       f'the interleaved ratios are the meaningful numbers.')
    return dict(before=load, waited_s=waited, note=note)


def gemm_peak(quick: bool, previous: Optional[dict] = None,
              threads: Optional[int] = None) -> dict:
    """Measured GEMM throughput (GFLOP/s, 2 flops per multiply-add), fp32 and bf16: the best of
    several square matmuls, in PyTorch and (where installed) in OpenVINO, whose oneDNN kernels
    reach about twice PyTorch's on AMD CPUs (PyTorch's fp32 ``mm`` goes through MKL there).
    ``float32`` / ``bfloat16``: the best of the runtimes; ``by_runtime``: each one. Measured at
    the start and again at the end of a run (a single measurement can land in a slow moment
    of a shared machine); ``previous`` keeps the best."""
    n = 512 if quick else 2048
    rounds = 3 if quick else 15
    threads = threads or torch.get_num_threads()
    out = {k: v for k, v in (previous or {}).items() if k != 'by_runtime'}
    by_runtime = {r: dict(v) for r, v in (previous or {}).get('by_runtime', {}).items()}
    for dtype in (torch.float32, torch.bfloat16):
        key = str(dtype).replace('torch.', '')
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        measured = {'torch': _best_gflops(lambda: torch.mm(a, b), n, rounds)}
        ov = _openvino_matmul(n, 'bf16' if dtype == torch.bfloat16 else 'fp32', threads)
        if ov is not None:
            measured['openvino'] = _best_gflops(ov, n, rounds)
        for runtime, gflops in measured.items():
            best = by_runtime.setdefault(runtime, {})
            best[key] = max(best.get(key, 0.0), gflops)
            out[key] = max(out.get(key, 0.0), gflops)
    out['by_runtime'] = by_runtime
    return out


def gemm_peak_text(gemm: dict) -> str:
    """``gemm_peak`` as text: ``'fp32 337 GFLOP/s (torch 181, openvino 337); bf16 ...'``."""
    out = []
    for key, label in (('float32', 'fp32'), ('bfloat16', 'bf16')):
        runtimes = ', '.join(f'{r} {v[key]:.0f}' for r, v in gemm.get('by_runtime', {}).items()
                             if key in v)
        out.append(f'{label} {gemm[key]:.0f} GFLOP/s' + (f' ({runtimes})' if runtimes else ''))
    return '; '.join(out)


def _best_gflops(fn: Callable[[], object], n: int, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / min(times) / 1e9


def _openvino_matmul(n: int, dtype: str, threads: int) -> Optional[Callable[[], object]]:
    """An ``n x n`` MatMul compiled by OpenVINO with hrnet_mm's settings for ``dtype``
    (``'fp32'`` / ``'bf16'``), or None without OpenVINO."""
    try:
        import numpy as np
        import openvino as ov
        from openvino import opset13 as ops
    except ImportError:
        return None
    from hrnet_mm.fast.openvino_backend import openvino_config
    rng = np.random.default_rng(0)
    x = ops.parameter([n, n], ov.Type.f32)
    w = ops.constant(rng.standard_normal((n, n), dtype=np.float32))
    model = ov.Model([ops.matmul(x, w, False, False)], [x])
    compiled = ov.Core().compile_model(model, 'CPU', openvino_config(dtype, threads))
    request = compiled.create_infer_request()
    a = rng.standard_normal((n, n), dtype=np.float32)
    return lambda: request.infer({0: a})
