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
the accuracy on models fitted to the sample (the benchmark's fitted HRNet-W32 and
Lite-HRNet-18 / 30, argmax within 1 heatmap px on the real crops; the fitted seg models, labels
equal on the sample image; W48 pose is not fitted: too slow to train here, random weights);
for W32 the share of the measured GEMM peak; per model and batch the ratio of hrnet_mm's best
to the best peer. :mod:`.peers_report` summarises, renders and evaluates issue 12's targets
from them.
"""
import datetime
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
from .fitting import FITTED_POSE, fit_pose_model, fit_seg_model
from .peers_report import PEERS, peers_markdown, peers_targets, summarize, variant_dtype
from .report import machine_info, write_json
from .samples import cityscapes_frame, coco_crops, seg_image
from .sections import Context, register_section
from .specs import SPECS, build_pair
from .timing import gemm_peak, gemm_peak_text, time_interleaved
from .variants import TensorForward

PEER_MODELS = ('pose_w32', 'pose_w48', 'pose_lite18', 'pose_lite30', 'seg_w18', 'seg_w48')


def our_variants(compile: bool) -> Tuple[str, ...]:
    """``backend_dtype`` for every pair :func:`hrnet_mm.fast.optimize` runs (inductor only
    with ``compile``: each compilation takes minutes on 2 cores)."""
    from hrnet_mm.fast.backends import BACKEND_DTYPES
    return tuple(f'{b}_{d}' for b, dtypes in BACKEND_DTYPES.items() for d in dtypes
                 if compile or b != 'inductor')


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


def export_toolbox_onnx(theirs: nn.Module, example: torch.Tensor, path: str) -> None:
    """The toolbox model's own ONNX, as a deployer exports it: static shape (``example``'s),
    TorchScript exporter, opset 17, input ``'input'``."""
    from hrnet_mm.export import _export
    with torch.no_grad():
        _export(theirs, example, path, 17, 'input', ['out0'], {})


def calibration_inputs(task: str, hw, crops: Optional[torch.Tensor] = None,
                       quick: bool = False) -> List[torch.Tensor]:
    """int8 calibration of the peers section: each COCO crop on its own (pose; ``crops`` if
    given, else :func:`pose_inputs`), or the Cityscapes frame (seg)."""
    if task != 'pose':
        return cityscapes_calibration(hw)
    if crops is None:
        crops, _ = pose_inputs(hw, quick)
    return [crops[i:i + 1] for i in range(len(crops))]


def peer_runners(theirs: nn.Module, example: torch.Tensor, threads: int,
                 tmp: str) -> Dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The peers for inputs shaped like ``example``: mm eager, and the toolbox model's own ONNX
    (static shape, TorchScript exporter, opset 17) in ONNX Runtime fp32 and OpenVINO fp32/bf16,
    with hrnet_mm's runtime settings (:func:`~hrnet_mm.fast.ort_backend.ort_session_options`,
    :func:`~hrnet_mm.fast.openvino_backend.openvino_config`)."""
    from hrnet_mm.fast.backends import require
    from hrnet_mm.fast.openvino_backend import openvino_config
    from hrnet_mm.fast.ort_backend import ort_session
    path = osp.join(tmp, f'toolbox_{"x".join(map(str, example.shape))}.onnx')
    export_toolbox_onnx(theirs, example, path)

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
    """The weights fitted to the sample (:data:`FITTED_POSE`, seg models), or (None, None)."""
    if args.no_accuracy:
        return None, None
    spec = SPECS[name]
    if name in FITTED_POSE:
        return fit_pose_model(name, 1 if args.quick else args.train_iters, 0, CACHE_DIR,
                              args.quick)
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
    crops, kpts = pose_inputs(hw, args.quick) if spec.task == 'pose' else (None, None)
    calibration = calibration_inputs(spec.task, hw, crops)
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
                    dt = variant_dtype(k) if k != 'mm_eager' else 'fp32'
                    # int8 has no measured peak to compare with (no int8 GEMM probe)
                    peak = None if dt == 'int8' else \
                        (gemm or {}).get('bfloat16' if dt == 'bf16' else 'float32')
                    if peak and name == 'pose_w32':
                        row['gemm_peak_share'] = 2 * macs * row['img_per_s'] / 1e9 / peak
                rows[k] = row
            if spec.task == 'pose' and state is not None and batch == max(p['batches']):
                reduced = [k for k in runners if variant_dtype(k) in ('bf16', 'int8')]
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
    # the GEMM peak of this run (W32's share of it), PyTorch's and OpenVINO's best
    gemm = gemm_peak(ctx.args.quick, threads=ctx.args.threads)
    log('peers: GEMM peak ' + gemm_peak_text(gemm))
    partial = osp.join(ctx.out_dir, 'benchmark.partial.json')
    for i, name in enumerate(names):
        log(f'=== peers {i + 1}/{len(names)} {name} ===')
        peers['models'][name] = bench_peers_model(name, ctx.args, gemm)
        peers['models'][name]['gemm_peak_gflops'] = gemm
        # merged runs may come from different machines (bf16 speed depends on AMX)
        peers['models'][name]['measured'] = dict(
            date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            machine=machine_info(ctx.args.threads))
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
