"""End to end through tools/: real configs train, evaluate, resume, test and run distributed.

Each task's real config (pose W32, segmentation W18, Faster / Mask R-CNN W18) runs through
``tools/train.py`` and ``tools/test.py`` in a subprocess, from a folder holding the tiny real-image
sets in the layouts the zoo configs expect (``data/coco``, ``data/cityscapes``, written by
``tools/make_tiny_dataset.py``). ``--cfg-options`` only shrink the input size, the iterations,
the batch and the loader workers, plus two things this offline CPU machine needs:
``init_cfg=None`` (the ImageNet weights cannot be downloaded) and, for the detectors,
``norm_eval=False`` (with random weights, BN layers frozen at their initial statistics make
the losses explode; the zoo freezes them because it starts from ImageNet statistics).

Each subprocess runs torch with one thread (``OMP_NUM_THREADS=1`` unless set): on a small
machine shared with other processes, two busy-waiting OpenMP threads per process are many times
slower than one.
"""
import glob
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import pytest
import torch
from helpers import load_tool

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO_ROOT, 'tools')
CONFIGS = osp.join(REPO_ROOT, 'configs')
POSE_CFG = osp.join(CONFIGS, 'pose', 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py')
SEG_CFG = osp.join(CONFIGS, 'seg', 'fcn_hr18_4xb2-40k_cityscapes-512x1024.py')
DET_CFG = osp.join(CONFIGS, 'det', 'faster-rcnn_hrnetv2p-w18-1x_coco.py')
MASK_CFG = osp.join(CONFIGS, 'det', 'mask-rcnn_hrnetv2p-w18-1x_coco.py')

for _module in ('mmpose.models', 'mmseg.models', 'mmdet.models'):
    pytest.importorskip(_module)

from hrnet_mm.apis import register_toolbox, write_tiny_datasets  # noqa: E402


def loaders(*splits, batch=None):
    """Single-process loaders (no worker processes on a 2-core machine), a fixed seed and
    deterministic algorithms, so that every run of a test trains the same model."""
    opts = ['randomness.seed=0', 'randomness.deterministic=True']
    for s in splits:
        opts += [f'{s}_dataloader.num_workers=0', f'{s}_dataloader.persistent_workers=False']
        if batch is not None and s == 'train':
            opts.append(f'train_dataloader.batch_size={batch}')
    return opts


# W32 at 128x96 (heatmaps 32x24) instead of 256x192, batches of 4.
POSE_OPTS = loaders('train', 'val', 'test', batch=4) + [
    'model.backbone.init_cfg=None',
    'model.head.decoder.input_size=(96,128)', 'model.head.decoder.heatmap_size=(24,32)',
    'train_dataloader.dataset.pipeline.5.input_size=(96,128)',
    'train_dataloader.dataset.pipeline.6.encoder.input_size=(96,128)',
    'train_dataloader.dataset.pipeline.6.encoder.heatmap_size=(24,32)',
    'val_dataloader.dataset.pipeline.2.input_size=(96,128)',
    'test_dataloader.dataset.pipeline.2.input_size=(96,128)',
    'val_dataloader.batch_size=16', 'test_dataloader.batch_size=32',
    'default_hooks.logger.interval=1']
# W18 FCN at 320x160 (crops 128x128) instead of 2048x1024 (crops 512x1024).
SEG_OPTS = loaders('train', 'val', 'test', batch=2) + [
    'model.backbone.init_cfg=None',
    'train_dataloader.dataset.pipeline.2.scale=(320,160)',
    'train_dataloader.dataset.pipeline.3.crop_size=(128,128)',
    'model.data_preprocessor.size=(128,128)',
    'val_dataloader.dataset.pipeline.1.scale=(320,160)',
    'test_dataloader.dataset.pipeline.1.scale=(320,160)',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']
# Faster / Mask R-CNN W18 at 320x192 instead of 1333x800, batches of 2. A detector trained for
# an epoch or two from random weights scores its boxes low: with the zoo's test-time score
# threshold (0.05) it can keep none, and mmdet's CocoMetric then logs no bbox_mAP at all.
# Threshold 0 keeps the top max_per_img boxes of every image, so the metric always exists.
DET_OPTS = loaders('train', 'val', 'test', batch=2) + [
    'model.backbone.init_cfg=None', 'model.backbone.norm_eval=False',
    'model.test_cfg.rcnn.score_thr=0.0',
    'train_dataloader.dataset.pipeline.2.scale=(320,192)',
    'val_dataloader.dataset.pipeline.1.scale=(320,192)',
    'test_dataloader.dataset.pipeline.1.scale=(320,192)',
    'default_hooks.logger.interval=1']


def run(args, cwd, env=None, timeout=900) -> str:
    """Run ``python args`` (or a shell script) in ``cwd``; fail with its output's tail."""
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    full_env.setdefault('OMP_NUM_THREADS', '1')
    cmd = ['bash', *args] if args[0].endswith('.sh') else [sys.executable, *args]
    proc = subprocess.run(cmd, cwd=str(cwd), env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{out[-6000:]}'
    return out


def newest_run(work_dir) -> str:
    runs = sorted(d for d in glob.glob(osp.join(str(work_dir), '2*')) if osp.isdir(d))
    assert runs, f'no run folder in {work_dir}'
    return runs[-1]


def last_metrics(work_dir, key: str) -> dict:
    """The last logged line holding ``key`` in the newest run of ``work_dir`` (train: the
    validation scalars; test: the run's json log)."""
    run_dir = newest_run(work_dir)
    name = osp.basename(run_dir)
    files = [osp.join(run_dir, 'vis_data', 'scalars.json'), osp.join(run_dir, f'{name}.json')]
    found = None
    for f in files:
        if osp.isfile(f):
            for line in open(f):
                record = json.loads(line)
                if key in record:
                    found = record
    assert found is not None, f'{key} not logged in {run_dir}'
    return found


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A folder with data/coco and data/cityscapes (the real sample when it is there)."""
    root = tmp_path_factory.mktemp('tiny')
    roots = write_tiny_datasets(str(root))
    print(f'tiny sets from {roots["source"]} images in {root}')
    return root


def test_tiny_sets_have_the_real_formats(tiny):
    coco = json.load(open(tiny / 'data/coco/annotations/person_keypoints_val2017.json'))
    assert coco['categories'][0]['name'] == 'person'
    assert len(coco['categories'][0]['keypoints']) == 17
    assert all(len(a['keypoints']) == 51 for a in coco['annotations'])
    instances = json.load(open(tiny / 'data/coco/annotations/instances_val2017.json'))
    assert len(instances['categories']) == 80 and instances['categories'][0]['id'] == 1
    import cv2
    import numpy as np
    labels = sorted(glob.glob(str(tiny / 'data/cityscapes/gtFine/val/*/*_labelTrainIds.png')))
    images = sorted(glob.glob(str(tiny / 'data/cityscapes/leftImg8bit/val/*/*_leftImg8bit.png')))
    assert len(labels) == len(images) == len(coco['images'])
    for label, image in zip(labels, images):
        lab = cv2.imread(label, cv2.IMREAD_UNCHANGED)
        assert lab.shape == cv2.imread(image).shape[:2]
        assert set(np.unique(lab)) <= {0, 11, 255} and (lab == 11).any() and (lab == 0).any()


def test_pose_train_resume_test(tiny):
    """mmpose W32: one epoch + COCO keypoint AP, resume to the second, test the checkpoint."""
    wd = tiny / 'pose'
    run([osp.join(TOOLS, 'train.py'), POSE_CFG, '--work-dir', str(wd), '--cfg-options',
         'train_cfg.max_epochs=1', 'val_dataloader.dataset.bbox_file=None', *POSE_OPTS],
        cwd=tiny)
    assert osp.isfile(wd / 'epoch_1.pth')
    ap = last_metrics(wd, 'coco/AP')['coco/AP']
    assert 0.0 <= ap <= 1.0

    out = run([osp.join(TOOLS, 'train.py'), POSE_CFG, '--work-dir', str(wd), '--resume',
               '--cfg-options', 'train_cfg.max_epochs=2', 'val_dataloader.dataset.bbox_file=None',
               *POSE_OPTS], cwd=tiny)
    assert 'resumed epoch: 1, iter: 3' in out
    assert osp.isfile(wd / 'epoch_2.pth')

    # the zoo's test setting: the person detections of the sample (AP_H_56 detector)
    preds = tiny / 'pose_preds.pkl'
    run([osp.join(TOOLS, 'test.py'), POSE_CFG, str(wd / 'epoch_2.pth'), '--work-dir',
         str(tiny / 'pose_test'), '--out', str(preds), '--cfg-options', *POSE_OPTS], cwd=tiny)
    metrics = last_metrics(tiny / 'pose_test', 'coco/AP')
    assert {'coco/AP', 'coco/AR'} <= set(metrics)
    with open(preds, 'rb') as f:
        assert len(pickle.load(f)) > 0

    # the Runner's checkpoint loads under torch's weights_only=True default
    from hrnet_mm.utils import allow_mm_checkpoint_globals
    allow_mm_checkpoint_globals()
    ckpt = torch.load(str(wd / 'epoch_2.pth'), map_location='cpu')
    assert ckpt['meta']['epoch'] == 2 and 'message_hub' in ckpt


def test_seg_train_resume_test_demo(tiny):
    """mmseg W18 FCN: two iterations + mIoU, resume to the third, test, draw a picture."""
    wd = tiny / 'seg'
    run([osp.join(TOOLS, 'train.py'), SEG_CFG, '--work-dir', str(wd), '--cfg-options',
         'train_cfg.max_iters=2', 'train_cfg.val_interval=2', *SEG_OPTS], cwd=tiny)
    assert 0.0 <= last_metrics(wd, 'mIoU')['mIoU'] <= 100.0
    out = run([osp.join(TOOLS, 'train.py'), SEG_CFG, '--work-dir', str(wd), '--resume',
               str(wd / 'iter_2.pth'), '--cfg-options', 'train_cfg.max_iters=3',
               'train_cfg.val_interval=3', *SEG_OPTS], cwd=tiny)
    assert 'resumed epoch: 0, iter: 2' in out
    run([osp.join(TOOLS, 'test.py'), SEG_CFG, str(wd / 'iter_3.pth'), '--work-dir',
         str(tiny / 'seg_test'), '--cfg-options', *SEG_OPTS], cwd=tiny)
    assert {'aAcc', 'mIoU'} <= set(last_metrics(tiny / 'seg_test', 'mIoU'))
    image = sorted(glob.glob(str(tiny / 'data/cityscapes/leftImg8bit/val/*/*.png')))[0]
    picture = tiny / 'seg_demo.png'
    run([osp.join(TOOLS, 'demo.py'), SEG_CFG, str(wd / 'iter_3.pth'), image, '--out',
         str(picture), '--cfg-options', *SEG_OPTS], cwd=tiny)
    assert osp.getsize(picture) > 1000


def test_det_train_resume_test_demo(tiny):
    """mmdet Faster R-CNN W18: one epoch + bbox AP, resume, test with pictures, demo."""
    wd = tiny / 'det'
    run([osp.join(TOOLS, 'train.py'), DET_CFG, '--work-dir', str(wd), '--cfg-options',
         'train_cfg.max_epochs=1', *DET_OPTS], cwd=tiny)
    assert 0.0 <= last_metrics(wd, 'coco/bbox_mAP')['coco/bbox_mAP'] <= 1.0
    out = run([osp.join(TOOLS, 'train.py'), DET_CFG, '--work-dir', str(wd), '--resume',
               '--cfg-options', 'train_cfg.max_epochs=2', *DET_OPTS], cwd=tiny)
    assert 'resumed epoch: 1, iter: 2' in out
    vis = tiny / 'det_vis'
    run([osp.join(TOOLS, 'test.py'), DET_CFG, str(wd / 'epoch_2.pth'), '--work-dir',
         str(tiny / 'det_test'), '--show-dir', str(vis), '--cfg-options', *DET_OPTS], cwd=tiny)
    assert 'coco/bbox_mAP_50' in last_metrics(tiny / 'det_test', 'coco/bbox_mAP')
    assert len(glob.glob(str(vis / '*.jpg'))) == 4
    image = sorted(glob.glob(str(tiny / 'data/coco/val2017/*.jpg')))[0]
    run([osp.join(TOOLS, 'demo.py'), DET_CFG, str(wd / 'epoch_2.pth'), image, '--out',
         str(tiny / 'det_demo.jpg'), '--score-thr', '0', '--cfg-options', *DET_OPTS], cwd=tiny)
    assert osp.getsize(tiny / 'det_demo.jpg') > 1000


def test_mask_rcnn_segm_ap(tiny):
    """mmdet Mask R-CNN W18: one epoch, evaluated for bbox and segm (mask) AP."""
    wd = tiny / 'mask'
    run([osp.join(TOOLS, 'train.py'), MASK_CFG, '--work-dir', str(wd), '--cfg-options',
         'train_cfg.max_epochs=1', *DET_OPTS], cwd=tiny)
    metrics = last_metrics(wd, 'coco/segm_mAP')
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 'coco/bbox_mAP' in metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_distributed_train_two_processes(tiny):
    """tools/dist_train.sh: torchrun, 2 processes, gloo on CPU, pose W32 for an epoch."""
    wd = tiny / 'dist'
    out = run([osp.join(TOOLS, 'dist_train.sh'), POSE_CFG, '2', '--work-dir', str(wd),
               '--cfg-options', 'train_cfg.max_epochs=1', 'val_dataloader.dataset.bbox_file=None',
               *POSE_OPTS, 'train_dataloader.batch_size=2'],
              cwd=tiny, env=dict(PYTHON=sys.executable, PORT=str(_free_port())))
    assert 'Distributed training: True' in out
    assert "backend='gloo'" in out
    # 12 people, 2 processes x batches of 2: 3 iterations per epoch
    assert 'Epoch(train) [1][3/3]' in out
    assert osp.isfile(wd / 'epoch_1.pth')


# --- small, in-process checks of the tools' argument handling -------------------------------

def test_amp_without_gpu_says_why(monkeypatch):
    train = load_tool('train')
    from mmengine.config import Config
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    args = train.parse_args([POSE_CFG, '--amp'])
    import mmengine.device
    if mmengine.device.is_cuda_available() or mmengine.device.is_npu_available():
        pytest.skip('a GPU is available: --amp works here')
    with pytest.raises(SystemExit, match='needs a CUDA or NPU device'):
        train.merge_train_args(cfg, args)


def test_resume_and_work_dir_flags():
    train = load_tool('train')
    from mmengine.config import Config
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    train.merge_train_args(cfg, train.parse_args([POSE_CFG, '--resume']))
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir.endswith('td-hm_hrnet-w32_8xb64-210e_coco-256x192')
    train.merge_train_args(cfg, train.parse_args([POSE_CFG, '--resume', 'a.pth',
                                                  '--work-dir', 'wd']))
    assert cfg.resume is True and cfg.load_from == 'a.pth' and cfg.work_dir == 'wd'


def test_unknown_toolbox_is_refused():
    from mmengine.config import Config
    with pytest.raises(ValueError, match='default_scope must be one of'):
        register_toolbox(Config(dict(default_scope='mmpretrain')))


def test_safe_load_allows_only_history_buffer_methods():
    from mmengine.logging import HistoryBuffer

    from hrnet_mm.utils.safe_load import history_buffer_getattr
    assert history_buffer_getattr(HistoryBuffer, 'max') is HistoryBuffer.max
    for obj, name in ((HistoryBuffer, '__init__'), (HistoryBuffer, '_statistics_methods'),
                      (os, 'system'), (torch, 'load')):
        with pytest.raises(pickle.UnpicklingError):
            history_buffer_getattr(obj, name)


def test_empty_numpy_arrays_load_and_bytes_stays_restricted(tmp_path):
    """A face data set's meta has empty arrays (no skeleton): pickle protocol 2 spells their
    data ``bytes()``, which loads; ``bytes`` with arguments does not."""
    import numpy as np

    from hrnet_mm.utils import allow_mm_checkpoint_globals
    from hrnet_mm.utils.safe_load import empty_bytes
    allow_mm_checkpoint_globals()
    path = tmp_path / 'meta.pth'
    torch.save(dict(meta=dict(skeleton_link_colors=np.zeros((0, 3)))), str(path))
    assert torch.load(str(path))['meta']['skeleton_link_colors'].shape == (0, 3)
    with pytest.raises(pickle.UnpicklingError):
        empty_bytes(10 ** 9)


def test_weights_only_still_refuses_other_callables(tmp_path):
    """Allowing the Runner's types does not let a checkpoint call arbitrary functions."""
    from hrnet_mm.utils import allow_mm_checkpoint_globals
    allow_mm_checkpoint_globals()

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / 'evil.pth'
    torch.save({'x': Evil()}, str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path))
