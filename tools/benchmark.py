"""Benchmark hrnet_mm against the mm model zoo: same recipe, same weights, side by side.

For each model, the toolbox's own model is built from its zoo config through the toolbox
registry ("theirs"), given random but non-trivial weights, and loaded into ours (built from
``configs/``; the zoo config with hrnet_mm's modules swapped in when ours is missing). One run
then reports, interleaving ours and theirs (A, B, A, B ...) in the same process:

* parameters; FLOPs with mmengine's ``FlopAnalyzer`` (all ops it counts) and conv + linear
  multiply-adds (the papers' unit);
* forward time (warm-up, median of several runs) of theirs, ours, ours optimised
  (:func:`hrnet_mm.fast.optimize`: BN folded, exchange units merged, channels_last; eager and
  ``torch.compile``; fp32 and bf16), with ratios and the max abs output difference to theirs;
* training-step time (forward + MSE loss + backward + SGD step) and the activation memory of
  a step, for the toolbox's plain and ``with_cp`` models and ours plain, channels-last and
  memory-saving (:func:`hrnet_mm.fast.enable_memory_saving`);
* inference activation memory; the bf16 accuracy checks (keypoint argmax on the real COCO sample
  with a briefly trained HRNet-W32, segmentation labels); time and memory vs input size and batch.

Memory is measured in a fresh subprocess per model (one thread) with glibc's mmap threshold
at 64 KiB (so freed tensors go back to the OS at once and the resident set tracks live memory):
the peak
resident set (``VmHWM``, reset through ``/proc/self/clear_refs`` after a warm-up step) minus the
resident set just before the step.

    python tools/benchmark.py                     # everything (about an hour on 2 cores)
    python tools/benchmark.py --quick             # smoke test: tiny sizes, < 2 minutes
    python tools/benchmark.py --models pose_w32,pose_lite18 --out work_dirs/bench

Results: ``<out>/benchmark.json``, ``<out>/benchmark.md``, ``<out>/benchmark_scaling.png``.
"""
import argparse
import copy
import ctypes
import datetime
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # tools/train.py helpers

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hrnet_mm.utils.testing import max_abs, max_abs_diff, randomize_  # noqa: E402

COCO_SAMPLE = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'coco_sample')
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
POSE = 'body_2d_keypoint/topdown_heatmap/coco/'


@dataclass(frozen=True)
class Spec:
    """One zoo model: where its config is, what input it gets in the full and quick runs."""
    task: str                  # pose | seg | det
    scope: str                 # mmpose | mmseg | mmdet
    zoo: str                   # config path inside the toolbox's .mim/configs
    ours: str                  # our config, relative to the repository root
    shape: Tuple[int, ...]     # forward input (N, C, H, W), full run
    quick_shape: Tuple[int, ...]
    label: str
    compile: bool = True       # run the torch.compile variants (full run)
    fit_iters: int = 0         # seg: iterations of the fit for the label check


SPECS: Dict[str, Spec] = {
    'pose_w32': Spec('pose', 'mmpose', POSE + 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
                     'configs/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
                     (8, 3, 256, 192), (2, 3, 128, 96), 'pose HRNet-W32 256x192'),
    'pose_w48': Spec('pose', 'mmpose', POSE + 'td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
                     'configs/pose/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
                     (8, 3, 256, 192), (2, 3, 128, 96), 'pose HRNet-W48 256x192'),
    'pose_lite18': Spec('pose', 'mmpose', POSE + 'td-hm_litehrnet-18_8xb64-210e_coco-256x192.py',
                        'configs/pose/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py',
                        (8, 3, 256, 192), (2, 3, 128, 96), 'pose Lite-HRNet-18 256x192'),
    'pose_lite30': Spec('pose', 'mmpose', POSE + 'td-hm_litehrnet-30_8xb64-210e_coco-256x192.py',
                        'configs/pose/td-hm_litehrnet-30_8xb64-210e_coco-256x192.py',
                        (8, 3, 256, 192), (2, 3, 128, 96), 'pose Lite-HRNet-30 256x192'),
    'seg_w18': Spec('seg', 'mmseg', 'hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py',
                    'configs/seg/fcn_hr18_4xb2-40k_cityscapes-512x1024.py',
                    (1, 3, 1024, 2048), (1, 3, 128, 256), 'seg FCN-HRNetV2-W18 Cityscapes',
                    compile=False, fit_iters=200),
    'seg_w48': Spec('seg', 'mmseg', 'hrnet/fcn_hr48_4xb2-40k_cityscapes-512x1024.py',
                    'configs/seg/fcn_hr48_4xb2-40k_cityscapes-512x1024.py',
                    (1, 3, 1024, 2048), (1, 3, 128, 256), 'seg FCN-HRNetV2-W48 Cityscapes',
                    compile=False, fit_iters=250),
    'det_w32': Spec('det', 'mmdet', 'hrnet/faster-rcnn_hrnetv2p-w32-1x_coco.py',
                    'configs/det/faster-rcnn_hrnetv2p-w32-1x_coco.py',
                    (1, 3, 800, 1344), (1, 3, 160, 224), 'det Faster R-CNN HRNetV2p-W32',
                    compile=False),
}
QUICK_MODELS = ('pose_lite18', 'pose_w32', 'seg_w18', 'det_w32')
FORWARD_VARIANTS = ('theirs', 'ours', 'ours_fast', 'ours_fast_bf16', 'ours_compiled',
                    'ours_compiled_bf16')
TRAIN_VARIANTS = ('theirs', 'theirs_cp', 'ours', 'ours_cl', 'ours_memsave')
MEM_INFER_VARIANTS = ('theirs', 'ours', 'ours_fast', 'ours_fast_bf16')


def log(msg: str) -> None:
    print(f'[benchmark {time.strftime("%H:%M:%S")}] {msg}', flush=True)


# --------------------------------------------------------------------------- building

def _zoo_config(spec: Spec):
    import importlib

    from mmengine.config import Config
    root = osp.dirname(importlib.import_module(spec.scope).__file__)
    return Config.fromfile(osp.join(root, '.mim', 'configs', spec.zoo))


def _our_config(spec: Spec):
    """Our config; without it, the zoo config with hrnet_mm's modules swapped in."""
    from mmengine.config import Config
    path = osp.join(REPO_ROOT, spec.ours)
    if osp.isfile(path):
        return Config.fromfile(path), spec.ours
    cfg = _zoo_config(spec)
    lite = cfg.model.backbone.type == 'LiteHRNet'
    cfg.model.backbone.type = 'hrnet_mm.LiteHRNet' if lite else 'hrnet_mm.HRNet'
    if spec.task == 'det':
        cfg.model.neck.type = 'hrnet_mm.HRNetV2pNeck'
    return cfg, spec.zoo + ' (hrnet_mm modules swapped in)'


def _register(scope: str) -> None:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from train import register_toolbox
    register_toolbox(Config(dict(default_scope=scope)))
    init_default_scope(scope)


_PAIRS: Dict[Tuple[Spec, int], tuple] = {}


def build_pair(spec: Spec, seed: int = 0):
    """(theirs, ours, our config name): the toolbox's zoo model with random weights, and ours
    loaded from its state dict (strict). Fresh copies on every call (built once)."""
    if (spec, seed) not in _PAIRS:
        _PAIRS[spec, seed] = _build_pair(spec, seed)
    theirs, ours, name = _PAIRS[spec, seed]
    _register(spec.scope)
    theirs, ours = copy.deepcopy(theirs), copy.deepcopy(ours)
    theirs.eval()
    ours.eval()
    return theirs, ours, name


def _build_pair(spec: Spec, seed: int):
    import importlib
    _register(spec.scope)
    registry = importlib.import_module(f'{spec.scope}.registry').MODELS
    theirs = registry.build(_zoo_config(spec).model)
    randomize_(theirs, seed)
    theirs.eval()  # mm's train() returns None: no chaining
    cfg, name = _our_config(spec)
    ours = registry.build(cfg.model)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    return theirs, ours, name


class TensorForward(nn.Module):
    """A toolbox model as tensor -> tensor(s): heatmaps (pose), logits (seg) or the pyramid of
    backbone + neck (det)."""

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, x: torch.Tensor):
        if self.task == 'det':
            return self.model.extract_feat(x)
        return self.model._forward(x)


def forward_variants(theirs: nn.Module, ours: nn.Module, task: str,
                     names: Sequence[str]) -> Dict[str, nn.Module]:
    """The inference variants: tensor-in modules (compiled ones compile on the first call)."""
    from hrnet_mm.fast import optimize
    out = {}
    for name in names:
        if name == 'theirs':
            out[name] = TensorForward(theirs, task)
        elif name == 'ours':
            out[name] = TensorForward(ours, task)
        else:
            dtype = torch.bfloat16 if name.endswith('bf16') else torch.float32
            out[name] = optimize(TensorForward(ours, task), dtype=dtype,
                                 compile='compiled' in name)
    return out


# --------------------------------------------------------------------------- timing

def time_interleaved(fns: Dict[str, Callable[[], object]], rounds: int,
                     label: str) -> Dict[str, dict]:
    """Warm up each, then ``rounds`` rounds of one call each, in the same order every round
    (A, B, C, A, B, C ...). Returns per-name times, median and the first-call time."""
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
        for name in alive:
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


MAX_ROUND_FACTOR = 3   # at most 3x the requested rounds when other jobs disturb them
DISTURBED = 1.5        # a round is disturbed when any time in it is > 1.5x that variant's best


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


def gemm_peak(quick: bool, previous: Optional[dict] = None) -> dict:
    """Measured GEMM throughput (GFLOP/s, 2 flops per multiply-add), fp32 and bf16: the best of
    several square matmuls. Measured at the start and again at the end of a run (a single
    measurement can land in a slow moment of a shared machine); ``previous`` keeps the best."""
    n = 512 if quick else 2048
    out = dict(previous or {})
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)
        times = []
        for _ in range(3 if quick else 15):
            t = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t)
        key = str(dtype).replace('torch.', '')
        out[key] = max(out.get(key, 0.0), 2 * n ** 3 / min(times) / 1e9)
    return out


# --------------------------------------------------------------------------- memory probes

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
    """Run this script's memory ``--probe`` for ``jobs`` (model names, ``scaling``) in a fresh
    process; return ``{job: result}`` (``{job: {'error': ...}}`` when it failed).

    The probe runs one thread with sleeping OpenMP waits: memory does not depend on it, and
    two spinning threads on a machine shared with other jobs can take ten times as long.
    """
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536', OMP_NUM_THREADS='1',
               OMP_WAIT_POLICY='PASSIVE')
    cmd = [sys.executable, osp.abspath(__file__), '--threads', '1', '--probe'] + jobs
    if quick:
        cmd.append('--quick')
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('PROBE ')]
    if r.returncode != 0 or not lines:
        err = f'probe {jobs} failed (rc {r.returncode}): {r.stderr[-800:]}'
        return {job: dict(error=err) for job in jobs}
    return json.loads(lines[-1][6:])


# --------------------------------------------------------------------------- training

class TrainStep:
    """forward -> MSE to a fixed target -> backward -> SGD(momentum) step."""

    def __init__(self, model: nn.Module, task: str, x: torch.Tensor, channels_last: bool):
        self.net = TensorForward(model, task)
        model.train()
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        self.target = None
        self.opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                   lr=1e-4, momentum=0.9)

    def __call__(self):
        out = self.net(self.x)
        out = out if isinstance(out, (list, tuple)) else [out]
        if self.target is None:  # the same for every variant: fixed seed, output shapes
            g = torch.Generator().manual_seed(1)
            self.target = [torch.rand(o.shape, generator=g) for o in out]
        loss = sum((o - t).square().mean() for o, t in zip(out, self.target))
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        self.opt.step()
        return loss


def train_models(theirs: nn.Module, ours: nn.Module, names: Sequence[str]) -> Dict[str, tuple]:
    """name -> (model, channels_last) for the training variants (copies; theirs keep theirs)."""
    from hrnet_mm.fast import enable_memory_saving, set_with_cp
    out = {}
    for name in names:
        if name == 'theirs':
            out[name] = (copy.deepcopy(theirs), False)
        elif name == 'theirs_cp':  # the toolbox's own memory saving (with_cp everywhere)
            m = copy.deepcopy(theirs)
            set_with_cp(m, True)
            out[name] = (m, False)
        elif name == 'ours':
            out[name] = (copy.deepcopy(ours), False)
        elif name == 'ours_cl':
            out[name] = (copy.deepcopy(ours), True)
        elif name == 'ours_memsave':
            out[name] = (enable_memory_saving(copy.deepcopy(ours), 'module'), True)
    return out


# --------------------------------------------------------------------------- probes

def probe_model(name: str, quick: bool) -> dict:
    """Memory of inference variants and of one training step per training variant."""
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
    spec = SPECS['pose_w32']
    theirs, ours, _ = build_pair(spec)
    variants = forward_variants(theirs, ours, 'pose', ('theirs', 'ours_fast', 'ours_fast_bf16'))
    out = {}
    for key, shape in scaling_points(quick):
        for vname, fn in variants.items():
            x = torch.rand(*shape)
            with torch.no_grad():
                out[f'{key}/{vname}'] = measure_peak(lambda: fn(x))
    return out


def scaling_points(quick: bool) -> List[Tuple[str, Tuple[int, ...]]]:
    # mmpose's HRNet needs sizes divisible by 32
    sizes = [(128, 96), (256, 192)] if quick else [(256, 192), (512, 384), (1024, 768)]
    batches = [1, 2] if quick else [1, 8, 32]
    pts = [(f'size {h}x{w} batch 1', (1, 3, h, w)) for h, w in sizes]
    h, w = sizes[0]
    pts += [(f'size {h}x{w} batch {b}', (b, 3, h, w)) for b in batches if b != 1]
    return pts


# --------------------------------------------------------------------------- accuracy

def coco_crops(size=(256, 192), paddings=(1.25, 1.5), flips=(False, True)):
    """Person crops from the real COCO sample: (images N,3,H,W normalised, keypoints N,17,3 in
    crop pixels), for each padding, and flipped. Affine crop as mmpose's top-down pipeline."""
    import cv2
    with open(osp.join(COCO_SAMPLE, 'test_coco.json')) as f:
        coco = json.load(f)
    files = {img['id']: img['file_name'] for img in coco['images']}
    h, w = size
    imgs, kpts = [], []
    for ann in coco['annotations']:
        if ann.get('num_keypoints', 0) == 0:
            continue
        image = cv2.imread(osp.join(COCO_SAMPLE, files[ann['image_id']]))[:, :, ::-1]  # RGB
        bx, by, bw, bh = ann['bbox']
        cx, cy = bx + bw / 2, by + bh / 2
        kp = np.array(ann['keypoints'], dtype=np.float32).reshape(17, 3)
        for pad in paddings:
            sw, sh = bw * pad, bh * pad
            if sw / sh > w / h:
                sh = sw * h / w
            else:
                sw = sh * w / h
            a = np.array([[w / sw, 0, w / 2 - cx * w / sw], [0, h / sh, h / 2 - cy * h / sh]],
                         dtype=np.float32)
            crop = cv2.warpAffine(np.ascontiguousarray(image), a, (w, h), flags=cv2.INTER_LINEAR)
            k = kp.copy()
            k[:, :2] = kp[:, :2] @ a[:, :2].T + a[:, 2]
            for flip in flips:
                c, kk = crop, k.copy()
                if flip:
                    c = crop[:, ::-1]
                    kk = kk[COCO_FLIP]
                    kk[:, 0] = w - 1 - kk[:, 0]
                imgs.append(torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1).float())
                kpts.append(torch.from_numpy(kk))
    x = (torch.stack(imgs) - MEAN) / STD
    return x, torch.stack(kpts)


def heatmap_targets(kpts: torch.Tensor, hm_size=(64, 48), stride=4, sigma=2.0):
    """MSRA Gaussian heatmaps (mmpose's MSRAHeatmap, sigma 2) and visibility weights."""
    n = kpts.shape[0]
    ys = torch.arange(hm_size[0]).view(1, 1, -1, 1).float()
    xs = torch.arange(hm_size[1]).view(1, 1, 1, -1).float()
    mu = (kpts[..., :2] / stride).round()
    g = torch.exp(-((xs - mu[..., 0, None, None]) ** 2 + (ys - mu[..., 1, None, None]) ** 2)
                  / (2 * sigma ** 2))
    inside = ((mu[..., 0] >= 0) & (mu[..., 0] < hm_size[1]) & (mu[..., 1] >= 0)
              & (mu[..., 1] < hm_size[0]))
    weight = ((kpts[..., 2] > 0) & inside).float()
    return g * weight[..., None, None], weight.view(n, 17)


FIT_OPTIMIZER = 'Adam lr 1e-3 (linear warm-up, cosine decay), bf16 autocast'


def _fresh_model(spec: Spec, seed: int) -> Tuple[nn.Module, nn.Module]:
    """(model, tensor-in net): ours from our config with the toolbox's initialisation (no
    ImageNet download), in train mode, channels_last."""
    import importlib
    _register(spec.scope)
    registry = importlib.import_module(f'{spec.scope}.registry').MODELS
    cfg, _ = _our_config(spec)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    model = registry.build(cfg.model)
    _quietly(model.init_weights)
    model.train()
    return model, TensorForward(model, spec.task).to(memory_format=torch.channels_last)


def _fit(net: nn.Module, batch: Callable[[], tuple], loss_fn: Callable, iters: int,
         label: str) -> dict:
    """``iters`` steps of Adam (lr 1e-3, linear warm-up, cosine decay) under bf16 autocast
    (about 2x faster on AVX512-BF16) on ``batch() -> (inputs, targets)``."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    warm = min(20, max(iters // 10, 1))
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, 0.01, 1.0, warm),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iters - warm, 1), eta_min=1e-5)],
        milestones=[warm])
    t0, losses = time.time(), []
    for it in range(iters):
        inputs, targets = batch()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = net(inputs)
        loss = loss_fn(out.float(), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if it % 25 == 0 or it == iters - 1:
            log(f'{label} {it + 1}/{iters} loss {loss.item():.4f}')
    return dict(first_loss=losses[0], final_loss=losses[-1], train_s=time.time() - t0)


def _cached_fit(path: str, info: dict, quick: bool,
                fit: Callable[[], Tuple[dict, dict]]) -> Tuple[dict, dict]:
    """``fit() -> (state_dict, stats)``, cached at ``path`` (not with ``quick``)."""
    if osp.isfile(path) and not quick:
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
        info.update(ckpt['info'])
        info.update(cached=True, checkpoint=osp.relpath(path, REPO_ROOT))
        return ckpt['state_dict'], info
    state, stats = fit()
    info.update(stats, cached=False, checkpoint=osp.relpath(path, REPO_ROOT))
    if not quick:
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save(dict(state_dict=state, info=info), path)
    return state, info


def train_pose_w32(iters: int, seed: int, cache_dir: str, quick: bool) -> Tuple[dict, dict]:
    """An HRNet-W32 pose model fitted to the real sample (ours, from the toolbox's init;
    :func:`_fit`, batch 8, on the sample's person crops at both paddings and their mirror
    images); cached in ``cache_dir``. Returns (state_dict, info)."""
    path = osp.join(cache_dir, f'pose_w32_coco_sample_v3_seed{seed}_it{iters}.pth')
    info = dict(iters=iters, seed=seed, batch=8, optimizer=FIT_OPTIMIZER)

    def fit():
        model, net = _fresh_model(SPECS['pose_w32'], seed)
        x, kpts = coco_crops(paddings=(1.25,)) if quick else coco_crops()
        target, weight = heatmap_targets(kpts)
        g = torch.Generator().manual_seed(seed)

        def batch():
            idx = torch.randperm(len(x), generator=g)[:8]
            return x[idx].contiguous(memory_format=torch.channels_last), idx

        def loss_fn(out, idx):
            return ((out - target[idx]).square().mean((2, 3)) * weight[idx]).mean() * 1000

        stats = _fit(net, batch, loss_fn, iters, 'accuracy: fitting W32 to the sample crops')
        _recalibrate_norms(model, net, (x[i:i + 8].contiguous(
            memory_format=torch.channels_last) for i in range(0, len(x), 8)))
        return model.state_dict(), stats

    return _cached_fit(path, info, quick, fit)


def _quietly(fn: Callable[[], object]) -> None:
    """Run ``fn`` with mmengine's logger at WARNING (``init_weights`` logs every tensor)."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        fn()
    finally:
        logger.setLevel(level)


def _argmax2d(hm: torch.Tensor) -> torch.Tensor:
    n, k, h, w = hm.shape
    idx = hm.reshape(n, k, -1).argmax(-1)
    return torch.stack([idx % w, idx // w], -1).float()


def pose_bf16_accuracy(state: dict, compile_bf16: bool, quick: bool) -> dict:
    """Heatmap argmax of our bf16 modes vs theirs in fp32 on the real sample crops (with
    ``quick``, only the unflipped crops at padding 1.25)."""
    spec = SPECS['pose_w32']
    theirs, ours, _ = build_pair(spec)
    theirs.load_state_dict(state)
    ours.load_state_dict(state)
    theirs.eval()
    ours.eval()
    x, kpts = coco_crops(paddings=(1.25,), flips=(False,)) if quick else coco_crops()
    names = ['theirs', 'ours_fast', 'ours_fast_bf16'] + (['ours_compiled_bf16']
                                                        if compile_bf16 else [])
    variants = forward_variants(theirs, ours, 'pose', names)
    with torch.no_grad():
        hms = {n: torch.cat([v(x[i:i + 8]) for i in range(0, len(x), 8)])
               for n, v in variants.items()}
    ref = _argmax2d(hms['theirs'])
    # Keypoints annotated in the image (COCO v = 1 or 2). The others have no location and got
    # no training signal (weight 0), so their heatmaps are flat noise; reported separately.
    annotated = kpts[..., 2] > 0
    res = dict(crops=len(x), persons=len(x) // (1 if quick else 4),
               heatmaps=int(ref.shape[0] * ref.shape[1]),
               annotated_keypoints=int(annotated.sum()),
               gt_within_2px_fp32=float(((ref * 4 - kpts[..., :2]).norm(dim=-1)[annotated]
                                         <= 8).float().mean()))
    for n in names[1:]:
        d = (_argmax2d(hms[n]) - ref).norm(dim=-1)
        res[n] = dict(equal=float((d[annotated] == 0).float().mean()),
                      within_1px=float((d[annotated] <= 1).float().mean()),
                      within_1px_all_heatmaps=float((d <= 1).float().mean()),
                      max_heatmap_diff=max_abs_diff(hms[n], hms['theirs']),
                      heatmap_peak=max_abs(hms['theirs']))
    return res


def seg_image(shape) -> torch.Tensor:
    """A real COCO sample image resized to ``shape`` (N, 3, H, W), normalised like mmseg."""
    import cv2
    files = sorted(f for f in os.listdir(COCO_SAMPLE) if f.endswith('.jpg'))
    imgs = []
    for i in range(shape[0]):
        img = cv2.imread(osp.join(COCO_SAMPLE, files[i % len(files)]))[:, :, ::-1]
        img = cv2.resize(np.ascontiguousarray(img), (shape[3], shape[2]),
                         interpolation=cv2.INTER_LINEAR)
        imgs.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float())
    return (torch.stack(imgs) - MEAN) / STD


def seg_sample(shape, num: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The sample's images resized to ``shape`` (H, W), normalised, and their person masks
    (COCO polygons) as Cityscapes labels: 11 (person) on 0 (road, standing in for the rest)."""
    import cv2
    with open(osp.join(COCO_SAMPLE, 'test_coco.json')) as f:
        coco = json.load(f)
    h, w = shape
    imgs, labels = [], []
    for im in coco['images'][:num]:
        img = cv2.imread(osp.join(COCO_SAMPLE, im['file_name']))[:, :, ::-1]
        img = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((h, w), np.uint8)
        sx, sy = w / im['width'], h / im['height']
        for ann in coco['annotations']:
            if ann['image_id'] == im['id'] and isinstance(ann['segmentation'], list):
                for poly in ann['segmentation']:
                    pts = (np.array(poly).reshape(-1, 2) * [sx, sy]).astype(np.int32)
                    cv2.fillPoly(mask, [pts], 1)
        imgs.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float())
        labels.append(torch.from_numpy(mask).long() * 11)
    return (torch.stack(imgs) - MEAN) / STD, torch.stack(labels)


def fit_seg_model(spec: Spec, shape, iters: int, cache_dir: str,
                  quick: bool) -> Tuple[dict, dict]:
    """A segmentation model fitted to the sample's person masks (ours, from the toolbox's
    init; :func:`_fit` on batches of two random crops of a quarter of the height and width,
    flipped at random, taken from the images at the benchmark size, so the fit sees the
    evaluation scale); cached in ``cache_dir``. Returns (state_dict, info)."""
    name = spec.ours.split('/')[-1][:-3]
    h, w = shape[-2:]
    ch, cw = h // 4, w // 4
    path = osp.join(cache_dir, f'{name}_coco_sample_{h}x{w}_seed0_it{iters}.pth')
    info = dict(iters=iters, batch=2, crop=[ch, cw], optimizer=FIT_OPTIMIZER)

    def fit():
        model, net = _fresh_model(spec, 0)
        x, labels = seg_sample((h, w), 4)
        g = torch.Generator().manual_seed(0)

        def crops(n=2):
            xs, ys = [], []
            for _ in range(n):
                i = int(torch.randint(len(x), (1,), generator=g))
                top = int(torch.randint(h - ch + 1, (1,), generator=g))
                left = int(torch.randint(w - cw + 1, (1,), generator=g))
                xi = x[i, :, top:top + ch, left:left + cw]
                yi = labels[i, top:top + ch, left:left + cw]
                if torch.rand(1, generator=g) < 0.5:
                    xi, yi = xi.flip(-1), yi.flip(-1)
                xs.append(xi)
                ys.append(yi)
            return torch.stack(xs).contiguous(memory_format=torch.channels_last), torch.stack(ys)

        def loss_fn(out, y):
            return F.cross_entropy(F.interpolate(out, size=(ch, cw), mode='bilinear',
                                                 align_corners=False), y)

        stats = _fit(net, crops, loss_fn, iters, 'seg fit:')
        _recalibrate_norms(model, net, (crops()[0] for _ in range(8)))
        return model.state_dict(), stats

    return _cached_fit(path, info, quick, fit)


def _recalibrate_norms(model: nn.Module, net: nn.Module, batches) -> None:
    """Running statistics = exact averages of the batch statistics of ``net`` (which runs
    ``model``, in train mode) over ``batches``, so that the model in eval mode computes what it
    was trained on (a few hundred steps at momentum 0.1 leave them behind the weights)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    with torch.no_grad():
        for batch in batches:
            net(batch)
    for m in norms:
        m.momentum = 0.1


def seg_fitted_agreement(spec: Spec, shape, iters: int, quick: bool) -> dict:
    """Label agreement of our bf16 mode with mmseg's fp32 model on a fitted model.

    No trained Cityscapes model is available offline, and random weights give near-ties between
    classes on many pixels. So the model is first fitted to the person masks of the sample
    images (:func:`fit_seg_model`); its weights go into theirs (fp32 reference) and into ours
    optimised in bf16 (eager), and both label the whole sample images at the benchmark size.
    """
    state, info = fit_seg_model(spec, shape, iters, osp.join(REPO_ROOT, 'work_dirs', 'benchmark'),
                                quick)
    theirs, ours, _ = build_pair(spec)
    theirs.load_state_dict(state)
    ours.load_state_dict(state)
    theirs.eval()
    ours.eval()
    x, labels = seg_sample(shape[-2:], 1 if quick else 4)
    variants = forward_variants(theirs, ours, 'seg', ('theirs', 'ours_fast', 'ours_fast_bf16'))
    preds = {n: [] for n in variants}
    with torch.no_grad():
        for i in range(len(x)):
            for n, v in variants.items():
                preds[n].append(seg_labels(v(x[i:i + 1]), shape[-2:]))
    preds = {n: torch.cat(p) for n, p in preds.items()}
    ref = preds['theirs']
    return dict(images=len(x), training=info,
                pixel_acc_fp32_vs_masks=float((ref == labels).float().mean()),
                labels_equal_fp32=float((preds['ours_fast'] == ref).float().mean()),
                labels_equal_bf16=float((preds['ours_fast_bf16'] == ref).float().mean()))


def seg_labels(logits: torch.Tensor, size) -> torch.Tensor:
    """mmseg's whole-image postprocess: bilinear resize of the logits, then argmax."""
    return F.interpolate(logits.float(), size=size, mode='bilinear',
                         align_corners=False).argmax(1)


# --------------------------------------------------------------------------- one model

def bench_model(name: str, args) -> dict:
    spec = SPECS[name]
    shape = spec.quick_shape if args.quick else spec.shape
    log(f'{name}: building theirs ({spec.scope} zoo) and ours')
    theirs, ours, our_cfg = build_pair(spec)
    res = dict(label=spec.label, task=spec.task, toolbox=spec.scope, zoo_config=spec.zoo,
               our_config=our_cfg, input_shape=list(shape))

    # --- params and FLOPs (per image: batch 1)
    from mmengine.analysis import FlopAnalyzer

    from hrnet_mm.analysis import count_macs_fast
    one = (1,) + tuple(shape[1:])
    res['params'] = {}
    res['flops'] = dict(mmengine={}, conv_linear_macs={})
    for who, model in (('theirs', theirs), ('ours', ours)):
        net = TensorForward(model, spec.task).eval()
        res['params'][who] = sum(p.numel() for p in model.parameters())
        res['params'][who + '_backbone'] = sum(p.numel() for p in model.backbone.parameters())
        if not args.no_flops:
            with torch.no_grad():
                fa = FlopAnalyzer(net, (torch.rand(*one),))
                fa.unsupported_ops_warnings(False)
                fa.uncalled_modules_warnings(False)
                res['flops']['mmengine'][who] = int(fa.total())
        res['flops']['conv_linear_macs'][who] = count_macs_fast(net, one)
    log(f'{name}: params theirs {res["params"]["theirs"]:,} ours {res["params"]["ours"]:,}; '
        f'conv+linear MACs/img theirs {res["flops"]["conv_linear_macs"]["theirs"] / 1e9:.3f} G '
        f'ours {res["flops"]["conv_linear_macs"]["ours"] / 1e9:.3f} G')

    # --- forward
    compile = args.compile and (spec.compile or args.compile_all)
    names = [n for n in FORWARD_VARIANTS if compile or 'compiled' not in n]
    variants = forward_variants(theirs, ours, spec.task, names)
    x = seg_image(shape) if spec.task == 'seg' else torch.rand(*shape)
    if spec.task == 'pose' and not args.quick:
        x = coco_crops()[0][:shape[0]]
    outs = {}

    def caller(vname):
        def call():
            with torch.no_grad():
                outs[vname] = variants[vname](x)
        return call

    timing = time_interleaved({n: caller(n) for n in names}, args.repeats_for(spec), name)
    res['forward'] = {}
    base = timing['theirs'].get('median_s')
    for n in names:
        t = dict(timing[n])
        if 'median_s' in t:
            t['img_per_s'] = shape[0] / t['median_s']
            t['speedup'] = base / t['median_s']
            ref = outs['theirs']
            t['max_abs_diff'] = max_abs_diff(outs[n], ref)
            t['max_abs_output'] = max_abs(ref)
        res['forward'][n] = t
    if spec.task == 'seg':
        ref = seg_labels(outs['theirs'], shape[-2:])
        for n in names[1:]:
            if n in outs:
                res['forward'][n]['labels_equal'] = float(
                    (seg_labels(outs[n], shape[-2:]) == ref).float().mean())
    if spec.task == 'seg' and not args.no_accuracy:
        log(f'{name}: bf16 labels of a model fitted to the sample')
        res['fitted_model'] = seg_fitted_agreement(spec, shape, 1 if args.quick
                                                   else spec.fit_iters, args.quick)
        log(f'{name}: labels equal (bf16 vs fp32, fitted model): '
            f'{res["fitted_model"]["labels_equal_bf16"]:.3%}')
    if spec.task == 'det':
        res['detector'] = bench_detector(theirs, ours, shape, args)

    # --- training step (pose)
    if spec.task == 'pose' and not args.no_train:
        xt = torch.rand(*shape)
        steps = {}
        for vname, (model, cl) in train_models(theirs, ours, TRAIN_VARIANTS).items():
            steps[vname] = TrainStep(model, spec.task, xt, cl)
        tr = time_interleaved(steps, args.train_repeats, f'{name} train')
        base = tr['theirs'].get('median_s')
        for vname, t in tr.items():
            if 'median_s' in t:
                t['speedup'] = base / t['median_s']
                t['time_ratio'] = t['median_s'] / base
        # same weights, same data, same update: the losses of the last step must agree
        res['train'] = tr
        del steps

    return res


def attach_memory(res: dict, mem: dict) -> None:
    """Put a model's probe result into its results, with ratios to theirs."""
    res['memory'] = mem
    for part in ('train', 'inference'):
        variants = mem.get(part, {})
        base = variants.get('theirs', {}).get('extra_mib')
        for v in variants.values():
            if base and 'extra_mib' in v:
                v['ratio'] = v['extra_mib'] / base


def bench_detector(theirs: nn.Module, ours: nn.Module, shape, args) -> dict:
    """The whole Faster R-CNN forward (RPN, NMS, RoIAlign, box head; ``predict`` without
    rescaling): theirs, ours, and ours with the optimised backbone + neck."""
    from mmdet.structures import DetDataSample

    from hrnet_mm.fast import optimize
    h, w = shape[-2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0))
    samples = [DetDataSample(metainfo=meta) for _ in range(shape[0])]
    fast = copy.deepcopy(ours)
    fast.backbone = optimize(nn.Sequential(ours.backbone, ours.neck))
    fast.neck = None
    models = dict(theirs=theirs, ours=ours, ours_fast=fast)
    x = seg_image(shape)
    outs = {}

    def caller(n):
        def call():
            with torch.no_grad():
                outs[n] = models[n].predict(x, copy.deepcopy(samples), rescale=False)
        return call

    timing = time_interleaved({n: caller(n) for n in models}, args.repeats_for(SPECS['det_w32']),
                              'det_w32 detector')
    base = timing['theirs']['median_s']
    res = {}
    ref = outs['theirs'][0].pred_instances
    for n, t in timing.items():
        t['speedup'] = base / t['median_s']
        p = outs[n][0].pred_instances
        t['detections'] = int(len(p.bboxes))
        if len(p.bboxes) == len(ref.bboxes):
            t['max_abs_diff_boxes'] = (p.bboxes - ref.bboxes).abs().max().item() \
                if len(ref.bboxes) else 0.0
            t['max_abs_diff_scores'] = (p.scores - ref.scores).abs().max().item() \
                if len(ref.bboxes) else 0.0
            t['labels_equal'] = bool(torch.equal(p.labels, ref.labels))
        res[n] = t
    return res


# --------------------------------------------------------------------------- scaling

def bench_scaling(args) -> dict:
    spec = SPECS['pose_w32']
    log('scaling: W32 pose forward vs input size and batch')
    theirs, ours, _ = build_pair(spec)
    names = ['theirs', 'ours_fast', 'ours_fast_bf16']
    variants = forward_variants(theirs, ours, 'pose', names)
    res = {}
    for key, shape in scaling_points(args.quick):
        x = torch.rand(*shape)

        def caller(n):
            def call():
                with torch.no_grad():
                    variants[n](x)
            return call

        big = shape[0] * shape[2] * shape[3] > 8 * 256 * 192
        rounds = 1 if args.quick else (2 if big else 3)
        t = time_interleaved({n: caller(n) for n in names}, rounds, f'scaling {key}')
        for v in t.values():
            if 'median_s' in v:
                v['img_per_s'] = shape[0] / v['median_s']
        res[key] = dict(shape=list(shape), **t)
    return res


def attach_scaling_memory(res: dict, mem: dict) -> None:
    for k, v in mem.items():
        if k == 'error' or 'extra_mib' not in v:
            res['memory_error'] = v
            continue
        key, n = k.split('/')
        res[key][n]['extra_mib'] = v['extra_mib']


def plot_scaling(scaling: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [k for k in scaling if isinstance(scaling[k], dict) and 'shape' in scaling[k]]
    size_keys = [k for k in keys if k.endswith('batch 1')]
    batch_keys = [keys[0]] + [k for k in keys if not k.endswith('batch 1')]
    names = [('theirs', 'mmpose fp32'), ('ours_fast', 'ours optimised fp32'),
             ('ours_fast_bf16', 'ours optimised bf16')]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (ks, xlabel, xval) in enumerate((
            (size_keys, 'input pixels (batch 1)', lambda s: s[2] * s[3]),
            (batch_keys, 'batch (input %dx%d)' % tuple(scaling[keys[0]]['shape'][2:]),
             lambda s: s[0]))):
        for row, (field, ylabel) in enumerate((('median_s', 'forward time (s)'),
                                                ('extra_mib', 'activation memory (MiB)'))):
            ax = axes[row][col]
            for n, label in names:
                pts = [(xval(scaling[k]['shape']), scaling[k][n].get(field)) for k in ks]
                pts = [p for p in pts if p[1] is not None]
                if pts:
                    ax.plot(*zip(*pts), marker='o', label=label)
            ax.set_xscale('log')
            ax.set_yscale('log')
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which='both', alpha=0.3)
            ax.legend()
    fig.suptitle('HRNet-W32 pose forward: mmpose vs hrnet_mm (same weights)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- report

def machine_info(threads: int) -> dict:
    cpu, flags = platform.processor(), ''
    try:
        with open('/proc/cpuinfo') as f:
            text = f.read()
        cpu = re.search(r'model name\s*:\s*(.*)', text).group(1).strip()
        flags = re.search(r'flags\s*:\s*(.*)', text).group(1)
    except (OSError, AttributeError):
        pass
    return dict(cpu=cpu, logical_cores=os.cpu_count(), torch_threads=threads,
                avx512_bf16='avx512_bf16' in flags, amx='amx_bf16' in flags,
                memory_gib=round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
                                 / 2 ** 30, 1), python=platform.python_version())


def versions() -> dict:
    import importlib
    out = {}
    for pkg in ('torch', 'mmengine', 'mmcv', 'mmpose', 'mmseg', 'mmdet', 'hrnet_mm', 'numpy'):
        try:
            out[pkg] = importlib.import_module(pkg).__version__
        except Exception:  # noqa: BLE001
            out[pkg] = None
    return out


def _best(fwd: dict, dtype: str) -> Optional[str]:
    keys = [k for k in fwd if k.startswith('ours_') and ('bf16' in k) == (dtype == 'bf16')
            and 'speedup' in fwd[k]]
    return max(keys, key=lambda k: fwd[k]['speedup']) if keys else None


def evaluate_targets(results: dict) -> List[dict]:
    """The issue's targets, measured."""
    models, out = results['models'], []

    def add(name, target, measured, met):
        out.append(dict(target=name, goal=target, measured=measured, met=bool(met)))

    lite = models.get('pose_lite18', {}).get('forward')
    if lite:
        k = _best(lite, 'fp32')
        add('Lite-HRNet-18 fp32 forward vs mmpose', '>= 2.5x, outputs within 1e-4',
            f'{lite[k]["speedup"]:.2f}x ({k}), max abs diff {lite[k]["max_abs_diff"]:.1e}',
            lite[k]['speedup'] >= 2.5 and lite[k]['max_abs_diff'] <= 1e-4)
    w32 = models.get('pose_w32', {})
    if w32.get('forward'):
        fwd = w32['forward']
        k = _best(fwd, 'fp32')
        macs = w32['flops']['conv_linear_macs']['ours'] * w32['input_shape'][0]
        gemm = results.get('gemm_peak_gflops', {}).get('float32')
        bound = f', {2 * macs / fwd[k]["median_s"] / 1e9 / gemm:.0%} of the fp32 GEMM peak' \
            if gemm else ''
        add('HRNet-W32 fp32 forward vs mmpose', '>= 1.1x, outputs within 1e-4',
            f'{fwd[k]["speedup"]:.2f}x ({k}){bound}, max abs diff {fwd[k]["max_abs_diff"]:.1e}',
            fwd[k]['speedup'] >= 1.1 and fwd[k]['max_abs_diff'] <= 1e-4)
        kb = _best(fwd, 'bf16')
        acc = results.get('pose_accuracy', {})
        within = acc.get(kb, {}).get('within_1px')
        add('HRNet-W32 bf16 forward vs mmpose fp32',
            '>= 2x, argmax within 1 px for >= 99% of the annotated keypoints',
            f'{fwd[kb]["speedup"]:.2f}x ({kb}), argmax within 1 px: '
            + (f'{within:.2%}' if within is not None else 'not measured'),
            fwd[kb]['speedup'] >= 2 and within is not None and within >= 0.99)
    seg = models.get('seg_w48', {}).get('forward')
    if seg:
        kb = _best(seg, 'bf16')
        shape = models['seg_w48']['input_shape']
        fitted = models['seg_w48'].get('fitted_model', {}).get('labels_equal_bf16')
        add(f'HRNetV2-W48 seg {shape[2]}x{shape[3]} bf16 vs mmseg fp32',
            '>= 2x, labels equal on >= 99.5% of pixels',
            f'{seg[kb]["speedup"]:.2f}x ({kb}); labels equal: '
            + (f'{fitted:.2%} on a model fitted to the sample (ours_fast_bf16), '
               if fitted else '')
            + f'{seg[kb]["labels_equal"]:.2%} with random weights ({kb})',
            seg[kb]['speedup'] >= 2 and (fitted or seg[kb]['labels_equal']) >= 0.995)
    tr, mem = w32.get('train'), w32.get('memory', {}).get('train')
    if tr and mem and 'ratio' in mem.get('ours_memsave', {}):
        r_mem, r_t = mem['ours_memsave']['ratio'], tr['ours_memsave']['time_ratio']
        add('HRNet-W32 training step, batch 8, memory-saving mode',
            '<= 0.5x mmpose activation memory at <= 1.3x step time',
            f'{r_mem:.2f}x memory ({mem["ours_memsave"]["extra_mib"]:.0f} vs '
            f'{mem["theirs"]["extra_mib"]:.0f} MiB), {r_t:.2f}x step time',
            r_mem <= 0.5 and r_t <= 1.3)
    return out


def _f(v, fmt='{:.2f}', none='-'):
    return none if v is None else fmt.format(v)


def write_markdown(results: dict, path: str) -> None:
    m, v = results['machine'], results['versions']
    L = [f'# Benchmark: hrnet_mm vs the mm model zoo ({results["mode"]} run)', '',
         'Generated by `python tools/benchmark.py' + (' --quick' if results['mode'] == 'quick'
                                                     else '') + '`; numbers in '
         '`benchmark.json`. Every comparison uses the same weights (the toolbox model '
         'randomised, loaded into ours) and the same inputs; ours and theirs are timed '
         'interleaved (A, B, A, B ...) in one process, every round timing every variant once '
         'after a warm-up call; times are medians over the rounds. The machine is shared: a '
         'round in which any variant took more than 1.5x its best time (another job stalled '
         'it) is discarded as a whole and repeated, up to 3x the requested rounds.', '',
         f'- **Date:** {results["date"]}',
         f'- **Machine:** {m["cpu"]}, {m["logical_cores"]} logical cores, '
         f'{m["memory_gib"]} GiB; torch threads {m["torch_threads"]}; AVX512-BF16 '
         f'{m["avx512_bf16"]}, AMX {m["amx"]}',
         f'- **Measured GEMM peak ({m["torch_threads"]} threads, best of the start and the '
         f'end of the run):** fp32 '
         f'{results["gemm_peak_gflops"]["float32"]:.0f} GFLOP/s, bf16 '
         f'{results["gemm_peak_gflops"]["bfloat16"]:.0f} GFLOP/s',
         '- **Versions:** ' + ', '.join(f'{k} {val}' for k, val in v.items()),
         f'- **Load average (1 min):** {results["load"]["before"]:.2f} before, '
         f'{results["load"]["after"]:.2f} after; cores used by other jobs just before each '
         f'model: {results["load"].get("other_jobs_cores_before_each_model") or "-"}; '
         f'discarded (disturbed) rounds: {results.get("disturbed_rounds") or "none"}. '
         + results['load'].get('note', ''),
         f'- **Wall time of the run:** {results["wall_s"] / 60:.1f} min', '']
    if results.get('targets'):
        L += ['## Targets (issue 6)', '']
        if results['mode'] == 'quick':
            L += ['*Quick run: tiny inputs, 1 thread, no compilation, a 1-step "trained" model; '
                  'the targets below are evaluated only to exercise the code.*', '']
        L += ['| target | goal | measured | met |', '|---|---|---|---|']
        L += [f'| {t["target"]} | {t["goal"]} | {t["measured"]} | '
              f'{"yes" if t["met"] else "**no**"} |' for t in results['targets']]
        L.append('')
    models = results['models']
    L += ['## Forward (inference)', '',
          'Throughput in images/s; ratios to the toolbox model (theirs) in brackets. '
          '*fast* = `hrnet_mm.fast.optimize` (BN folded into convs, exchange units merged, '
          'channels_last), eager; *compiled* = the same with `compile=True` (inductor, '
          'weights frozen); bf16 = bfloat16 weights and activations. The max abs diff is to '
          'theirs (fp32 variants: ours plain / fast / compiled); with random weights the outputs '
          'are large (last column), so compare the differences with it.', '',
          '| model | input | params theirs / ours | GFLOPs mmengine | conv+linear GMACs/img '
          'theirs / ours | theirs | ours | fast fp32 | compiled fp32 | fast bf16 | '
          'compiled bf16 | max abs diff (plain / fast / compiled) | max abs output |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for name, r in models.items():
        fwd = r['forward']

        def cell(k):
            t = fwd.get(k, {})
            if 'error' in t:
                return 'error'
            if 'img_per_s' not in t:
                return '-'
            return f'{t["img_per_s"]:.2f} ({t["speedup"]:.2f}x)'

        fl = r['flops']
        L.append(
            f'| {r["label"]} | {"x".join(map(str, r["input_shape"]))} | '
            f'{r["params"]["theirs"] / 1e6:.3f}M / {r["params"]["ours"] / 1e6:.3f}M | '
            + ' / '.join(_f(fl['mmengine'].get(w) and fl['mmengine'][w] / 1e9, '{:.2f}')
                         for w in ('theirs', 'ours')) + ' | '
            + ' / '.join(f'{fl["conv_linear_macs"][w] / 1e9:.3f}' for w in ('theirs', 'ours'))
            + ' | ' + ' | '.join(cell(k) for k in ('theirs', 'ours', 'ours_fast',
                                                   'ours_compiled', 'ours_fast_bf16',
                                                   'ours_compiled_bf16'))
            + ' | ' + ' / '.join(_f(fwd.get(k, {}).get('max_abs_diff'), '{:.1e}')
                                 for k in ('ours', 'ours_fast', 'ours_compiled')) + ' | '
            + _f(fwd['theirs'].get('max_abs_output'), '{:.3g}') + ' |')
    L += ['', 'bf16 agreement: relative max abs diff of the bf16 outputs (diff / max |output|) '
          'and, for segmentation, the fraction of pixels whose predicted label equals theirs '
          '(fp32):', '', '| model | fast bf16 rel. diff | compiled bf16 rel. diff | labels '
          'equal (fast fp32 / fast bf16 / compiled bf16) | first call of compiled fp32 / bf16 '
          '(s, includes compilation) |', '|---|---|---|---|---|']
    for name, r in models.items():
        fwd = r['forward']

        def rel(k):
            t = fwd.get(k, {})
            return _f(t.get('max_abs_diff') and t['max_abs_diff'] / t['max_abs_output'],
                      '{:.1e}')

        labels = ' / '.join(_f(fwd.get(k, {}).get('labels_equal'), '{:.3%}')
                            for k in ('ours_fast', 'ours_fast_bf16', 'ours_compiled_bf16'))
        L.append(f'| {r["label"]} | {rel("ours_fast_bf16")} | {rel("ours_compiled_bf16")} | '
                 f'{labels if r["task"] == "seg" else "-"} | '
                 + ' / '.join(_f(fwd.get(k, {}).get('first_call_s'), '{:.0f}')
                              for k in ('ours_compiled', 'ours_compiled_bf16')) + ' |')
    acc = results.get('pose_accuracy')
    if acc:
        info = acc['training']
        L += ['', '### bf16 keypoints on the real COCO sample (HRNet-W32)', '',
              f'No trained W32 checkpoint is available offline, so the benchmark fits one to '
              f'the sample itself: ours, Kaiming init, {info["iters"]} iterations of '
              f'{info["optimizer"]} (batch 8, seed {info["seed"]}) on the '
              f'{acc["persons"]} person crops of `shared/data/coco_sample` (paddings 1.25 and '
              f'1.5) and their mirror images (loss {_f(info.get("first_loss"), "{:.3f}")} -> '
              f'{_f(info.get("final_loss"), "{:.3f}")}; cached in `{info["checkpoint"]}`'
              + (', reused' if info.get('cached') else '') + '). The same weights go into '
              f'mmpose\'s model (fp32 reference) and our bf16 modes, evaluated on the same '
              f'{acc["crops"]} crops: {acc["heatmaps"]} heatmaps, of which '
              f'{acc["annotated_keypoints"]} are annotated keypoints (COCO v = 1 or 2; the '
              f'others have no location and no training signal, so their heatmaps are flat '
              f'noise and are reported apart); distances in heatmap pixels (1 px = 4 input '
              f'pixels). The fp32 argmax lies within 2 heatmap px of the annotation for '
              f'{acc["gt_within_2px_fp32"]:.1%} of the annotated keypoints (how well the model '
              f'fits the sample, i.e. how peaked its heatmaps are).', '',
              '| mode | argmax equal | within 1 px | within 1 px (all heatmaps) | max heatmap '
              'diff (peak) |', '|---|---|---|---|---|']
        for k in ('ours_fast', 'ours_fast_bf16', 'ours_compiled_bf16'):
            if k in acc:
                a = acc[k]
                L.append(f'| {k} | {a["equal"]:.2%} | {a["within_1px"]:.2%} | '
                         f'{a["within_1px_all_heatmaps"]:.2%} | {a["max_heatmap_diff"]:.2e} '
                         f'({a["heatmap_peak"]:.2f}) |')
    fitted = {n: r['fitted_model'] for n, r in models.items() if 'fitted_model' in r}
    if fitted:
        L += ['', '### bf16 segmentation labels on a fitted model', '',
              'Random weights put two classes within bf16 noise of each other on a few percent '
              'of the pixels, and no trained Cityscapes checkpoint is available offline. So '
              'the model (ours, from the toolbox\'s initialisation) is first fitted to the '
              'person masks of the 4 sample images (person = Cityscapes class 11 on class 0) '
              'with crops taken at the benchmark size, so it is evaluated at the scale it was '
              'fitted at; the same weights go into mmseg\'s model (fp32 reference) and our '
              'optimised modes, which label the whole images at the benchmark size.', '',
              '| model | fit | images | pixel accuracy fp32 vs masks | labels equal fast fp32 '
              '| labels equal fast bf16 |', '|---|---|---|---|---|---|']
        for n, a in fitted.items():
            t = a['training']
            L.append(f'| {models[n]["label"]} | {t["iters"]} it. of {t["batch"]} '
                     f'{t["crop"][0]}x{t["crop"][1]} crops, loss '
                     f'{_f(t.get("first_loss"), "{:.3f}")} -> '
                     f'{_f(t.get("final_loss"), "{:.3f}")} | {a["images"]} | '
                     f'{a["pixel_acc_fp32_vs_masks"]:.2%} | {a["labels_equal_fp32"]:.3%} | '
                     f'{a["labels_equal_bf16"]:.3%} |')
    det = models.get('det_w32', {}).get('detector')
    if det:
        L += ['', '### Whole Faster R-CNN forward (`predict`, RPN + NMS + RoIAlign + box head)',
              '', '| variant | median s | ratio | detections | max abs diff boxes / scores '
              '| labels equal |', '|---|---|---|---|---|---|']
        for k, t in det.items():
            L.append(f'| {k} | {t["median_s"]:.3f} | {t["speedup"]:.2f}x | {t["detections"]} | '
                     f'{_f(t.get("max_abs_diff_boxes"), "{:.1e}")} / '
                     f'{_f(t.get("max_abs_diff_scores"), "{:.1e}")} | '
                     f'{t.get("labels_equal", "-")} |')
        L += ['', '(Random weights: the detections are not meaningful, only their agreement.)']
    # training
    trained = {n: r for n, r in models.items() if 'train' in r}
    if trained:
        L += ['', '## Training step and memory', '',
              'Forward + MSE loss + backward + SGD (momentum) step at the forward input size. '
              'Memory: activation memory of one step = peak resident set during the step minus '
              'the resident set just before it (after a warm-up step, so gradients and '
              'momentum buffers are already allocated), measured in a fresh process per model '
              'with glibc\'s mmap threshold at 64 KiB (freed tensors return to the OS at once) and '
              'one thread. '
              '*theirs_cp* = the toolbox\'s own `with_cp=True`; *ours_cl* = channels_last; '
              '*ours_memsave* = `enable_memory_saving(model, "module")` (checkpoint per HR '
              'module + exchange unit, and per residual unit in stage 1) with channels_last.',
              '', '| model | variant | step s | time ratio | activation MiB | memory ratio |',
              '|---|---|---|---|---|---|']
        for name, r in trained.items():
            mem = r.get('memory', {}).get('train', {})
            for k in TRAIN_VARIANTS:
                t, mm = r['train'].get(k, {}), mem.get(k, {})
                if 'error' in t:
                    L.append(f'| {r["label"]} | {k} | error: {t["error"][:80]} | | | |')
                    continue
                L.append(f'| {r["label"]} | {k} | {_f(t.get("median_s"), "{:.3f}")} | '
                         f'{_f(t.get("time_ratio"))} | {_f(mm.get("extra_mib"), "{:.0f}")} | '
                         f'{_f(mm.get("ratio"))} |')
    L += ['', '## Inference activation memory', '',
          'Peak resident set during one forward minus the resident set before it (fresh '
          'process, one thread, first call; MiB, ratio to theirs).', '',
          '| model | theirs | ours | fast fp32 | fast bf16 |', '|---|---|---|---|---|']
    for name, r in models.items():
        inf = r.get('memory', {}).get('inference', {})
        if inf:
            L.append(f'| {r["label"]} | ' + ' | '.join(
                f'{inf[k]["extra_mib"]:.0f} ({inf[k]["ratio"]:.2f}x)' if 'extra_mib' in
                inf.get(k, {}) else '-' for k in MEM_INFER_VARIANTS) + ' |')
    sc = results.get('scaling')
    if sc:
        L += ['', '## Scaling (HRNet-W32 pose forward)', '',
              'Forward time (s) and activation memory (MiB) of mmpose fp32 vs ours optimised '
              '(eager) fp32 and bf16; speed-up in brackets. Plot: `benchmark_scaling.png`.', '',
              '| input | theirs s | fast fp32 s | fast bf16 s | theirs MiB | fast fp32 MiB | '
              'fast bf16 MiB |', '|---|---|---|---|---|---|---|']
        for key, r in sc.items():
            if not isinstance(r, dict) or 'shape' not in r:
                continue
            base = r['theirs']['median_s']
            L.append(f'| {key} | {base:.3f} | '
                     + ' | '.join(f'{r[k]["median_s"]:.3f} ({base / r[k]["median_s"]:.2f}x)'
                                  for k in ('ours_fast', 'ours_fast_bf16')) + ' | '
                     + ' | '.join(_f(r[k].get('extra_mib'), '{:.0f}')
                                  for k in ('theirs', 'ours_fast', 'ours_fast_bf16')) + ' |')
        L += ['', '![scaling](benchmark_scaling.png)']
    L += ['', '## Notes', '',
          '- Params: all parameters of the whole model (backbone + neck + head). FLOPs: '
          'mmengine\'s `FlopAnalyzer` (its default op set: convs, matmuls, norms, upsampling, '
          'pooling ...; one multiply-add = 1) and conv + linear multiply-adds only (the '
          'papers\' unit), per image. Ours computes Lite-HRNet\'s doubled fusion term once, '
          'hence fewer MACs with the same outputs.',
          '- Outputs compared: pose heatmaps, segmentation logits (1/4 resolution), the '
          'detector\'s backbone + neck pyramid (and, for the whole detector, its final boxes).',
          '- Compiled variants: `torch.compile(..., options={"freezing": True})`; the first call '
          'compiles (cached on disk by inductor), the time is in the "first call" column.']
    notes = results.get('notes') or []
    L += [f'- {n}' for n in notes]
    with open(path, 'w') as f:
        f.write('\n'.join(L) + '\n')


# --------------------------------------------------------------------------- main

def wait_for_quiet(max_load: float, max_wait_s: float) -> dict:
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true',
                   help=f'smoke test: tiny inputs, 1-2 repeats, models {",".join(QUICK_MODELS)}')
    p.add_argument('--models', help=f'comma-separated subset of {",".join(SPECS)}')
    p.add_argument('--out', help='output folder (default docs/, or work_dirs/benchmark_quick '
                   'with --quick)')
    p.add_argument('--threads', type=int,
                   help='torch threads, fixed for the run (default 2; 1 with --quick, where '
                   'a busy machine would otherwise stall OpenMP barriers)')
    p.add_argument('--repeats', type=int, help='timed forward rounds (default 5, seg/det 3)')
    p.add_argument('--train-repeats', type=int, help='timed training steps (default 3)')
    p.add_argument('--train-iters', type=int, default=400,
                   help='iterations of the W32 fit to the sample for the bf16 keypoint check')
    p.add_argument('--compile', dest='compile', action='store_true', default=None,
                   help='run the torch.compile variants (default: yes, not with --quick)')
    p.add_argument('--no-compile', dest='compile', action='store_false',
                   help='skip the torch.compile variants')
    p.add_argument('--compile-all', action='store_true',
                   help='compile the segmentation and detection models too (by default only '
                   'the pose models: each compilation takes minutes on 2 cores)')
    p.add_argument('--no-train', action='store_true', help='skip the training-step timing')
    p.add_argument('--no-memory', action='store_true', help='skip the memory probes')
    p.add_argument('--no-flops', action='store_true', help='skip mmengine\'s FlopAnalyzer')
    p.add_argument('--no-accuracy', action='store_true', help='skip the bf16 keypoint check')
    p.add_argument('--no-scaling', action='store_true', help='skip the scaling sweep')
    p.add_argument('--wait-load', type=float, default=0,
                   help='wait (up to --max-wait min) until the 1-min load average is below this')
    p.add_argument('--max-wait', type=float, default=25)
    p.add_argument('--max-wait-model', type=float, default=5,
                   help='before each model of a full run, wait up to this many minutes while '
                   'other jobs use more than half a core')
    p.add_argument('--probe', nargs='+', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.compile is None:
        args.compile = not args.quick
    if args.threads is None:
        args.threads = 1 if args.quick else 2
    args.train_repeats = args.train_repeats or (1 if args.quick else 3)

    def repeats_for(spec: Spec) -> int:
        if args.repeats:
            return args.repeats
        if args.quick:
            return 2
        return 3 if spec.task in ('seg', 'det') else 5

    args.repeats_for = repeats_for
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:  # memory, in a process of its own (see run_probe)
        res = {job: probe_scaling(args.quick) if job == 'scaling' else
               probe_model(job, args.quick) for job in args.probe}
        print('PROBE ' + json.dumps(res), flush=True)
        return res
    out_dir = args.out or (osp.join(REPO_ROOT, 'work_dirs', 'benchmark_quick') if args.quick
                           else osp.join(REPO_ROOT, 'docs'))
    os.makedirs(out_dir, exist_ok=True)
    names = args.models.split(',') if args.models else list(QUICK_MODELS if args.quick
                                                            else SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise SystemExit(f'unknown models {unknown}; choose from {list(SPECS)}')
    load = wait_for_quiet(args.wait_load, args.max_wait * 60) if args.wait_load else \
        dict(before=os.getloadavg()[0], note='')
    t0 = time.time()
    results = dict(mode='quick' if args.quick else 'full',
                   date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                   machine=machine_info(args.threads), versions=versions(), load=load,
                   command=' '.join(['tools/benchmark.py'] + (argv if argv is not None
                                                               else sys.argv[1:])),
                   models={}, notes=[])
    log(f'{results["machine"]["cpu"]}, {args.threads} threads, load {load["before"]:.2f}; '
        f'models: {", ".join(names)}')
    results['gemm_peak_gflops'] = gemm_peak(args.quick)
    log('GEMM peak: ' + ', '.join(f'{k} {v:.0f} GFLOP/s'
                                  for k, v in results['gemm_peak_gflops'].items()))
    loads = [load['before']]
    others = []  # cores used by other jobs just before each model (full run)
    # Memory probes: a fresh process per model in the full run; one for all with --quick.
    deferred = []
    for i, name in enumerate(names):
        log(f'=== {i + 1}/{len(names)} {name} ===')
        if not args.quick:
            others.append(round(wait_for_idle_cpu(max_wait_s=args.max_wait_model * 60), 2))
        results['models'][name] = bench_model(name, args)
        if not args.no_memory:
            if args.quick:  # one model is enough to exercise the probe
                if name == 'pose_w32' or len(names) == 1:
                    deferred.append(name)
            else:
                log(f'{name}: memory probe (subprocess)')
                attach_memory(results['models'][name],
                              run_probe([name], False)[name])
        loads.append(os.getloadavg()[0])
    if not args.no_accuracy and 'pose_w32' in names:
        iters = 1 if args.quick else args.train_iters
        state, info = train_pose_w32(iters, 0, osp.join(REPO_ROOT, 'work_dirs', 'benchmark'),
                                     args.quick)
        acc = pose_bf16_accuracy(state, args.compile, args.quick)
        acc['training'] = info
        results['pose_accuracy'] = acc
        log('accuracy: ' + ', '.join(f'{k} within 1 px {v["within_1px"]:.2%}'
                                     for k, v in acc.items() if isinstance(v, dict)
                                     and 'within_1px' in v))
        loads.append(os.getloadavg()[0])
    if not args.no_scaling:
        results['scaling'] = bench_scaling(args)
        if not args.no_memory:
            if args.quick:
                deferred.append('scaling')
            else:
                log('scaling: memory probe (subprocess)')
                attach_scaling_memory(results['scaling'],
                                      run_probe(['scaling'], False)['scaling'])
        loads.append(os.getloadavg()[0])
    if deferred:
        log(f'memory probe (one subprocess): {", ".join(deferred)}')
        mem = run_probe(deferred, True)
        for job in deferred:
            if job == 'scaling':
                attach_scaling_memory(results['scaling'], mem[job])
            else:
                attach_memory(results['models'][job], mem[job])
    if 'scaling' in results:
        plot_scaling(results['scaling'], osp.join(out_dir, 'benchmark_scaling.png'))
    results['load']['after'] = os.getloadavg()[0]
    results['load']['during'] = loads
    results['load']['other_jobs_cores_before_each_model'] = others
    results['disturbed_rounds'] = {
        f'{n}/{part}': t['disturbed_rounds'] for n, r in results['models'].items()
        for part in ('forward', 'train') for t in r.get(part, {}).values()
        if t.get('disturbed_rounds')}
    results['gemm_peak_gflops'] = gemm_peak(args.quick, results['gemm_peak_gflops'])
    results['wall_s'] = time.time() - t0
    results['targets'] = evaluate_targets(results)
    with open(osp.join(out_dir, 'benchmark.json'), 'w') as f:
        json.dump(results, f, indent=1)
    write_markdown(results, osp.join(out_dir, 'benchmark.md'))
    for t in results['targets']:
        log(f'target {"MET" if t["met"] else "NOT MET"}: {t["target"]}: {t["measured"]}')
    log(f'wrote {out_dir}/benchmark.json and benchmark.md ({results["wall_s"] / 60:.1f} min)')
    return results


if __name__ == '__main__':
    main()
