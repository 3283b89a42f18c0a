"""The ``peers`` section: hrnet_mm's backends against what deployers run today (issue 12).

For pose HRNet-W32/W48 and Lite-HRNet-18/30 (batch 1 and 8) and seg FCN-HRNetV2-W18/W48
(batch 1), with the same weights, the same inputs and the same thread count for everyone,
timed interleaved in one process:

* the peers: the toolbox's model in eager PyTorch (``mm_eager``), and the toolbox's own model
  exported to ONNX (static shape, as a deployer exports it) run by ONNX Runtime in fp32
  (``mm_ort_fp32``) and by OpenVINO in fp32 and bf16 (``mm_openvino_fp32`` /
  ``mm_openvino_bf16``);
* ours: every backend x dtype of :func:`hrnet_mm.fast.optimize` (``eager_fp32`` ...
  ``openvino_int8``; int8 calibrated on the real sample: COCO person crops for pose, the
  Cityscapes frame for seg).

Beside each row: the max abs output difference to ``mm_eager``; for the reduced-precision rows
the accuracy on models fitted to the sample (the benchmark's fitted HRNet-W32, argmax within
1 heatmap px on the real crops; the fitted seg models, labels equal on the sample image);
for W32 the share of the measured GEMM peak; per model and batch the ratio of hrnet_mm's best
to the best peer. :func:`peers_targets` evaluates issue 12's targets from them.
"""
import gc
import os
import os.path as osp
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from hrnet_mm.utils.testing import max_abs, max_abs_diff

from .agreement import argmax2d, keypoint_agreement, seg_labels
from .common import CACHE_DIR, log
from .fitting import fit_seg_model, train_pose_w32
from .report import write_json
from .samples import cityscapes_frame, coco_crops, seg_image
from .sections import Context, register_section
from .specs import SPECS, build_pair
from .timing import time_interleaved
from .variants import TensorForward

PEER_MODELS = ('pose_w32', 'pose_w48', 'pose_lite18', 'pose_lite30', 'seg_w18', 'seg_w48')
PEERS = ('mm_eager', 'mm_ort_fp32', 'mm_openvino_fp32', 'mm_openvino_bf16')
FP32_TOL = 1e-4      # issue 12: fp32 outputs within 1e-4 of eager (relative to max |output|
                     # when that exceeds 1: fitted seg logits reach 1e4, where fp32 itself
                     # differs by 0.1 between two runtimes)
POSE_ACC = 0.99      # argmax within 1 heatmap px for >= 99% of the annotated keypoints
SEG_ACC = 0.995      # labels equal on >= 99.5% of the pixels


def our_variants(compile: bool) -> Tuple[str, ...]:
    """``backend_dtype`` for every pair :func:`hrnet_mm.fast.optimize` runs (inductor only
    with ``compile``: each compilation takes minutes on 2 cores)."""
    from hrnet_mm.fast.backends import BACKEND_DTYPES
    return tuple(f'{b}_{d}' for b, dtypes in BACKEND_DTYPES.items() for d in dtypes
                 if compile or b != 'inductor')


def _dtype(variant: str) -> str:
    return variant.rsplit('_', 1)[1]


def plan(name: str, quick: bool) -> dict:
    """Input size, batches and timed rounds of model ``name`` (full run: 256x192 pose at batch 1
    and 8, 1024x2048 seg at batch 1; quick: the spec's quick size, batch 1 and 2, one round)."""
    spec = SPECS[name]
    hw = tuple((spec.quick_shape if quick else spec.shape)[-2:])
    if spec.task == 'pose':
        batches = (1, 2) if quick else (1, 8)
        rounds = {1: 1, 2: 1} if quick else {1: 5, 8: 3}
    else:
        batches = (1,)
        rounds = {1: 1 if quick else (2 if name == 'seg_w48' else 3)}
    return dict(hw=hw, batches=batches, rounds=rounds)


# --------------------------------------------------------------------------- inputs

def pose_inputs(hw, quick: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """The real COCO person crops at ``hw`` and their keypoints (quick: unflipped, one
    padding: 14 crops; full: 56)."""
    if quick:
        return coco_crops(size=hw, paddings=(1.25,), flips=(False,))
    return coco_crops(size=hw)


def cityscapes_calibration(hw) -> List[torch.Tensor]:
    """The Cityscapes sample frame at ``hw``, normalised like mmseg, and its mirror image: the
    int8 calibration of the seg models."""
    x, _ = cityscapes_frame(hw)
    return [x, x.flip(-1).contiguous()]


# --------------------------------------------------------------------------- runners

def _numpy_runner(run: Callable[[np.ndarray], list]) -> Callable[[torch.Tensor], torch.Tensor]:
    def call(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(run(np.ascontiguousarray(x.numpy()))[0],
                                           dtype=np.float32))
    return call


def peer_runners(theirs: nn.Module, example: torch.Tensor, threads: int,
                 tmp: str) -> Dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The peers for inputs shaped like ``example``: mm eager, and the toolbox model's own ONNX
    (static shape, TorchScript exporter, opset 17) in ONNX Runtime fp32 and OpenVINO fp32/bf16,
    with hrnet_mm's runtime settings (:func:`~hrnet_mm.fast.ort_backend.ort_session_options`,
    :func:`~hrnet_mm.fast.openvino_backend.openvino_config`)."""
    from hrnet_mm.export import _export
    from hrnet_mm.fast.backends import require
    from hrnet_mm.fast.openvino_backend import openvino_config
    from hrnet_mm.fast.ort_backend import ort_session
    path = osp.join(tmp, f'toolbox_{"x".join(map(str, example.shape))}.onnx')
    with torch.no_grad():
        _export(theirs, example, path, 17, 'input', ['out0'], {})

    def eager(x):
        with torch.no_grad():
            return theirs(x)

    session = ort_session(path, threads)
    ov = require('openvino')
    core = ov.Core()
    out = dict(mm_eager=eager,
               mm_ort_fp32=_numpy_runner(lambda a: session.run(None, {'input': a})))
    for dtype in ('fp32', 'bf16'):
        request = core.compile_model(core.read_model(path), 'CPU',
                                     openvino_config(dtype, threads)).create_infer_request()

        def run(a, request=request):
            request.infer({0: a})
            return [np.array(request.get_output_tensor(0).data, copy=True)]
        out[f'mm_openvino_{dtype}'] = _numpy_runner(run)
    return out


def our_runners(ours: nn.Module, names, calibration: List[torch.Tensor], example: torch.Tensor,
                threads: int) -> Dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """``backend_dtype`` -> :func:`hrnet_mm.fast.optimize` of ours (a build failure is
    reported by the timing, not fatal)."""
    from hrnet_mm.fast import optimize
    out = {}
    for name in names:
        backend, dtype = name.rsplit('_', 1)
        t0 = time.time()
        try:
            fast = optimize(ours, dtype=dtype, backend=backend, threads=threads,
                            calibration=calibration if dtype == 'int8' else None,
                            example_input=example if backend in ('onnxruntime', 'openvino')
                            else None)
        except Exception as e:  # noqa: BLE001  (reported in the results)
            msg = f'{type(e).__name__}: {str(e).splitlines()[0][:200]}'
            log(f'peers: {name} failed to build: {msg}')

            def failed(x, msg=msg):
                raise RuntimeError(msg)
            out[name] = failed
            continue

        def call(x, fast=fast):
            with torch.no_grad():
                return fast(x)
        out[name] = call
        log(f'peers: built {name} ({time.time() - t0:.1f} s)')
    return out


# --------------------------------------------------------------------------- one model

def _fitted_state(name: str, hw, args) -> Tuple[Optional[dict], Optional[dict]]:
    """The weights fitted to the sample (W32 pose, seg models), or (None, None)."""
    if args.no_accuracy:
        return None, None
    spec = SPECS[name]
    if name == 'pose_w32':
        return train_pose_w32(1 if args.quick else args.train_iters, 0, CACHE_DIR, args.quick)
    if spec.task == 'seg':
        return fit_seg_model(spec, (1, 3) + tuple(hw), 1 if args.quick else spec.fit_iters,
                             CACHE_DIR, args.quick)
    return None, None


def _pose_accuracy(runners: dict, crops: torch.Tensor, kpts: torch.Tensor, batch: int,
                   names) -> Dict[str, dict]:
    """Argmax of each runner vs ``mm_eager`` on the crops (in batches of ``batch``)."""
    n = len(crops) - len(crops) % batch
    annotated = kpts[:n, :, 2] > 0
    hms = {}
    for k in ['mm_eager'] + [k for k in names if k != 'mm_eager']:
        try:
            hms[k] = torch.cat([runners[k](crops[i:i + batch]) for i in range(0, n, batch)])
        except Exception:  # noqa: BLE001  (its build failed: reported with the timing)
            continue
    ref = argmax2d(hms['mm_eager'])
    out = {}
    for k, hm in hms.items():
        if k == 'mm_eager':
            continue
        out[k] = dict(**keypoint_agreement(hm, ref, annotated),
                      keypoints=int(annotated.sum()), crops=n)
    return out


def bench_peers_model(name: str, args, gemm: Optional[dict]) -> dict:
    """Every peer and every hrnet_mm backend x dtype on model ``name``, at each batch of
    :func:`plan`; returns the results of the model (see the module docstring)."""
    from hrnet_mm.analysis import count_macs_fast
    spec = SPECS[name]
    p = plan(name, args.quick)
    hw, threads = p['hw'], args.threads
    theirs, ours, _ = build_pair(spec)
    state, fit_info = _fitted_state(name, hw, args)
    if state is not None:
        theirs.load_state_dict(state)
        ours.load_state_dict(state)
        theirs.eval()
        ours.eval()
    theirs_t, ours_t = TensorForward(theirs, spec.task).eval(), TensorForward(ours, spec.task).eval()
    if spec.task == 'pose':
        crops, kpts = pose_inputs(hw, args.quick)
        calibration = [crops[i:i + 1] for i in range(len(crops))]
    else:
        crops, kpts = None, None
        calibration = cityscapes_calibration(hw)
    macs = count_macs_fast(ours_t, (1, 3) + tuple(hw))
    res = dict(label=spec.label, task=spec.task, input_hw=list(hw), threads=threads,
               weights='fitted to the sample' if state is not None else 'random',
               conv_linear_macs_per_img=macs, batches={})
    if fit_info:
        res['fit'] = {k: v for k, v in fit_info.items() if k != 'checkpoint'}
    compile = args.compile and spec.task == 'pose'
    names = our_variants(compile)
    first = crops[:max(p['batches'])] if crops is not None else seg_image((1, 3) + hw)
    log(f'peers {name}: building {", ".join(names)}')
    ours_r = our_runners(ours_t, names, calibration, first[:1], threads)
    with tempfile.TemporaryDirectory(prefix='hrnet_mm_peers_') as tmp:
        for batch in p['batches']:
            x = first[:batch] if crops is not None else first
            runners = dict(peer_runners(theirs_t, x, threads, tmp), **ours_r)
            outs = {}

            def caller(k):
                def call():
                    outs[k] = runners[k](x)
                return call

            timing = time_interleaved({k: caller(k) for k in runners}, p['rounds'][batch],
                                      f'peers {name} batch {batch}')
            rows = {}
            ref = outs.get('mm_eager')
            for k, t in timing.items():
                row = {f: t[f] for f in ('median_s', 'first_call_s', 'error',
                                         'disturbed_rounds') if f in t}
                if 'median_s' in t:
                    row['img_per_s'] = batch / t['median_s']
                    row['latency_ms'] = 1e3 * t['median_s']
                    row['max_abs_diff'] = max_abs_diff(outs[k], ref)
                    row['max_abs_output'] = max_abs(ref)
                    if spec.task == 'seg':
                        row['labels_equal'] = float((seg_labels(outs[k], hw)
                                                     == seg_labels(ref, hw)).float().mean())
                    dt = _dtype(k) if k != 'mm_eager' else 'fp32'
                    peak = (gemm or {}).get('bfloat16' if dt == 'bf16' else 'float32')
                    if peak and name == 'pose_w32':
                        row['gemm_peak_share'] = 2 * macs * row['img_per_s'] / 1e9 / peak
                rows[k] = row
            if spec.task == 'pose' and state is not None and batch == max(p['batches']):
                reduced = [k for k in runners if _dtype(k) in ('bf16', 'int8')]
                for k, acc in _pose_accuracy(runners, crops, kpts, batch,
                                             reduced).items():
                    rows[k]['accuracy'] = acc
            res['batches'][str(batch)] = dict(rounds=p['rounds'][batch], variants=rows,
                                              load=os.getloadavg()[0],
                                              summary=summarize(rows, spec.task,
                                                                state is not None))
            runners = outs = None  # free the batch's runtimes before the next
            gc.collect()
    if spec.task == 'pose' and state is not None:  # accuracy of the batch the crops ran at
        acc_rows = res['batches'][str(max(p['batches']))]['variants']
        for b in p['batches']:
            for k, row in res['batches'][str(b)]['variants'].items():
                if 'accuracy' in acc_rows.get(k, {}):
                    row['accuracy'] = acc_rows[k]['accuracy']
            res['batches'][str(b)]['summary'] = summarize(
                res['batches'][str(b)]['variants'], spec.task, True)
    return res


# --------------------------------------------------------------------------- summaries and report

def _accuracy_ok(row: dict, task: str, fitted: bool) -> Optional[bool]:
    """Whether a reduced-precision row meets issue 12's accuracy bar (None: not measured)."""
    if task == 'seg':
        return row['labels_equal'] >= SEG_ACC if fitted and 'labels_equal' in row else None
    acc = row.get('accuracy')
    return acc['within_1px'] >= POSE_ACC if acc else None


def summarize(rows: dict, task: str, fitted: bool) -> dict:
    """Best peer and best of ours, fp32 and reduced precision, and their ratios (throughput).

    fp32 rows of ours count when their max abs diff to mm eager is <= :data:`FP32_TOL`
    (times the largest output where that exceeds 1);
    reduced-precision rows when their accuracy meets the bar (or, where no fitted model
    exists, they count with ``accuracy_measured=False``).
    """
    timed = {k: r for k, r in rows.items() if 'img_per_s' in r}

    def best(keys):
        keys = [k for k in keys if k in timed]
        return max(keys, key=lambda k: timed[k]['img_per_s']) if keys else None

    peer32 = best([k for k in PEERS if k != 'mm_openvino_bf16'])
    ours32 = best([k for k in timed if k not in PEERS and _dtype(k) == 'fp32'
                   and timed[k]['max_abs_diff']
                   <= FP32_TOL * max(1.0, timed[k].get('max_abs_output', 1.0))])
    reduced = [k for k in timed if k not in PEERS and _dtype(k) in ('bf16', 'int8')]
    ok = {k: _accuracy_ok(timed[k], task, fitted) for k in reduced}
    measured = any(v is not None for v in ok.values())
    ours_red = best([k for k in reduced if ok[k] or (ok[k] is None and not measured)])
    out = dict(best_peer_fp32=peer32, best_ours_fp32=ours32, best_ours_reduced=ours_red,
               accuracy_measured=measured)
    if peer32 and ours32:
        out['ratio_fp32'] = timed[ours32]['img_per_s'] / timed[peer32]['img_per_s']
    bf16 = timed.get('mm_openvino_bf16')
    if bf16 and ours_red:
        out['ratio_reduced_vs_openvino_bf16'] = timed[ours_red]['img_per_s'] / bf16['img_per_s']
    if bf16 and 'openvino_int8' in timed and ok.get('openvino_int8') is not False:
        out['ratio_int8_vs_openvino_bf16'] = timed['openvino_int8']['img_per_s'] / \
            bf16['img_per_s']
    best_peer = best(PEERS)
    best_ours = best([k for k in (ours32, ours_red) if k])
    out.update(best_peer=best_peer, best_ours=best_ours)
    if best_peer and best_ours:
        out['ratio_best'] = timed[best_ours]['img_per_s'] / timed[best_peer]['img_per_s']
    return out


def _cell(row: Optional[dict], batch: int) -> str:
    if not row:
        return '-'
    if 'error' in row:
        return 'failed'
    return f'{row["latency_ms"]:.1f} ms' if batch == 1 else f'{row["img_per_s"]:.1f} img/s'


def _acc_cell(row: dict, task: str) -> str:
    if task == 'seg' and 'labels_equal' in row:
        return f'labels {row["labels_equal"]:.2%}'
    acc = row.get('accuracy')
    return f'argmax 1 px {acc["within_1px"]:.2%}' if acc else ''


def peers_markdown(results: dict) -> List[str]:
    """The peers tables (one per model: variants x batches) and the ratio summary."""
    peers = results.get('peers')
    if not peers or not peers.get('models'):
        return []
    L = ['', '## Peers: hrnet_mm backends vs what deployers run', '',
         f'Same weights, same inputs, {peers.get("threads")} threads for everyone, all variants '
         f'of a table timed interleaved. Peers: `mm_eager` (the toolbox in PyTorch) and the '
         f'toolbox model\'s own ONNX in ONNX Runtime / OpenVINO ({peers.get("settings")}). '
         f'Ours: `hrnet_mm.fast.optimize(model, dtype, backend=...)`; int8 calibrated on the '
         f'real sample (COCO crops / the Cityscapes frame). Batch 1: latency (ms, median); '
         f'larger batches: img/s. Diff: max abs output difference to `mm_eager` (beside the '
         f'largest output). Accuracy: vs `mm_eager` fp32 on models fitted to the sample (pose: '
         f'HRNet-W32 only, keypoint argmax within 1 heatmap px on the real crops; seg: labels '
         f'equal on the sample image).', '']
    L += ['| model | batch | best peer | best hrnet_mm | ratio | fp32: ours / peer | '
          'reduced: ours / OpenVINO bf16 | int8 / OpenVINO bf16 |', '|---|---|---|---|---|---|---|---|']
    for name, m in peers['models'].items():
        for b, r in m['batches'].items():
            s = r['summary']

            def ratio(k, s=s):
                return f'{s[k]:.2f}x' if k in s else '-'
            def named(k, s=s):
                return f' ({s[k]})' if s.get(k) else ''
            L.append(f'| {m["label"]} | {b} | {s.get("best_peer") or "-"} | '
                     f'{s.get("best_ours") or "-"} | {ratio("ratio_best")} | '
                     f'{ratio("ratio_fp32")}{named("best_ours_fp32")} | '
                     f'{ratio("ratio_reduced_vs_openvino_bf16")}{named("best_ours_reduced")} '
                     f'| {ratio("ratio_int8_vs_openvino_bf16")} |')
    for name, m in peers['models'].items():
        batches = list(m['batches'])
        L += ['', f'### {m["label"]}: {m["input_hw"][0]}x{m["input_hw"][1]}, {m["weights"]} '
              f'weights', '',
              '| variant | ' + ' | '.join(f'batch {b}' for b in batches)
              + ' | diff | accuracy |' + (' GEMM peak |' if name == 'pose_w32' else ''),
              '|---' * (len(batches) + 3 + (name == 'pose_w32')) + '|']
        variants = list(m['batches'][batches[0]]['variants'])
        for k in variants:
            rows = [m['batches'][b]['variants'].get(k) for b in batches]
            last = rows[-1] or {}
            diff = f'{last["max_abs_diff"]:.1e} / {last["max_abs_output"]:.2f}' \
                if 'max_abs_diff' in last else '-'
            line = f'| {"**" + k + "**" if k not in PEERS else k} | ' + ' | '.join(
                _cell(r, int(b)) for r, b in zip(rows, batches)) + \
                f' | {diff} | {_acc_cell(last, m["task"])} |'
            if name == 'pose_w32':
                share = last.get('gemm_peak_share')
                line += f' {share:.0%} |' if share is not None else ' - |'
            L.append(line)
    return L


def _ratio_target(results: dict, name: str, key: str, goal: float, what: str,
                  batches=None) -> List[dict]:
    m = results['peers']['models'].get(name)
    if not m:
        return []
    out = []
    for b, r in m['batches'].items():
        if batches and int(b) not in batches:
            continue
        s = r['summary']
        value = s.get(key)
        measured = (f'{value:.2f}x' if value is not None else 'not measured')
        if key == 'ratio_fp32':
            measured += f' ({s.get("best_ours_fp32")} vs {s.get("best_peer_fp32")})'
        elif key == 'ratio_reduced_vs_openvino_bf16' and value is not None:
            measured += f' ({s.get("best_ours_reduced")}' + \
                ('' if s.get('accuracy_measured') else ', accuracy not measured on this model') \
                + ')'
        if value is None and key != 'ratio_fp32' and s.get('accuracy_measured'):
            measured = 'no reduced-precision variant met the accuracy bar'
            if key == 'ratio_int8_vs_openvino_bf16':
                measured = 'OpenVINO int8 missed the accuracy bar'
        out.append(dict(target=f'{m["label"]} batch {b}: {what}', goal=f'>= {goal}x',
                        measured=measured, met=value is not None and value >= goal))
    return out


def peers_targets(results: dict) -> List[dict]:
    """Issue 12's targets (item 5) from ``results['peers']``."""
    if not results.get('peers', {}).get('models'):
        return []
    out = []
    out += _ratio_target(results, 'pose_lite18', 'ratio_fp32', 1.1,
                         'hrnet_mm best fp32 vs best fp32 peer (diff <= 1e-4)')
    out += _ratio_target(results, 'pose_w32', 'ratio_fp32', 1.0,
                         'hrnet_mm best fp32 vs best fp32 peer (diff <= 1e-4)')
    for name in ('pose_w32', 'pose_lite18'):
        out += _ratio_target(results, name, 'ratio_reduced_vs_openvino_bf16', 1.1,
                             'hrnet_mm best bf16/int8 (accuracy met) vs OpenVINO bf16')
    out += _ratio_target(results, 'pose_w32', 'ratio_int8_vs_openvino_bf16', 1.3,
                         'hrnet_mm OpenVINO int8 (accuracy met) vs OpenVINO bf16',
                         batches=(2, 8))
    return out


# --------------------------------------------------------------------------- the section

@register_section('peers', help='hrnet_mm backends x dtypes vs the toolboxes\' own ONNX in '
                  'ONNX Runtime / OpenVINO (fp32, bf16) and mm eager',
                  render=peers_markdown, targets=peers_targets)
def peers_section(ctx: Context) -> None:
    """Measure :data:`PEER_MODELS` (those of the run) into ``results['peers']``; a model
    measured again replaces its old entry, the others stay."""
    names = [n for n in ctx.names if n in PEER_MODELS]
    if not names:
        return
    peers = ctx.results.setdefault('peers', {})
    peers.setdefault('models', {})
    partial = osp.join(ctx.out_dir, 'benchmark.partial.json')
    for i, name in enumerate(names):
        log(f'=== peers {i + 1}/{len(names)} {name} ===')
        peers['models'][name] = bench_peers_model(name, ctx.args,
                                                  ctx.results.get('gemm_peak_gflops'))
        ctx.loads.append(os.getloadavg()[0])
        # a later model that fails (e.g. out of memory) must not lose the measured ones
        write_json(ctx.results, partial)
    if osp.exists(partial):
        os.remove(partial)
    peers.update(threads=ctx.args.threads, variants_peers=list(PEERS),
                 variants_ours=list(our_variants(ctx.args.compile)),
                 settings='ONNX Runtime: intra-op threads = torch threads, 1 inter-op, '
                 'sequential, all graph optimisations; OpenVINO: INFERENCE_NUM_THREADS = '
                 'torch threads, PERFORMANCE_HINT LATENCY, 1 stream; toolbox ONNX: static '
                 'shape, TorchScript exporter, opset 17')
