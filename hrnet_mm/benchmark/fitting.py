"""Models fitted to the real sample for the reduced-precision accuracy checks.

No trained checkpoint is available offline, and random weights give near-ties (flat heatmaps,
classes within bf16 noise of each other), so the benchmark fits HRNet-W32 and Lite-HRNet-18 / 30
(pose) and the seg models to the sample itself, from the toolbox's initialisation; the fits are
cached in ``work_dirs/benchmark`` by the full run (never by a quick one).
"""
import os
import os.path as osp
import time
from typing import Callable, Iterable, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import REPO_ROOT, log
from .samples import coco_crops, heatmap_targets, seg_sample
from .specs import SPECS, Spec, fresh_model
from .variants import TensorForward

FIT_OPTIMIZER = 'Adam lr 1e-3 (linear warm-up, cosine decay), bf16 autocast'


def fit(net: nn.Module, batch: Callable[[], tuple], loss_fn: Callable, iters: int,
        label: str) -> dict:
    """``iters`` steps of Adam (lr 1e-3, linear warm-up, cosine decay) under bf16 autocast
    (about 2x faster on AVX512-BF16) on ``batch() -> (inputs, targets)``.

    Returns:
        ``first_loss``, ``final_loss`` and ``train_s``.
    """
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


def cached_fit(path: str, info: dict, quick: bool,
               fit_fn: Callable[[], Tuple[dict, dict]]) -> Tuple[dict, dict]:
    """``fit_fn() -> (state_dict, stats)``, cached at ``path`` (neither read nor written with
    ``quick``). Returns (state_dict, ``info`` updated with the stats and the cache path)."""
    if osp.isfile(path) and not quick:
        # our own file, written below: a plain dict of tensors and numbers
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
        info.update(ckpt['info'])
        info.update(cached=True, checkpoint=osp.relpath(path, REPO_ROOT))
        return ckpt['state_dict'], info
    state, stats = fit_fn()
    info.update(stats, cached=False, checkpoint=osp.relpath(path, REPO_ROOT))
    if not quick:
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save(dict(state_dict=state, info=info), path)
    return state, info


def recalibrate_norms(model: nn.Module, net: nn.Module, batches: Iterable) -> None:
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


def _fresh_net(spec: Spec, seed: int) -> Tuple[nn.Module, nn.Module]:
    model = fresh_model(spec, seed)
    return model, TensorForward(model, spec.task).to(memory_format=torch.channels_last)


FITTED_POSE = ('pose_w32', 'pose_lite18', 'pose_lite30')  # cheap enough to fit (minutes)


def fit_pose_model(name: str, iters: int, seed: int, cache_dir: str,
                   quick: bool) -> Tuple[dict, dict]:
    """A pose model (one of :data:`FITTED_POSE`) fitted to the real sample (ours, from the
    toolbox's init; :func:`fit`, batch 8, on the sample's person crops at both paddings and
    their mirror images); cached in ``cache_dir``. Returns (state_dict, info)."""
    if name not in FITTED_POSE:
        raise ValueError(f'no sample fit for {name!r}; fitted pose models: {FITTED_POSE}')
    path = osp.join(cache_dir, f'{name}_coco_sample_v3_seed{seed}_it{iters}.pth')
    info = dict(iters=iters, seed=seed, batch=8, optimizer=FIT_OPTIMIZER)

    def fit_fn():
        model, net = _fresh_net(SPECS[name], seed)
        x, kpts = coco_crops(paddings=(1.25,)) if quick else coco_crops()
        target, weight = heatmap_targets(kpts)
        g = torch.Generator().manual_seed(seed)

        def batch():
            idx = torch.randperm(len(x), generator=g)[:8]
            return x[idx].contiguous(memory_format=torch.channels_last), idx

        def loss_fn(out, idx):
            return ((out - target[idx]).square().mean((2, 3)) * weight[idx]).mean() * 1000

        stats = fit(net, batch, loss_fn, iters,
                    f'accuracy: fitting {SPECS[name].label} to the sample crops')
        recalibrate_norms(model, net, (x[i:i + 8].contiguous(
            memory_format=torch.channels_last) for i in range(0, len(x), 8)))
        return model.state_dict(), stats

    return cached_fit(path, info, quick, fit_fn)


def fit_seg_model(spec: Spec, shape, iters: int, cache_dir: str,
                  quick: bool) -> Tuple[dict, dict]:
    """A segmentation model fitted to the sample's person masks (ours, from the toolbox's
    init; :func:`fit` on batches of two random crops of a quarter of the height and width,
    flipped at random, taken from the images at the benchmark size, so the fit sees the
    evaluation scale); cached in ``cache_dir``. Returns (state_dict, info)."""
    name = spec.ours.split('/')[-1][:-3]
    h, w = shape[-2:]
    ch, cw = h // 4, w // 4
    path = osp.join(cache_dir, f'{name}_coco_sample_{h}x{w}_seed0_it{iters}.pth')
    info = dict(iters=iters, batch=2, crop=[ch, cw], optimizer=FIT_OPTIMIZER)

    def fit_fn():
        model, net = _fresh_net(spec, 0)
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

        stats = fit(net, crops, loss_fn, iters, 'seg fit:')
        recalibrate_norms(model, net, (crops()[0] for _ in range(8)))
        return model.state_dict(), stats

    return cached_fit(path, info, quick, fit_fn)
