"""The benchmarked zoo models and how each pair (the toolbox's model, ours) is built.

For each model, the toolbox's own model is built from its zoo config through the toolbox
registry ("theirs"), given random but non-trivial weights, and loaded into ours (built from
``configs/``; the zoo config with hrnet_mm's modules swapped in when ours is missing), so both
hold the same weights.
"""
import copy
import importlib
import logging
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import torch
import torch.nn as nn

from hrnet_mm.utils.testing import randomize_

from .common import REPO_ROOT

POSE = 'body_2d_keypoint/topdown_heatmap/coco/'


@dataclass(frozen=True)
class Spec:
    """One zoo model: where its config is, what input it gets in the full and quick runs.

    Args:
        task: ``'pose'``, ``'seg'`` or ``'det'``.
        scope: the toolbox, ``'mmpose'``, ``'mmseg'`` or ``'mmdet'``.
        zoo: the config path inside the toolbox's ``.mim/configs``.
        ours: our config, relative to the repository root.
        shape: the forward input (N, C, H, W) of the full run.
        quick_shape: the forward input of the quick run.
        label: the model's name in the report.
        compile: run the ``torch.compile`` variants in the full run.
        fit_iters: seg: iterations of the fit to the sample for the label check.
    """
    task: str
    scope: str
    zoo: str
    ours: str
    shape: Tuple[int, ...]
    quick_shape: Tuple[int, ...]
    label: str
    compile: bool = True
    fit_iters: int = 0


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


def zoo_config(spec: Spec):
    """The toolbox's own config of ``spec`` (from the installed package's ``.mim``)."""
    from mmengine.config import Config
    root = osp.dirname(importlib.import_module(spec.scope).__file__)
    return Config.fromfile(osp.join(root, '.mim', 'configs', spec.zoo))


def our_config(spec: Spec):
    """(config, name): ours; without it, the zoo config with hrnet_mm's modules swapped in."""
    from mmengine.config import Config
    path = osp.join(REPO_ROOT, spec.ours)
    if osp.isfile(path):
        return Config.fromfile(path), spec.ours
    cfg = zoo_config(spec)
    lite = cfg.model.backbone.type == 'LiteHRNet'
    cfg.model.backbone.type = 'hrnet_mm.LiteHRNet' if lite else 'hrnet_mm.HRNet'
    if spec.task == 'det':
        cfg.model.neck.type = 'hrnet_mm.HRNetV2pNeck'
    return cfg, spec.zoo + ' (hrnet_mm modules swapped in)'


def register_scope(scope: str) -> None:
    """Register the toolbox's modules and hrnet_mm's, and make ``scope`` the default scope."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from hrnet_mm.apis import register_toolbox
    register_toolbox(Config(dict(default_scope=scope)))
    init_default_scope(scope)


def _registry(scope: str):
    register_scope(scope)
    return importlib.import_module(f'{scope}.registry').MODELS


_PAIRS: Dict[Tuple[Spec, int], tuple] = {}


def build_pair(spec: Spec, seed: int = 0):
    """(theirs, ours, our config name): the toolbox's zoo model with random weights, and ours
    loaded from its state dict (strict), both in eval mode. Fresh copies on every call (the
    models are built once per process)."""
    if (spec, seed) not in _PAIRS:
        _PAIRS[spec, seed] = _build_pair(spec, seed)
    theirs, ours, name = _PAIRS[spec, seed]
    register_scope(spec.scope)
    theirs, ours = copy.deepcopy(theirs), copy.deepcopy(ours)
    theirs.eval()
    ours.eval()
    return theirs, ours, name


def _build_pair(spec: Spec, seed: int):
    registry = _registry(spec.scope)
    theirs = registry.build(zoo_config(spec).model)
    randomize_(theirs, seed)
    theirs.eval()  # mm's train() returns None: no chaining
    cfg, name = our_config(spec)
    ours = registry.build(cfg.model)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    return theirs, ours, name


def fresh_model(spec: Spec, seed: int) -> nn.Module:
    """Ours from our config with the toolbox's initialisation (no ImageNet download), in
    train mode."""
    registry = _registry(spec.scope)
    cfg, _ = our_config(spec)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    model = registry.build(cfg.model)
    quietly(model.init_weights)
    model.train()
    return model


def quietly(fn: Callable[[], object]) -> None:
    """Run ``fn`` with mmengine's logger at WARNING (``init_weights`` logs every tensor)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        fn()
    finally:
        logger.setLevel(level)
