"""Detection learns: the shipped R-CNN configs on the 4 COCO sample images.

Faster R-CNN on HRNetV2p-W18 (the zoo config) trains from scratch through ``tools/train.py``
on the sample's 14 people and is scored on the same images by ``tools/test.py`` with the
config's own ``CocoMetric`` (slow). The ``--cfg-options`` are
:func:`hrnet_mm.apis.det_sample.coco_sample_det_options` (data paths, image scale, schedule,
optimizer; ``norm_eval=False`` and no ImageNet checkpoint: its module docstring says why); the
recipe and the measured numbers are in ``configs/det/README.md``. A broken RPN target, neck
stride or norm setting leaves the AP near 0.

The fitted detector then runs through ``tools/test.py --fast`` (fp32: the same box AP to the
printed digits; bf16: within 1 AP) and draws its detections (mmdet's visualiser, through
``--show-dir``; the pictures' paths are printed, ``pytest -s``). Mask R-CNN W18 and the
Lite-HRNet-18 Faster R-CNN run one epoch of the same recipe through both tools.

Subprocesses run torch with one thread (``OMP_NUM_THREADS=1`` unless set), as in
``test_tools_e2e.py``; seeded and deterministic.
"""
import dataclasses
import glob
import json
import math
import os.path as osp

import pytest
from helpers import run_python

pytest.importorskip('mmdet.models')
from hrnet_mm.apis.det_sample import cli_options, coco_sample_det_options, recipe_of  # noqa: E402
from hrnet_mm.apis.real_model import SHARED_DATA  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO_ROOT, 'tools')
DET = osp.join(REPO_ROOT, 'configs', 'det')
FASTER_W18 = osp.join(DET, 'faster-rcnn_hrnetv2p-w18-1x_coco.py')
MASK_W18 = osp.join(DET, 'mask-rcnn_hrnetv2p-w18-1x_coco.py')
FASTER_LITE18 = osp.join(DET, 'faster-rcnn_litehrnet-18-2x_coco.py')

pytestmark = pytest.mark.skipif(not osp.isdir(osp.join(SHARED_DATA, 'coco_sample')),
                                reason='real COCO sample not found (shared/data/coco_sample)')


def metrics_of(work_dir) -> dict:
    """The metrics ``tools/test.py`` logged in the newest run folder of ``work_dir``."""
    runs = sorted(glob.glob(osp.join(str(work_dir), '2*', '2*.json')))
    assert runs, f'no metrics logged in {work_dir}'
    records = [json.loads(line) for line in open(runs[-1])]
    return {k.split('/')[-1]: v for r in records for k, v in r.items()}


def fit(config, work_dir):
    """Train ``config`` on the sample with its recipe; return (checkpoint, --cfg-options)."""
    opts = cli_options(coco_sample_det_options(config, str(work_dir)))
    run_python([osp.join(TOOLS, 'train.py'), config, '--work-dir', str(work_dir / 'train'),
                '--cfg-options', *opts], cwd=work_dir, timeout=1200)
    ckpt = work_dir / 'train' / f'epoch_{recipe_of(config).epochs}.pth'
    assert osp.isfile(ckpt)
    return str(ckpt), opts


def evaluate(config, ckpt, opts, work_dir, *extra) -> dict:
    run_python([osp.join(TOOLS, 'test.py'), config, ckpt, '--work-dir', str(work_dir),
                *extra, '--cfg-options', *opts], cwd=osp.dirname(str(work_dir)), timeout=1200)
    return metrics_of(work_dir)


def pictures(show_dir) -> list:
    found = sorted(glob.glob(osp.join(str(show_dir), '**', '*.jpg'), recursive=True))
    assert len(found) == 4, found  # one per sample image
    assert all(osp.getsize(p) > 10000 for p in found)
    print('\npictures of the fitted detector:', *found, sep='\n  ')
    return found


@pytest.fixture(scope='module')
def faster_w18(tmp_path_factory):
    """Faster R-CNN HRNetV2p-W18 fitted to the sample: (checkpoint, options, stock metrics,
    pictures folder)."""
    work = tmp_path_factory.mktemp('faster_w18')
    ckpt, opts = fit(FASTER_W18, work)
    show = work / 'pictures'
    stock = evaluate(FASTER_W18, ckpt, opts, work / 'test', '--show-dir', str(show))
    return ckpt, opts, stock, show


# Floors on the sample's box AP after the fit (measured 0.419 / AP50 0.693 with tools/test.py,
# 1 thread, AMD EPYC; configs/det/README.md): room for numerical differences across machines
# and torch builds, far above what a broken RPN target, neck stride or norm setting reaches
# (0.00-0.03).
FASTER_AP, FASTER_AP50 = 0.25, 0.6


@pytest.mark.slow
def test_faster_rcnn_w18_fits_the_sample(faster_w18):
    _, _, m, show = faster_w18
    print('\nFaster R-CNN W18 fitted to the COCO sample:', m)
    assert m['bbox_mAP'] >= FASTER_AP and m['bbox_mAP_50'] >= FASTER_AP50, m
    pictures(show)


@pytest.mark.slow
def test_fast_mode_on_the_fitted_detector(faster_w18, tmp_path):
    """``tools/test.py --fast``: fp32 prints the stock box AP; bf16 is still a detector that
    has learnt (the same floors as the fit).

    bf16 is not held to "within 1 AP" here: on 14 people one box more or less moves the AP by
    1-2, so the difference depends on the fit and the machine (AMD EPYC: this fit 0.419 stock,
    0.427 bf16; a fit with the step at 3/4: 0.420 / 0.401). configs/det/README.md has both."""
    ckpt, opts, stock, _ = faster_w18
    fp32 = evaluate(FASTER_W18, ckpt, opts, tmp_path / 'fp32', '--fast')
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert f'{fp32[key]:.3f}' == f'{stock[key]:.3f}', (key, fp32, stock)
    bf16 = evaluate(FASTER_W18, ckpt, opts, tmp_path / 'bf16', '--fast', '--dtype', 'bf16')
    print('\nfast fp32:', fp32, '\nfast bf16:', bf16)
    assert bf16['bbox_mAP'] >= FASTER_AP and bf16['bbox_mAP_50'] >= FASTER_AP50, (bf16, stock)


@pytest.mark.parametrize('config', [MASK_W18, FASTER_LITE18], ids=['mask_w18', 'lite18'])
def test_one_epoch_train_and_test(config, tmp_path):
    """Mask R-CNN W18 and the Lite-HRNet-18 Faster R-CNN: one epoch of the recipe, then the
    configs' COCO metric (box and, for Mask R-CNN, mask AP) is computed. Their fits to the
    sample take longer than the suite's budget allows (configs/det/README.md has the numbers).
    """
    recipe = dataclasses.replace(recipe_of(config), epochs=1, warmup_iters=1)
    opts = cli_options(coco_sample_det_options(config, str(tmp_path), recipe=recipe))
    run_python([osp.join(TOOLS, 'train.py'), config, '--work-dir', str(tmp_path / 'train'),
                '--cfg-options', *opts, 'model.test_cfg.rcnn.score_thr=0.0'],
               cwd=tmp_path, timeout=1200)
    m = evaluate(config, str(tmp_path / 'train' / 'epoch_1.pth'), opts + [
        'model.test_cfg.rcnn.score_thr=0.0'], tmp_path / 'test')
    keys = ['bbox_mAP', 'bbox_mAP_50'] + (['segm_mAP'] if config == MASK_W18 else [])
    for key in keys:  # every box kept (score_thr 0): never empty, always computed
        assert math.isfinite(m[key]) and 0.0 <= m[key] <= 1.0, m


def test_recipe_options_and_bad_inputs(tmp_path):
    """The recipe's options resolve on the shipped config as documented; bad input says what."""
    from hrnet_mm.apis import load_config
    opts = coco_sample_det_options(FASTER_W18, str(tmp_path))
    cfg = load_config(FASTER_W18, opts)
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=3e-4, weight_decay=0.05)
    assert cfg.model.backbone.norm_eval is False and cfg.model.backbone.init_cfg is None
    assert cfg.param_scheduler[1].milestones == [48] and cfg.train_cfg.max_epochs == 60
    scales = [s.scale for split in ('train', 'test') for s in
              cfg[f'{split}_dataloader'].dataset.pipeline if s.type == 'Resize']
    assert scales == [(320, 192)] * 2
    ann = json.load(open(cfg.test_evaluator.ann_file))
    assert len(ann['categories']) == 80 and len(ann['annotations']) == 14
    with pytest.raises(KeyError, match='no COCO-sample recipe for htc_hrnetv2p-w18_20e_coco'):
        recipe_of(osp.join(DET, 'htc_hrnetv2p-w18_20e_coco.py'))
    with pytest.raises(FileNotFoundError, match='COCO sample not found'):
        coco_sample_det_options(FASTER_W18, str(tmp_path), sample_dir=str(tmp_path / 'none'))


@pytest.mark.parametrize('norm_eval', [True, False])
def test_frozen_bn_from_scratch_explodes(norm_eval):
    """Why the recipe sets norm_eval=False: from scratch, BN frozen at its initial statistics
    is the identity and the first loss is astronomically large (then NaN after one step)."""
    import torch
    from mmengine.registry import MODELS, init_default_scope

    from hrnet_mm.apis import load_config, register_toolbox
    cfg = load_config(FASTER_W18, {'model.backbone.init_cfg': None,
                                   'model.backbone.norm_eval': norm_eval})
    register_toolbox(cfg)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    with torch.no_grad():
        feats = model.backbone(torch.rand(2, 3, 192, 288))
    std = max(float(f.std()) for f in feats)
    if norm_eval:
        assert std > 1e5, std  # measured ~1e8
    else:
        assert std < 100, std  # measured ~5
