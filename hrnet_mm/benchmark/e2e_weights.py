"""The e2e section's weights, saved as Runner checkpoints: pose W32 and seg W18 fitted to the
real samples, the detectors fitted to the COCO sample with their sample recipe
(:mod:`hrnet_mm.apis.det_sample`; cached, like the benchmark's fits), and the quick run's
model with seeded random weights."""
import os
import os.path as osp
import time

import torch
import torch.nn.functional as F

from .common import REPO_ROOT, log
from .samples import cityscapes_frame

CONFIGS = osp.join(REPO_ROOT, 'configs')


def save_checkpoint(state: dict, path: str) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save({'state_dict': state, 'meta': {}}, path)
    return path


def pose_weights(args, cache: str) -> dict:
    """HRNet-W32 256x192 fitted to the COCO sample's people (``--train-iters``), cached."""
    from .fitting import fit_pose_model
    iters = 1 if args.quick else args.train_iters
    state, info = fit_pose_model('pose_w32', iters, 0, cache, args.quick)
    return dict(checkpoint=save_checkpoint(state, osp.join(cache, 'e2e', 'pose_w32.pth')),
                fit=info)


def seg_weights(args, cache: str) -> dict:
    """FCN-W18 fitted to the Cityscapes frame at the test scale (crops of a quarter of its
    height and width, like the benchmark's seg fit; half as many iterations as the W32 fit,
    ``--train-iters``), cached."""
    from .fitting import cached_fit, fit, recalibrate_norms
    from .specs import SPECS, fresh_model
    from .variants import TensorForward
    iters = 2 if args.quick else max(args.train_iters // 2, 2)  # 200 with the default 400
    h, w = (128, 256) if args.quick else (1024, 2048)
    ch, cw = h // 4, w // 4
    path = osp.join(cache, f'e2e_seg_w18_cityscapes_frame_{h}x{w}_it{iters}.pth')
    info = dict(iters=iters, batch=2, crop=[ch, cw])

    def fit_fn():
        model = fresh_model(SPECS['seg_w18'], 0)
        net = TensorForward(model, 'seg').to(memory_format=torch.channels_last)
        x, y = cityscapes_frame((h, w))
        g = torch.Generator().manual_seed(0)

        def crops(n=2):
            xs, ys = [], []
            for _ in range(n):
                top = int(torch.randint(h - ch + 1, (1,), generator=g))
                left = int(torch.randint(w - cw + 1, (1,), generator=g))
                xs.append(x[0, :, top:top + ch, left:left + cw])
                ys.append(y[0, top:top + ch, left:left + cw])
            return torch.stack(xs).contiguous(memory_format=torch.channels_last), torch.stack(ys)

        def loss_fn(out, target):
            return F.cross_entropy(F.interpolate(out, size=(ch, cw), mode='bilinear',
                                                 align_corners=False), target, ignore_index=255)

        stats = fit(net, crops, loss_fn, iters, 'e2e: fitting seg W18 to the Cityscapes frame')
        recalibrate_norms(model, net, (crops()[0] for _ in range(8)))
        return model.state_dict(), stats

    state, info = cached_fit(path, info, args.quick, fit_fn)
    return dict(checkpoint=save_checkpoint(state, osp.join(cache, 'e2e', 'seg_w18.pth')),
                fit=info)


def recipe_tag(recipe) -> str:
    """A folder name that encodes every value of a :class:`~hrnet_mm.apis.det_sample.
    SampleRecipe` (every one shapes the fit), so that changing the
    recipe refits instead of reusing a stale cache.

    Example:
        >>> from hrnet_mm.apis.det_sample import SampleRecipe
        >>> recipe_tag(SampleRecipe(epochs=60, lr=3e-4, warmup_iters=20, scale=(320, 192),
        ...                         weight_decay=0.05, decay_at=0.75))
        'e60_lr0.0003_wu20_320x192_wd0.05_decay0.75'
    """
    w, h = recipe.scale
    return (f'e{recipe.epochs}_lr{recipe.lr:g}_wu{recipe.warmup_iters}_{w}x{h}'
            f'_wd{recipe.weight_decay:g}_decay{recipe.decay_at:g}')


def det_weights(config: str, cache: str, recipe=None) -> dict:
    """``config``'s detector fitted to the COCO sample with its sample recipe
    (:func:`hrnet_mm.apis.det_sample.coco_sample_det_options`, or ``recipe``): mmengine's
    Runner ``train()`` in this process, cached in ``cache/det_<config>_<recipe>/`` (its
    ``epoch_<epochs>.pth`` is reused when present).

    Returns:
        ``checkpoint`` (the fitted weights alone, ``weights.pth`` beside the Runner's
        checkpoint: loadable with ``torch.load(weights_only=True)``), ``fit`` (iterations,
        first / final training loss, the recipe, whether the cache was reused) and
        ``options`` (the sample options: test data, scale, 80-class annotations).
    """
    from dataclasses import asdict

    from hrnet_mm.apis import build_runner, load_config, register_toolbox
    from hrnet_mm.apis.det_sample import coco_sample_det_options, recipe_of
    from hrnet_mm.utils.safe_load import allow_mm_checkpoint_globals
    path = config if osp.isabs(config) else osp.join(CONFIGS, config)
    recipe = recipe or recipe_of(path)
    stem = osp.splitext(osp.basename(path))[0]
    work = osp.join(cache, f'det_{stem}_{recipe_tag(recipe)}')
    options = coco_sample_det_options(path, work, recipe=recipe)
    runner_checkpoint = osp.join(work, f'epoch_{recipe.epochs}.pth')
    cached = osp.isfile(runner_checkpoint)
    if not cached:
        log(f'fitting {stem} to the COCO sample ({recipe.epochs} epochs of 2 iterations; '
            f'{work})')
        cfg = load_config(path, options)
        register_toolbox(cfg)
        cfg.work_dir = work
        # the toolboxes name their visualizer 'visualizer', an mmengine singleton: a second
        # fit in the process would log into the first one's folder; the run's own name
        cfg.visualizer.pop('name', None)
        t0, deterministic = time.time(), torch.are_deterministic_algorithms_enabled()
        try:
            build_runner(cfg).train()
        finally:  # the recipe's randomness.deterministic is global: not for what follows
            torch.use_deterministic_algorithms(deterministic)
        log(f'fitted {stem} in {time.time() - t0:.0f} s')
    allow_mm_checkpoint_globals()  # the Runner's checkpoint: message hub, dataset meta
    ckpt = torch.load(runner_checkpoint, map_location='cpu')
    weights = osp.join(work, 'weights.pth')
    if not osp.isfile(weights):
        save_checkpoint(ckpt['state_dict'], weights)
    fit = dict(recipe=asdict(recipe),
               cached=cached, checkpoint=osp.relpath(runner_checkpoint, REPO_ROOT),
               **training_losses(ckpt))
    return dict(checkpoint=weights, fit=fit, options=options)


def training_losses(checkpoint: dict) -> dict:
    """``iters``, ``first_loss`` and ``final_loss`` (single iterations, as the other fits
    report them) from a Runner checkpoint's message hub, which holds every iteration's loss
    (the logs hold averages over 10)."""
    history = checkpoint.get('message_hub', {}).get('log_scalars', {}).get('train/loss')
    if history is None or not len(history.data[0]):
        return {}
    losses = [float(v) for v in history.data[0]]
    return dict(iters=checkpoint['meta']['iter'], first_loss=losses[0], final_loss=losses[-1])


def random_weights(config: str, cache: str) -> dict:
    """``config``'s model as its ``init_weights`` leaves it (seed 0): the quick run's."""
    from mmengine.registry import MODELS, init_default_scope

    from hrnet_mm.apis import load_config, register_toolbox
    cfg = load_config(osp.join(CONFIGS, config))
    register_toolbox(cfg)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = osp.join(cache, 'e2e', 'quick.pth')
    return dict(checkpoint=save_checkpoint(model.state_dict(), path), fit=None)
