"""Detectors fitted to the bundled COCO sample: the recipe that shows an HRNetV2p detector learn.

The shipped detection configs (``configs/det``) train on the 4 COCO images of
``shared/data/coco_sample`` (14 people) through ``tools/train.py`` and are scored by their own
``CocoMetric`` through ``tools/test.py``; :func:`coco_sample_det_options` gives the
``--cfg-options`` that do it. Only the data paths, the image scale, the schedule and the
optimizer change, plus two settings that training from scratch needs (no ImageNet weights can
be downloaded offline):

* ``model.backbone.init_cfg=None``: no ImageNet checkpoint to load;
* ``model.backbone.norm_eval=False``: the HRNetV2p configs freeze the BN statistics
  (``norm_eval=True``, right for ImageNet-initialised weights). From scratch the frozen
  statistics are the initial mean 0 / variance 1, so every BN is the identity, nothing
  normalises, and the Kaiming-initialised convolutions grow the activations through the ~90
  convolutions of the backbone (1e8 at the neck): the first loss is ~7e7 and the first step
  makes it NaN. With trained statistics the features stay at unit scale.

Optimizer: SGD at the zoo's learning rate scaled to batch 2 (0.0025) learns slowly, and from
0.005 on it diverges within 30 iterations (the 80-class box classifier's loss climbs to
thousands, then NaN): the randomly initialised features are 5x larger than ImageNet ones.
AdamW scales each step per parameter and fits the sample steadily
(``configs/det/README.md`` has the measured numbers).

Example::

    from hrnet_mm.apis import load_config
    from hrnet_mm.apis.det_sample import cli_options, coco_sample_det_options
    config = 'configs/det/faster-rcnn_hrnetv2p-w18-1x_coco.py'
    opts = coco_sample_det_options(config, 'work_dirs/det_sample')
    cfg = load_config(config, opts)          # in Python, or for the tools:
    args = ['--cfg-options', *cli_options(opts)]
    # python tools/train.py CONFIG --work-dir work_dirs/det_sample --cfg-options ...
    # python tools/test.py CONFIG work_dirs/det_sample/epoch_N.pth --cfg-options ...
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from ..fileio import atomic_path
from .real_model import SHARED_DATA

# COCO's 80 category ids in mmdet's CocoDataset class order (person first)
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    81, 82, 84, 85, 86, 87, 88, 89, 90)


@dataclass(frozen=True)
class SampleRecipe:
    """How one detector config is fitted to the 4 sample images (batch 2: 2 iterations an
    epoch).

    Args:
        epochs (int): Training epochs (the schedule's length).
        lr (float): AdamW's learning rate.
        warmup_iters (int): Linear warm-up from 0.001 x ``lr`` (the config's ``LinearLR``).
        scale (tuple): ``(w, h)`` the images are resized into (kept ratio), train and test.
        weight_decay (float): AdamW's weight decay.
        decay_at (float): Fraction of the epochs after which the learning rate drops 10x (the
            config's ``MultiStepLR``, one milestone).
    """
    epochs: int
    lr: float
    warmup_iters: int = 20
    scale: Tuple[int, int] = (320, 192)
    weight_decay: float = 0.05
    decay_at: float = 0.8


# Keyed by config file name (no folder, no .py)
RECIPES: Dict[str, SampleRecipe] = {
    'faster-rcnn_hrnetv2p-w18-1x_coco': SampleRecipe(epochs=60, lr=3e-4),
    'mask-rcnn_hrnetv2p-w18-1x_coco': SampleRecipe(epochs=60, lr=3e-4),
    'faster-rcnn_litehrnet-18-2x_coco': SampleRecipe(epochs=60, lr=3e-4),
}


def recipe_of(config: str) -> SampleRecipe:
    """The sample recipe of ``config`` (a path or a name in :data:`RECIPES`)."""
    name = osp.splitext(osp.basename(config))[0]
    if name not in RECIPES:
        raise KeyError(f'no COCO-sample recipe for {name}; recipes exist for '
                       f'{", ".join(sorted(RECIPES))}')
    return RECIPES[name]


def coco_80_annotations(ann_file: str, out: str) -> str:
    """Write ``ann_file`` with all 80 COCO categories (the sample lists only 'person') to
    ``out``, so an 80-class detector's labels map to category ids as on COCO val2017."""
    coco = json.load(open(ann_file))
    from mmdet.datasets import CocoDataset
    classes = CocoDataset.METAINFO['classes']
    assert len(classes) == len(COCO_CATEGORY_IDS) and classes[0] == 'person'
    coco['categories'] = [dict(id=i, name=n, supercategory=n)
                          for i, n in zip(COCO_CATEGORY_IDS, classes)]
    with atomic_path(out) as tmp:
        with open(tmp, 'w') as f:
            json.dump(coco, f)
    return out


def coco_sample_det_options(config: str, work_dir: str, sample_dir: Optional[str] = None,
                            recipe: Optional[SampleRecipe] = None) -> Dict[str, Any]:
    """Config options (dotted keys, as ``--cfg-options`` takes them; :func:`cli_options`
    writes them out) that train and test ``config`` on the COCO sample with its recipe
    (:data:`RECIPES`, or ``recipe``).

    Writes the sample's annotations with COCO's 80 categories into ``work_dir``; everything
    else is read from ``sample_dir`` (default ``shared/data/coco_sample``). Seeded and
    deterministic, single-process loaders.
    """
    recipe = recipe or recipe_of(config)
    root = (sample_dir or osp.join(SHARED_DATA, 'coco_sample')).rstrip('/') + '/'
    if not osp.isfile(root + 'test_coco.json'):
        raise FileNotFoundError(f'COCO sample not found: {root}test_coco.json')
    ann = coco_80_annotations(root + 'test_coco.json',
                              osp.join(osp.abspath(work_dir), 'coco_sample_80_classes.json'))
    cfg = Config.fromfile(config)
    e, (w, h) = recipe.epochs, recipe.scale
    opts = {
        'model.backbone.init_cfg': None,
        'model.backbone.norm_eval': False,
        'randomness.seed': 0,
        'randomness.deterministic': True,
        'train_cfg.max_epochs': e,
        'train_cfg.val_interval': e,
        'default_hooks.checkpoint.interval': e,
        'train_dataloader.batch_size': 2,
        'optim_wrapper.optimizer._delete_': True,
        'optim_wrapper.optimizer.type': 'AdamW',
        'optim_wrapper.optimizer.lr': recipe.lr,
        'optim_wrapper.optimizer.weight_decay': recipe.weight_decay,
        'param_scheduler.0.end': recipe.warmup_iters,
        'param_scheduler.1.end': e,
        'param_scheduler.1.milestones': [round(e * recipe.decay_at)],
    }
    for split in ('train', 'val', 'test'):
        ds = f'{split}_dataloader.dataset'
        opts.update({f'{split}_dataloader.num_workers': 0,
                     f'{split}_dataloader.persistent_workers': False,
                     f'{ds}.data_root': root, f'{ds}.ann_file': ann,
                     f'{ds}.data_prefix.img': root})
        for i, step in enumerate(cfg[f'{split}_dataloader'].dataset.pipeline):
            if step['type'] == 'Resize':
                opts[f'{ds}.pipeline.{i}.scale'] = (w, h)
    for split in ('val', 'test'):
        opts[f'{split}_evaluator.ann_file'] = ann
    return opts


def cli_options(options: Dict[str, Any]) -> List[str]:
    """``options`` as the ``key=value`` words of ``--cfg-options``.

    Example:
        >>> cli_options({'a.scale': (320, 192), 'b.milestones': [45], 'c': None})
        ['a.scale=(320,192)', 'b.milestones=[45]', 'c=None']
    """
    return [f'{k}={_value(v)}' for k, v in options.items()]


def _value(v) -> str:
    """A value as mmengine's ``DictAction`` reads it back."""
    if isinstance(v, (tuple, list)):
        inner = ','.join(_value(x) for x in v)
        return f'({inner})' if isinstance(v, tuple) else f'[{inner}]'
    return str(v)
