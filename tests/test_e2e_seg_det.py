"""End to end on the real Cityscapes frame, in the dataset's own layout.

The shipped segmentation configs (FCN on HRNetV2-W18-small, OCRNet on HRNetV2-W18-small, FCN
on Lite-HRNet-18) train and evaluate through ``tools/train.py`` / ``tools/test.py`` in a
subprocess on the real Cityscapes val frame in ``../shared/data/cityscapes_sample``
(``leftImg8bit`` / ``gtFine`` folders, 19 train classes, 255 ignore), read by mmseg's own
``CityscapesDataset`` and scored by the configs' ``IoUMetric`` (19-class mIoU).
``--cfg-options`` only point the datasets at the sample, shrink the image sizes (the frame is
256x128), the schedules and the loaders, and set ``init_cfg=None`` (no ImageNet download
offline): pipelines, models and metrics are the configs'. The short runs check that the metric
is computed and logged (finite), not its value; the learning check (slow) fits the frame and
requires a 19-class mIoU above a floor on it. (The detectors' runs on the COCO sample are in
``test_det_learning.py``.)

Subprocesses run torch with one thread (``OMP_NUM_THREADS=1`` unless set), as in
``test_tools_e2e.py``.
"""
import glob
import json
import math
import os.path as osp

import pytest
from helpers import run_python

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO_ROOT, 'tools')
CONFIGS = osp.join(REPO_ROOT, 'configs')
DATA = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data')

pytest.importorskip('mmseg.models')
from mmengine.config import Config  # noqa: E402

FCN_CFG = osp.join(CONFIGS, 'seg', 'fcn_hr18s_4xb2-40k_cityscapes-512x1024.py')
OCR_CFG = osp.join(CONFIGS, 'seg', 'ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py')
LITE_SEG_CFG = osp.join(CONFIGS, 'seg', 'fcn_litehrnet-18_4xb2-160k_cityscapes-512x1024.py')
FRAME = (256, 128)  # (w, h) of the sample frame: train and test on it whole


def sample(folder: str) -> str:
    path = osp.join(DATA, folder)
    if not osp.isdir(path):
        pytest.skip(f'real sample {path} not found (see ../shared/data/README.md)')
    return path


def last_metrics(work_dir, key: str) -> dict:
    """The last logged record holding ``key`` in the newest run folder of ``work_dir``."""
    runs = sorted(d for d in glob.glob(osp.join(str(work_dir), '2*')) if osp.isdir(d))
    assert runs, f'no run folder in {work_dir}'
    name = osp.basename(runs[-1])
    found = None
    for f in (osp.join(runs[-1], 'vis_data', 'scalars.json'), osp.join(runs[-1], f'{name}.json')):
        if osp.isfile(f):
            for line in open(f):
                record = json.loads(line)
                if key in record:
                    found = record
    assert found is not None, f'{key} not logged in {runs[-1]}'
    return found


def common(iters_or_epochs: str, n: int) -> list:
    """Seeded, deterministic, single-process loaders, log every iteration."""
    opts = [f'train_cfg.{iters_or_epochs}={n}', 'randomness.seed=0',
            'randomness.deterministic=True', 'default_hooks.logger.interval=1']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    return opts


def cityscapes_options(cfg_file: str, iters: int) -> list:
    """``--cfg-options`` training and testing ``cfg_file`` on the real Cityscapes frame.

    The only frame is a val one, so the train split reads ``val`` too; images are resized to
    the frame's own size (no up-scaling to 2048x1024) and the random crop is the whole frame.
    """
    root = sample('cityscapes_sample')
    cfg = Config.fromfile(cfg_file)
    w, h = FRAME
    opts = common('max_iters', iters) + [
        'model.backbone.init_cfg=None', f'model.data_preprocessor.size=({h},{w})',
        f'train_cfg.val_interval={iters}', 'train_dataloader.batch_size=1',
        f'param_scheduler.0.end={iters}']
    for split in ('train', 'val', 'test'):
        ds = f'{split}_dataloader.dataset'
        opts += [f'{ds}.data_root={root}', f'{ds}.data_prefix.img_path=leftImg8bit/val',
                 f'{ds}.data_prefix.seg_map_path=gtFine/val']
        for i, step in enumerate(cfg[f'{split}_dataloader'].dataset.pipeline):
            if step['type'] in ('Resize', 'RandomResize'):
                opts.append(f'{ds}.pipeline.{i}.scale=({w},{h})')
            elif step['type'] == 'RandomCrop':
                opts.append(f'{ds}.pipeline.{i}.crop_size=({h},{w})')
    return opts


def check_miou(record: dict) -> float:
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(record), sorted(record)
    assert math.isfinite(record['mIoU']) and 0.0 <= record['mIoU'] <= 100.0, record
    return record['mIoU']


@pytest.mark.parametrize('cfg_file', [OCR_CFG, LITE_SEG_CFG], ids=['ocrnet', 'litehrnet'])
def test_cityscapes_frame_train_and_val(cfg_file, tmp_path):
    """OCRNet (HRNet + OCR) and the Lite-HRNet FCN: two iterations, then 19-class mIoU."""
    run_python([osp.join(TOOLS, 'train.py'), cfg_file, '--work-dir', str(tmp_path), '--cfg-options',
                *cityscapes_options(cfg_file, 2)], cwd=tmp_path)
    check_miou(last_metrics(tmp_path, 'mIoU'))
    assert osp.isfile(tmp_path / 'iter_2.pth')


# Learning check: FCN on HRNetV2-W18-small from scratch fits the frame it is evaluated on.
LEARN_ITERS = 100
LEARN_LR = 0.1  # the zoo's 0.01 is for ImageNet-initialised weights; one frame, from scratch
# Floor on the frame's 19-class mIoU after the fit: measured 37.20 (seeded and deterministic,
# 1 thread; 21.37 after 80 iterations at lr 0.05). The floor leaves room for numerical
# differences across machines and torch builds.
MIOU_FLOOR = 25.0


@pytest.mark.slow
def test_cityscapes_fcn_fits_the_frame(tmp_path):
    """Train LEARN_ITERS iterations on the frame, evaluate the checkpoint with tools/test.py."""
    opts = cityscapes_options(FCN_CFG, LEARN_ITERS) + [f'optim_wrapper.optimizer.lr={LEARN_LR}']
    run_python([osp.join(TOOLS, 'train.py'), FCN_CFG, '--work-dir', str(tmp_path / 'train'),
                '--cfg-options', *opts], cwd=tmp_path)
    ckpt = tmp_path / 'train' / f'iter_{LEARN_ITERS}.pth'
    assert osp.isfile(ckpt)
    run_python([osp.join(TOOLS, 'test.py'), FCN_CFG, str(ckpt), '--work-dir',
                str(tmp_path / 'test'), '--cfg-options', *opts], cwd=tmp_path)
    miou = check_miou(last_metrics(tmp_path / 'test', 'mIoU'))
    assert miou > MIOU_FLOOR, f'19-class mIoU on the fitted frame {miou:.2f} <= {MIOU_FLOOR}'
