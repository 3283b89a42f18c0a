"""OpenVINO's per-layer profile of an ONNX graph: where a runtime spends its time.

The peers section says how fast each runtime is; this says why. OpenVINO runs the graph with
``PERF_COUNT`` on, and each executed node's time (the median over the timed calls) is summed
per node type and kernel, and, for the convolutions, per shape class (kernel, channels, output
size) with the throughput each class reaches, in GFLOP/s of multiply-adds x 2 computed from
the graph's shapes. With the measured GEMM peak beside it this shows whether a graph is bound by
its convolutions' arithmetic (then only fewer FLOPs help) or by something around them.

Command line (the toolbox model's own ONNX, the peers' graph, or ``--ours``; random
weights)::

    python -m hrnet_mm.benchmark.profile pose_w32 --batch 8 --threads 2

Example:
    >>> conv_class(dict(kernel=3, cin=32, cout=32, out_hw=(64, 48), stride=1))
    'conv 3x3 32->32 out 64x48'
"""
import argparse
import statistics
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np


def conv_shapes(model) -> Dict[str, dict]:
    """Convolution name -> its kernel, channels, groups, stride, output size and multiply-adds,
    for an ``ov.Model`` with static shapes (OpenVINO's op names are the names its profile
    reports; in an int8 model the weights arrive through a dequantising subgraph, their shape
    is the same)."""
    out = {}
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ('Convolution', 'GroupConvolution'):
            continue
        w = [int(d) for d in op.input(1).get_shape()]
        o = [int(d) for d in op.output(0).get_shape()]
        if kind == 'GroupConvolution':
            groups, cout_per_group, cin_per_group, kh, kw = w
            cout = groups * cout_per_group
        else:
            groups, (cout, cin_per_group, kh, kw) = 1, w
        n, _, h, wd = o
        out[op.get_friendly_name()] = dict(
            kernel=kh if kh == kw else (kh, kw), cin=cin_per_group * groups, cout=cout,
            groups=groups, stride=int(op.get_strides()[0]), out_hw=(h, wd),
            macs=n * h * wd * cout * cin_per_group * kh * kw)
    return out


def conv_class(c: dict) -> str:
    """A convolution's shape class, e.g. ``'conv 3x3 32->32 out 64x48'`` (``' s2'`` for a
    stride, ``' dw'`` for depthwise, ``' g4'`` for other groups)."""
    k = c['kernel']
    kernel = f'{k}x{k}' if isinstance(k, int) else f'{k[0]}x{k[1]}'
    groups = c.get('groups', 1)
    extra = (f' s{c["stride"]}' if c.get('stride', 1) != 1 else '') + \
        (' dw' if groups > 1 and groups == c['cin'] else f' g{groups}' if groups > 1 else '')
    return f'conv {kernel}{extra} {c["cin"]}->{c["cout"]} out {c["out_hw"][0]}x{c["out_hw"][1]}'


def openvino_profile(model, x: np.ndarray, config: dict, rounds: int = 10,
                     warmup: int = 3) -> dict:
    """Run ``model`` (an ``ov.Model``, e.g. hrnet_mm's int8 one, or an ONNX / IR file) in
    OpenVINO (CPU, ``config`` plus ``PERF_COUNT``, reshaped to ``x``'s shape) on ``x`` and
    profile it.

    Returns:
        dict: ``median_ms`` (wall time per call), ``profiled_ms`` (the nodes' median times
        summed), ``by_kernel`` (``[{node_type, kernel, nodes, ms, share}]``, slowest first) and
        ``convs`` (``[{conv_class, nodes, ms, share, gflops}]``, slowest first; share of the
        profiled time).
    """
    import time

    from hrnet_mm.fast.backends import require
    ov = require('openvino')
    core = ov.Core()
    model = core.read_model(model) if isinstance(model, str) else model.clone()
    model.reshape({model.inputs[0].get_any_name(): list(x.shape)})
    request = core.compile_model(model, 'CPU',
                                 dict(config, PERF_COUNT=True)).create_infer_request()
    for _ in range(warmup):
        request.infer({0: x})
    times: Dict[str, List[float]] = defaultdict(list)
    kinds: Dict[str, tuple] = {}
    walls = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        request.infer({0: x})
        walls.append(time.perf_counter() - t0)
        for p in request.profiling_info:
            times[p.node_name].append(p.real_time.total_seconds() * 1e3)
            kinds[p.node_name] = (p.node_type, p.exec_type)
    node_ms = {name: statistics.median(ts) for name, ts in times.items()}
    total = sum(node_ms.values()) or 1.0
    by_kernel: Dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    for name, ms in node_ms.items():
        entry = by_kernel[kinds[name]]
        entry[0] += 1
        entry[1] += ms
    shapes = conv_shapes(model)
    convs: Dict[str, list] = defaultdict(lambda: [0, 0.0, 0])
    for name, ms in node_ms.items():
        # OpenVINO names a conv whose bias it split off '<onnx name>/WithoutBiases'
        c = shapes.get(name) or shapes.get(name.split('/WithoutBiases')[0])
        if c is None or kinds[name][0] not in ('Convolution', 'GroupConvolution'):
            continue
        entry = convs[conv_class(c)]
        entry[0] += 1
        entry[1] += ms
        entry[2] += c['macs']
    return dict(
        median_ms=1e3 * statistics.median(walls), profiled_ms=total,
        by_kernel=sorted((dict(node_type=t, kernel=k, nodes=n, ms=ms, share=ms / total)
                          for (t, k), (n, ms) in by_kernel.items() if ms > 0),
                         key=lambda r: -r['ms']),
        convs=sorted((dict(conv_class=k, nodes=n, ms=ms, share=ms / total,
                           gflops=2 * macs / (ms * 1e6) if ms > 0 else None)
                      for k, (n, ms, macs) in convs.items()), key=lambda r: -r['ms']))


def profile_text(p: dict, top: int = 15) -> str:
    """:func:`openvino_profile`'s result as text tables."""
    lines = [f'wall {p["median_ms"]:.2f} ms per call, profiled nodes {p["profiled_ms"]:.2f} ms',
             '', f'{"node type":<16} {"kernel":<28} {"nodes":>5} {"ms":>9} {"share":>6}']
    lines += [f'{r["node_type"]:<16} {r["kernel"]:<28} {r["nodes"]:>5} {r["ms"]:>9.2f} '
              f'{r["share"]:>6.1%}' for r in p['by_kernel'][:top]]
    lines += ['', f'{"convolution class":<36} {"nodes":>5} {"ms":>9} {"share":>6} {"GFLOP/s":>8}']
    lines += [f'{r["conv_class"]:<36} {r["nodes"]:>5} {r["ms"]:>9.2f} {r["share"]:>6.1%} '
              f'{r["gflops"]:>8.0f}' for r in p['convs'][:top]]
    return '\n'.join(lines)


def _ours_model(ours, spec, x, dtype: str, threads: int):
    """The ``ov.Model`` that ``optimize(ours, dtype, backend='openvino')`` runs (int8:
    calibrated on the benchmark's real sample, as in the peers section)."""
    from hrnet_mm.fast import optimize

    from .peers import calibration_inputs
    calibration = calibration_inputs(spec.task, tuple(x.shape[-2:])) if dtype == 'int8' \
        else None
    fast = optimize(ours, dtype=dtype, backend='openvino', threads=threads,
                    calibration=calibration, example_input=x[:1])
    return fast._run.model


def main(argv: Optional[Sequence[str]] = None) -> dict:
    import os.path as osp
    import tempfile

    import torch

    from hrnet_mm.fast.openvino_backend import openvino_config

    from .peers import export_toolbox_onnx
    from .specs import SPECS, build_pair
    from .timing import gemm_peak, gemm_peak_text
    from .variants import TensorForward
    p = argparse.ArgumentParser(
        prog='python -m hrnet_mm.benchmark.profile', description=__doc__.split('\n\n')[0])
    p.add_argument('model', choices=sorted(SPECS))
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--hw', type=int, nargs=2, default=None, metavar=('H', 'W'),
                   help="input size (default: the full run's: 256x192 pose, 1024x2048 seg)")
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--dtype', choices=('fp32', 'bf16', 'int8'), default='fp32',
                   help='int8 only with --ours')
    p.add_argument('--ours', action='store_true',
                   help="profile hrnet_mm's OpenVINO graph (optimize(..., "
                   "backend='openvino')) instead of the toolbox's own ONNX")
    p.add_argument('--rounds', type=int, default=10)
    args = p.parse_args(argv)
    if args.dtype == 'int8' and not args.ours:
        p.error('--dtype int8 profiles hrnet_mm\'s quantised graph: add --ours')
    spec = SPECS[args.model]
    torch.set_num_threads(args.threads)
    theirs, ours, _ = build_pair(spec)
    hw = tuple(args.hw) if args.hw else tuple(spec.shape[-2:])
    x = torch.randn(args.batch, 3, *hw)
    config = openvino_config(args.dtype, args.threads)
    with tempfile.TemporaryDirectory(prefix='hrnet_mm_profile_') as tmp:
        if args.ours:
            model = _ours_model(TensorForward(ours, spec.task).eval(), spec, x, args.dtype,
                                args.threads)
        else:
            model = osp.join(tmp, 'toolbox.onnx')
            export_toolbox_onnx(TensorForward(theirs, spec.task).eval(), x, model)
        result = openvino_profile(model, x.numpy(), config, rounds=args.rounds)
    size = f' at {hw[0]}x{hw[1]}' if args.hw else ''
    print(f'{spec.label}{size} batch {args.batch}, OpenVINO {args.dtype}, '
          f'{args.threads} threads, ' + ('hrnet_mm\'s graph' if args.ours
                                         else 'the toolbox\'s ONNX'))
    print('GEMM peak ' + gemm_peak_text(gemm_peak(False, threads=args.threads)))
    print(profile_text(result))
    return result


if __name__ == '__main__':
    main()
