"""Resume: a training run SIGKILLed between two checkpoints and restarted with
``tools/train.py --resume`` ends with exactly the weights of an uninterrupted run.

Everything that decides the weights must come back from the checkpoint or be recomputed the
same way: parameters and BN statistics, SGD momentum, the learning-rate schedule, the iteration
counter and the data order (mmengine re-seeds the sampler and skips the batches already seen).
The model is a tiny hrnet_mm HRNet (every exchange-unit path, BN in train mode) with a 1x1
heatmap head, on a synthetic data set without random augmentation; one thread makes the CPU
kernels bit-reproducible across processes.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAX_ITERS = 12
INTERVAL = 4      # checkpoints at iterations 4, 8, 12
HANG_AFTER = 6    # the killed run stops responding after iteration 6, between checkpoints
TIMEOUT = 120

TOY_MODULE = '''
"""A tiny pose-like model and data set for the resume test (imported by the config)."""
import os
import time

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, MODELS
from torch.utils.data import Dataset

from hrnet_mm.models import HRNet, HRNetArch, StageSpec

torch.set_num_threads(1)

TINY = HRNetArch((
    StageSpec(1, 1, 'BOTTLENECK', (1,), (4,)),
    StageSpec(1, 2, 'BASIC', (1, 1), (4, 8)),
    StageSpec(1, 3, 'BASIC', (1, 1, 1), (4, 8, 16)),
    StageSpec(2, 4, 'BASIC', (1, 1, 1, 1), (4, 8, 16, 32)),
))


@MODELS.register_module(force=True)
class ResumeToyPoseModel(BaseModel):
    def __init__(self, joints=5):
        super().__init__()
        self.backbone = HRNet(TINY, multiscale_output=False)
        self.head = torch.nn.Conv2d(self.backbone.out_channels[0], joints, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        heatmaps = self.head(self.backbone(inputs)[0])
        if mode == 'loss':
            return dict(loss=F.mse_loss(heatmaps, targets))
        return heatmaps


@DATASETS.register_module(force=True)
class ResumeToyDataset(Dataset):
    """Fixed random images and Gaussian heatmaps (no augmentation: nothing random per epoch)."""

    def __init__(self, length=24, joints=5, size=32):
        g = torch.Generator().manual_seed(1234)
        self.images = torch.randn(length, 3, size, size, generator=g)
        cy = torch.randint(0, size // 4, (length, joints, 1, 1), generator=g).float()
        cx = torch.randint(0, size // 4, (length, joints, 1, 1), generator=g).float()
        yy = torch.arange(size // 4).float().view(1, 1, -1, 1)
        xx = torch.arange(size // 4).float().view(1, 1, 1, -1)
        self.targets = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return dict(inputs=self.images[index], targets=self.targets[index])


@HOOKS.register_module(force=True)
class HangAfterIterHook(Hook):
    """With RESUME_TOY_HANG_AFTER=k: after iteration k, say so in a file and stop responding
    (the test SIGKILLs the process there, between two checkpoints)."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        hang_after = int(os.environ.get('RESUME_TOY_HANG_AFTER', 0))
        if hang_after and runner.iter + 1 == hang_after:
            with open(os.path.join(runner.work_dir, 'hanging'), 'w') as f:
                f.write(str(runner.iter + 1))
            while True:
                time.sleep(1)
'''

CONFIG = f'''
default_scope = 'mmpose'  # tools/train.py picks the toolbox from it; the toys are mmengine's
custom_imports = dict(imports=['resume_toy'], allow_failed_imports=False)
model = dict(type='ResumeToyPoseModel')
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ResumeToyDataset'))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={MAX_ITERS})
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[5, 9], gamma=0.5)]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval={INTERVAL}, by_epoch=False,
                    max_keep_ckpts=-1),
    logger=dict(type='LoggerHook', interval=1),
    timer=dict(type='IterTimerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='HangAfterIterHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork'),
               dist_cfg=dict(backend='gloo'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
'''


def _train(config, work_dir, *extra, hang_after=0, env_dir):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([env_dir, REPO_ROOT,
                                           os.environ.get('PYTHONPATH', '')]),
               RESUME_TOY_HANG_AFTER=str(hang_after))
    return subprocess.Popen(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
         '--work-dir', work_dir, *extra],
        cwd=env_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, what):
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f'{what} did not finish in {TIMEOUT}s:\n{out[-3000:]}')
    assert proc.returncode == 0, f'{what} failed ({proc.returncode}):\n{out[-3000:]}'
    return out


def _weights(path):
    from hrnet_mm.utils import allow_mm_checkpoint_globals
    allow_mm_checkpoint_globals()  # Runner checkpoints: numpy / mmengine objects in meta
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    return ckpt['state_dict'], ckpt['meta']


def test_sigkill_between_checkpoints_then_resume_gives_identical_weights(tmp_path):
    env_dir = str(tmp_path)
    (tmp_path / 'resume_toy.py').write_text(textwrap.dedent(TOY_MODULE))
    config = str(tmp_path / 'toy_config.py')
    (tmp_path / 'toy_config.py').write_text(CONFIG)
    straight_dir, killed_dir = str(tmp_path / 'straight'), str(tmp_path / 'killed')

    # the reference run and the run to be killed go side by side
    straight = _train(config, straight_dir, env_dir=env_dir)
    killed = _train(config, killed_dir, hang_after=HANG_AFTER, env_dir=env_dir)
    deadline = time.time() + TIMEOUT
    while not osp.exists(osp.join(killed_dir, 'hanging')):
        if killed.poll() is not None:
            pytest.fail(f'the run to be killed ended by itself:\n{killed.communicate()[0]}')
        if time.time() > deadline:
            killed.kill()
            pytest.fail('the run to be killed never reached iteration '
                        f'{HANG_AFTER}:\n{killed.communicate()[0][-3000:]}')
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    saved = sorted(f for f in os.listdir(killed_dir) if f.endswith('.pth'))
    assert saved == [f'iter_{INTERVAL}.pth'], saved  # killed between checkpoints 4 and 8

    resumed = _finish(_train(config, killed_dir, '--resume', env_dir=env_dir), 'resumed run')
    assert f'resumed epoch: 0, iter: {INTERVAL}' in resumed, resumed[-3000:]
    # it went on from iteration 5 (a silent restart from scratch would also end equal)
    assert f'Iter(train) [{INTERVAL + 1:2d}/{MAX_ITERS}]' in resumed
    assert f'Iter(train) [ 1/{MAX_ITERS}]' not in resumed
    _finish(straight, 'uninterrupted run')

    final = f'iter_{MAX_ITERS}.pth'
    expected, expected_meta = _weights(osp.join(straight_dir, final))
    got, got_meta = _weights(osp.join(killed_dir, final))
    assert got_meta['iter'] == expected_meta['iter'] == MAX_ITERS
    assert sorted(got) == sorted(expected)
    different = [k for k in expected if not torch.equal(got[k], expected[k])]
    worst = max(((got[k].float() - expected[k].float()).abs().max().item() for k in different),
                default=0.0)
    assert not different, f'{len(different)} tensors differ (max abs diff {worst:g}), e.g. ' \
        f'{different[:5]}'
    # the run really trained: the weights moved away from iteration 4
    start, _ = _weights(osp.join(killed_dir, f'iter_{INTERVAL}.pth'))
    assert not torch.equal(start['head.weight'], got['head.weight'])
