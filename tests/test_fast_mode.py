"""Fast inference from configs, tools and Inferencers (hrnet_mm.apis.fast_mode).

Tiny sizes throughout: HRNet-W18-small (v1) pose at 128x96 and FCN at 224x320 on the 4-image
real sample (written by ``write_tiny_datasets``), Faster R-CNN W18 at 320x192; checkpoints are
saved from randomly initialised (seeded) models, nothing is downloaded.
"""
import os.path as osp
import warnings

import pytest
import torch
import torch.nn as nn
from helpers import load_tool

for _module in ('mmpose.models', 'mmseg.models', 'mmdet.models'):
    pytest.importorskip(_module)

from mmengine.hooks import Hook  # noqa: E402

from hrnet_mm.apis import (FastInferenceHook, FastModeWarning, build_runner,  # noqa: E402
                           calibration_inputs, load_config, optimize_inferencer,
                           optimize_mm_model, register_toolbox, write_tiny_datasets)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO_ROOT, 'tools')
POSE_CFG = osp.join(REPO_ROOT, 'configs', 'pose',
                    'td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py')
SEG_CFG = osp.join(REPO_ROOT, 'configs', 'seg', 'fcn_hr18s-v1_1xb4-150i_coco-sample-224x320.py')
DET_CFG = osp.join(REPO_ROOT, 'configs', 'det', 'faster-rcnn_hrnetv2p-w18-1x_coco.py')
DET_OPTIONS = {'model.backbone.init_cfg': None,
               'test_dataloader.dataset.pipeline.1.scale': (320, 192)}


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp('fast_tiny')
    return write_tiny_datasets(str(root))


def _pose_cfg(tiny, work_dir, epochs=2):
    cfg = load_config(POSE_CFG)
    register_toolbox(cfg)
    root = tiny['coco'].rstrip('/') + '/'
    cfg.train_dataloader.dataset.dataset.data_root = root
    cfg.train_dataloader.dataset.times = 1
    cfg.train_dataloader.batch_size = 4  # 12 people: 3 iterations per epoch
    for split in ('val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
        cfg[f'{split}_evaluator'].ann_file = root + 'annotations/person_keypoints_val2017.json'
    cfg.train_cfg.update(max_epochs=epochs, val_interval=1)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    return cfg


def _seg_cfg(tiny, options=None):
    cfg = load_config(SEG_CFG, options)
    register_toolbox(cfg)
    root = tiny['cityscapes'].rstrip('/') + '/'
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    return cfg


def _random_checkpoint(cfg, path, seed=0, meta=None, randomize=False):
    """A checkpoint of the config's model, randomly initialised (seeded), batch norms given
    non-trivial running statistics so that folding them is not a no-op (``randomize``: every
    parameter random, :func:`randomize_`, so that a detector's scores clear its threshold)."""
    from mmengine.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.default_scope)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if randomize:
        from hrnet_mm.utils.testing import randomize_
        randomize_(model, seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
    torch.save({'state_dict': model.state_dict(), 'meta': meta or {}}, str(path))
    return str(path)


class _CopySpy(Hook):
    """Runs after FastInferenceHook: compares the optimised copy with the original weights."""
    priority = 'LOWEST'

    def __init__(self):
        self.records = []

    def before_val_epoch(self, runner):
        fast_hook = next(h for h in runner.hooks if isinstance(h, FastInferenceHook))
        original = fast_hook._original.module if hasattr(fast_hook._original, 'module') \
            else fast_hook._original
        from hrnet_mm.fast import OptimizedModel
        assert runner.model is not original
        assert isinstance(runner.model.backbone, OptimizedModel)
        x = torch.rand(1, 3, 128, 96, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            original.eval()
            ref = original.extract_feat(x)
            got = runner.model.extract_feat(x)
            original.train()
        self.records.append((ref[0].clone(), max((a - b).abs().max().item()
                                                 for a, b in zip(ref, got))))


def test_hook_validates_on_a_copy_and_training_is_bit_exact(tiny, tmp_path):
    """Validation every epoch through the hook: the trained weights are bit-identical to a run
    validating on the stock model, metrics agree, the copy follows the latest weights, and the
    test metrics equal those of the Python API (optimize_mm_model)."""
    runs = {}
    for mode in ('stock', 'fast'):
        cfg = _pose_cfg(tiny, tmp_path / mode)
        if mode == 'fast':
            cfg.custom_hooks = [dict(type='hrnet_mm.FastInferenceHook', dtype='fp32')]
        runner = build_runner(cfg)
        spy = _CopySpy()
        if mode == 'fast':
            runner.register_hook(spy)
        runner.train()
        runs[mode] = runner, spy
    (stock, _), (fast, spy) = runs['stock'], runs['fast']
    a, b = stock.model.state_dict(), fast.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # one optimised copy per validation, each equal to the weights of that moment
    assert len(spy.records) == 2
    assert all(diff < 1e-4 for _, diff in spy.records)
    assert not torch.equal(spy.records[0][0], spy.records[1][0])  # the weights moved on
    assert isinstance(fast.model, type(stock.model))  # put back after validation

    stock_metrics = stock.test()
    hook_metrics = fast.test()  # the same hook serves test()
    fast.model = optimize_mm_model(stock.model)  # Python API, no hook
    fast._hooks = [h for h in fast._hooks if not isinstance(h, FastInferenceHook)]
    api_metrics = fast.test()
    assert hook_metrics == api_metrics
    assert set(stock_metrics) == set(hook_metrics)
    assert all(abs(stock_metrics[k] - hook_metrics[k]) < 1e-3 for k in stock_metrics)


def test_hook_rebuilds_the_copy_only_when_the_weights_change(tiny, tmp_path, monkeypatch):
    """Two runner.test() calls on the same weights build one optimised copy; weights changed
    behind autograd's back (``.data``, as EMAHook swaps them) build a new one, and the new
    copy gives the new weights' metrics."""
    from hrnet_mm.apis import fast_mode
    builds = []
    real = fast_mode.optimize_mm_model

    def counting(*args, **kwargs):
        builds.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(fast_mode, 'optimize_mm_model', counting)
    cfg = _pose_cfg(tiny, tmp_path / 'run')
    cfg.custom_hooks = [dict(type='hrnet_mm.FastInferenceHook', dtype='fp32')]
    runner = build_runner(cfg)
    first = runner.test()
    assert runner.test() == first and len(builds) == 1
    head = runner.model.head.final_layer
    torch.manual_seed(0)
    head.weight.data.copy_(torch.randn_like(head.weight) * 0.1)
    changed = runner.test()
    assert len(builds) == 2
    hook = next(h for h in runner.hooks if isinstance(h, FastInferenceHook))
    hook._built = None  # a fresh build of the same weights gives the same metrics
    assert runner.test() == changed and len(builds) == 3


def test_test_tool_fast_flags(tiny, tmp_path):
    """tools/test.py --fast gives the stock mIoU (fp32); bf16 runs; flags without --fast are
    refused."""
    test = load_tool('test')
    cfg = _seg_cfg(tiny)
    ckpt = _random_checkpoint(cfg, tmp_path / 'seg.pth')
    root = tiny['cityscapes'].rstrip('/') + '/'
    options = ['--cfg-options', f'test_dataloader.dataset.data_root={root}']
    results = {}
    for name, flags in (('stock', []), ('fast', ['--fast']),
                        ('bf16', ['--fast', '--dtype', 'bf16'])):
        results[name] = test.main([SEG_CFG, ckpt, '--work-dir', str(tmp_path / name), *flags,
                                   *options])
    assert results['fast']['mIoU'] == pytest.approx(results['stock']['mIoU'], abs=0.01)
    assert results['fast']['aAcc'] == pytest.approx(results['stock']['aAcc'], abs=0.01)
    assert 0 <= results['bf16']['mIoU'] <= 100
    with pytest.raises(SystemExit, match='only apply with --fast'):
        test.main([SEG_CFG, ckpt, '--dtype', 'bf16'])
    with pytest.raises(SystemExit):  # argparse: invalid choice
        test.main([SEG_CFG, ckpt, '--fast', '--backend', 'tensorrt'])


def test_demo_tool_fast(tiny, tmp_path):
    demo = load_tool('demo')
    cfg = _seg_cfg(tiny)
    ckpt = _random_checkpoint(cfg, tmp_path / 'seg.pth')
    image = osp.join(tiny['coco'], 'val2017', '000000000785.jpg')
    out = tmp_path / 'demo.png'
    demo.main([SEG_CFG, ckpt, image, '--out', str(out), '--fast', '--dtype', 'bf16'])
    assert osp.getsize(out) > 1000


def _data(sample):
    return sample.pred_instances if hasattr(sample, 'pred_instances') else sample


def test_inferencers_same_predictions(tiny, tmp_path):
    """optimize_inferencer on MMPoseInferencer, MMSegInferencer and DetInferencer built from
    our configs: the same predictions in fp32."""
    from hrnet_mm.apis import mmpose_without_torchvision
    from hrnet_mm.utils import allow_mm_checkpoint_globals
    mmpose_without_torchvision()  # mmpose.apis imports its visualizers
    allow_mm_checkpoint_globals()  # the pose checkpoint's meta holds numpy arrays
    from mmdet.apis import DetInferencer
    from mmpose.apis import MMPoseInferencer
    from mmseg.apis import MMSegInferencer
    image = osp.join(tiny['coco'], 'val2017', '000000000785.jpg')

    pose_cfg = load_config(POSE_CFG)
    register_toolbox(pose_cfg)
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    # (mmpose reads no metainfo through the quickstart config's RepeatDataset: save it)
    coco_meta = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
    ckpt = _random_checkpoint(pose_cfg, tmp_path / 'pose.pth', meta={'dataset_meta': coco_meta})
    pose = MMPoseInferencer(pose2d=POSE_CFG, pose2d_weights=ckpt, det_model='whole_image',
                            device='cpu')
    ref = next(pose(image, return_datasamples=True))  # whole-image box
    optimize_inferencer(pose, dtype='fp32')
    got = next(pose(image, return_datasamples=True))
    kp_ref = ref['predictions'][0].pred_instances.keypoints
    kp_got = got['predictions'][0].pred_instances.keypoints
    assert abs(kp_ref - kp_got).max() < 1e-2

    seg_cfg = _seg_cfg(tiny)
    ckpt = _random_checkpoint(seg_cfg, tmp_path / 'seg.pth')
    seg = MMSegInferencer(model=seg_cfg, weights=ckpt, device='cpu')
    ref = seg(image, return_datasamples=True)  # one image: the SegDataSample itself
    optimize_inferencer(seg, dtype='fp32')
    got = seg(image, return_datasamples=True)
    logits_ref, logits_got = ref.seg_logits.data, got.seg_logits.data
    assert (logits_ref - logits_got).abs().max() < 1e-3
    assert (ref.pred_sem_seg.data == got.pred_sem_seg.data).float().mean() > 0.999

    det_cfg = load_config(DET_CFG, DET_OPTIONS)
    register_toolbox(det_cfg)
    ckpt = _random_checkpoint(det_cfg, tmp_path / 'det.pth', randomize=True)
    det = DetInferencer(model=det_cfg, weights=ckpt, device='cpu', show_progress=False)
    ref = det(image, return_datasamples=True)['predictions'][0].pred_instances
    optimize_inferencer(det, dtype='fp32')
    got = det(image, return_datasamples=True)['predictions'][0].pred_instances
    assert len(ref) == len(got) > 0
    assert torch.equal(ref.labels, got.labels)
    assert (ref.bboxes - got.bboxes).abs().max() < 0.1
    assert (ref.scores - got.scores).abs().max() < 1e-3


def _toy_model():
    from mmengine.model import BaseModel

    from hrnet_mm.models import HRNet

    class Toy(BaseModel):
        def __init__(self, backbone, head):
            super().__init__()
            self.backbone = backbone
            self.head = head

        def forward(self, x, data_samples=None, mode='tensor'):
            return self.head(self.backbone(x)[0])

    head = nn.Sequential(nn.Conv2d(16, 8, 1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.BatchNorm2d(8))  # the second norm follows no conv
    return Toy(HRNet('w18_small_v1'), head).eval(), Toy


def test_bad_inputs_say_what():
    model, toy = _toy_model()
    with pytest.raises(ValueError, match='dtype must be one of'):
        optimize_mm_model(model, dtype='fp16')
    with pytest.raises(ValueError, match='backend must be one of'):
        optimize_mm_model(model, backend='tensorrt')
    with pytest.raises(ValueError, match='calibration'):
        optimize_mm_model(model, dtype='int8')
    with pytest.raises(ValueError, match='backend must be one of'):
        FastInferenceHook(backend='trt')
    with pytest.raises(ValueError, match='calibration_batches'):
        FastInferenceHook(dtype='int8', calibration_batches=0)
    with pytest.raises(ValueError, match='no model to optimise'):
        optimize_inferencer(object(), dtype='fp32')

    model.train()
    with pytest.warns(FastModeWarning, match=r'head stay unfolded.*head\.3'):
        fast = optimize_mm_model(model)
    assert all(m.training for m in model.modules())  # the original is left as it was
    assert not any(m.training for m in fast.modules())
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    assert (fast(x) - model(x)).abs().max() < 1e-4

    # a backbone that is not hrnet_mm's: generic BN folding, and a one-line warning
    from mmseg.models.backbones import ResNetV1c
    foreign = toy(ResNetV1c(depth=18, out_indices=(0,)),
                  nn.Sequential(nn.Conv2d(64, 8, 1), nn.BatchNorm2d(8))).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        fast = optimize_mm_model(foreign)
    messages = [str(w.message) for w in caught if issubclass(w.category, FastModeWarning)]
    assert len(messages) == 1 and 'ResNetV1c is not an hrnet_mm backbone' in messages[0]
    assert '\n' not in messages[0]
    assert any('norms folded' in line for line in fast.fast_report)
    assert (fast(x) - foreign(x)).abs().max() < 1e-4


def test_int8_calibrates_on_the_dataloader(tiny):
    """The hook takes int8 calibration batches from the dataloader (preprocessed as in
    testing) and leaves the global random state alone."""
    cfg = _pose_cfg(tiny, '/tmp/unused')
    runner = build_runner(cfg)
    state = torch.get_rng_state()
    batches = calibration_inputs(runner.model, runner.val_dataloader, num_batches=1)
    assert torch.equal(state, torch.get_rng_state())
    assert len(batches) == 1 and batches[0].shape[1:] == (3, 128, 96)
    assert batches[0].dtype == torch.float32


def _pose_train_options(tiny, work_dir):
    root = tiny['coco'].rstrip('/') + '/'
    return ['--work-dir', str(work_dir), '--cfg-options',
            f'train_dataloader.dataset.dataset.data_root={root}',
            'train_dataloader.dataset.times=1', 'train_dataloader.batch_size=4',
            f'val_dataloader.dataset.data_root={root}',
            f'val_evaluator.ann_file={root}annotations/person_keypoints_val2017.json',
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=1', 'randomness.seed=0']


def test_train_tool_memory_saving_is_bit_exact(tiny, tmp_path, monkeypatch):
    """tools/train.py --cfg-options model.backbone.memory_saving=module: checkpointed segments
    run, and the trained weights equal those of the plain run bit for bit."""
    import torch.utils.checkpoint as cp
    train = load_tool('train')
    calls = []
    real = cp.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    states = {}
    for mode in ('plain', 'module'):
        wd = tmp_path / mode
        options = _pose_train_options(tiny, wd)
        if mode == 'module':
            monkeypatch.setattr(cp, 'checkpoint', counting)
            options.append('model.backbone.memory_saving=module')
        train.main([POSE_CFG, *options])
        monkeypatch.setattr(cp, 'checkpoint', real)
        from hrnet_mm.utils import allow_mm_checkpoint_globals
        allow_mm_checkpoint_globals()
        states[mode] = torch.load(str(wd / 'epoch_1.pth'), map_location='cpu')['state_dict']
    assert calls  # 3 iterations x the checkpointed segments
    assert states['plain'].keys() == states['module'].keys()
    assert all(torch.equal(states['plain'][k], states['module'][k]) for k in states['plain'])


@pytest.mark.slow
def test_dist_train_memory_saving_two_processes(tiny, tmp_path):
    """tools/dist_train.sh, 2 gloo processes, memory_saving=module, one tiny epoch."""
    import os
    import socket
    import subprocess
    import sys
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    wd = tmp_path / 'dist'
    options = _pose_train_options(tiny, wd)
    options[options.index('train_dataloader.batch_size=4')] = 'train_dataloader.batch_size=2'
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port), OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore')
    proc = subprocess.run(['bash', osp.join(TOOLS, 'dist_train.sh'), POSE_CFG, '2', *options,
                           'model.backbone.memory_saving=module'], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'Distributed training: True' in out and "backend='gloo'" in out
    assert 'Epoch(train) [1][3/3]' in out  # 12 people, 2 processes x batches of 2
    assert osp.isfile(wd / 'epoch_1.pth')


def test_one_default_dtype_everywhere():
    """fp32 (the same outputs) is the default of every way into the fast mode: the hook,
    the Inferencer wrapper, the model builders, optimize / optimize_mm_model and --fast."""
    import argparse
    import inspect

    from hrnet_mm.apis import fast_mode
    from hrnet_mm.fast import optimize
    for fn in (optimize, optimize_mm_model, optimize_inferencer, fast_mode.add_fast_hook,
               fast_mode.fast_model_builders, FastInferenceHook.__init__):
        assert inspect.signature(fn).parameters['dtype'].default == 'fp32', fn.__qualname__
    parser = argparse.ArgumentParser()
    fast_mode.add_fast_args(parser)
    assert fast_mode.fast_args(parser.parse_args(['--fast']))['dtype'] == 'fp32'
