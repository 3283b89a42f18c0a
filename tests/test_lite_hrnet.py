"""Lite-HRNet: parity with mmpose, the published counts, every preset's contract, and the
backbone inside mmpose / mmseg / mmdet models.

Kept small for CPU CI: small inputs, batch 1-2, one thread.
"""
import functools
import os.path as osp
import re
from typing import Dict, Sequence

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import max_abs_diff, randomize_

from hrnet_mm.checkpoint import load_checkpoint
from hrnet_mm.models.lite_arch import (LITE_ARCH_PRESETS, LiteHRNetArch, LiteStageSpec,
                                       lite_arch_from_extra, lite_arch_to_extra)
from hrnet_mm.models.lite_hrnet import LiteHRNet, pool_to_size

PRESETS = sorted(LITE_ARCH_PRESETS)
PARITY_PRESETS = ('lite18', 'lite30', 'naive18')


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """These small CPU models run fastest single-threaded on a shared CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- helpers
def conv_linear_macs(model: nn.Module, shape: Sequence[int]) -> Dict[str, int]:
    """Multiply-adds of every Conv2d / Linear call in one eval forward, per module name.

    A forward-hook counter: every call counts (a module run twice counts twice), and only
    conv and linear layers count (no norm, pooling, resampling or elementwise ops). mmengine's
    ``get_model_complexity_info`` counts more than this (its FlopAnalyzer has handles for
    batch_norm, upsampling and adaptive pooling too); ``hrnet_mm.analysis.count_macs``
    restricts FlopAnalyzer to conv/linear ops and is checked against this counter below.
    """
    counts: Dict[str, int] = {}
    hooks = []

    def hook(name, module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * \
                module.kernel_size[1]
        else:
            per_out = module.in_features
        counts[name] = counts.get(name, 0) + output.numel() * per_out

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(functools.partial(hook, name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(*shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return counts


# fuse_layers[i][0] for i >= 1: the official code calls it twice per module, we once.
SECOND_CALL = re.compile(r'\.fuse_layers\.[1-9]\d*\.0\.')


def official_macs(counts: Dict[str, int]) -> int:
    """MACs of the official computation: our count plus the second call of F_i0."""
    return sum(counts.values()) + sum(v for k, v in counts.items() if SECOND_CALL.search(k))


@functools.lru_cache(maxsize=None)
def mmpose_config_dir() -> str:
    mmpose = pytest.importorskip('mmpose')
    return osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
                    'topdown_heatmap')


def mmpose_config(rel: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(mmpose_config_dir(), rel))


def mmpose_litehrnet():
    """mmpose's own LiteHRNet class (skips when mmpose cannot be imported)."""
    pytest.importorskip('mmpose')
    try:
        from mmpose.models.backbones import LiteHRNet as MMPoseLiteHRNet
    except ImportError as e:  # mmcv missing or mmdet import failure
        pytest.skip(f'mmpose.models cannot be imported: {e}')
    return MMPoseLiteHRNet


# ----------------------------------------------------------------------------- presets
OFFICIAL_NAIVE = {  # HRNet/Lite-HRNet configs/top_down/naive_litehrnet/coco/*_256x192.py
    'naive18': (30, 60, 120, 240),
    'wider_naive18': (40, 80, 160, 320),
}


@pytest.mark.parametrize('name', sorted(OFFICIAL_NAIVE))
def test_naive_presets_equal_official_configs(name):
    c = OFFICIAL_NAIVE[name]
    extra = dict(
        stem=dict(stem_channels=32, out_channels=32, expand_ratio=1),
        num_stages=3,
        stages_spec=dict(
            num_modules=(2, 4, 2), num_branches=(2, 3, 4), num_blocks=(2, 2, 2),
            module_type=('NAIVE', 'NAIVE', 'NAIVE'), with_fuse=(True, True, True),
            reduce_ratios=(1, 1, 1), num_channels=(c[:2], c[:3], c)),
        with_head=True)
    assert lite_arch_from_extra(extra) == LITE_ARCH_PRESETS[name]


@pytest.mark.parametrize('rel, name', [
    ('coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py', 'lite18'),
    ('coco/td-hm_litehrnet-30_8xb64-210e_coco-256x192.py', 'lite30'),
    ('mpii/td-hm_litehrnet-18_8xb64-210e_mpii-256x256.py', 'lite18'),
    ('mpii/td-hm_litehrnet-30_8xb64-210e_mpii-256x256.py', 'lite30'),
])
def test_lite_presets_equal_mmpose_configs(rel, name):
    cfg = mmpose_config(rel)
    assert lite_arch_from_extra(cfg.model.backbone.extra) == LITE_ARCH_PRESETS[name]
    # and the config's head width is what the backbone declares
    assert cfg.model.head.in_channels == LiteHRNet(extra=cfg.model.backbone.extra).out_channels[0]


@pytest.mark.parametrize('name', PRESETS)
def test_extra_round_trip(name):
    arch = LITE_ARCH_PRESETS[name]
    assert lite_arch_from_extra(lite_arch_to_extra(arch)) == arch


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize('name', PARITY_PRESETS)
def test_parity_with_mmpose(name):
    MMPoseLiteHRNet = mmpose_litehrnet()
    ref = randomize_(MMPoseLiteHRNet(lite_arch_to_extra(LITE_ARCH_PRESETS[name])))
    ref.eval()  # mmpose's train() returns None, so no chaining
    ours = LiteHRNet(name, out_streams='first').eval()
    # a whole pose-model state dict, through the checkpoint converter, strict
    full = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    full['head.final_layer.weight'] = torch.zeros(17, 40, 1, 1)
    load_checkpoint(ours, full, prefix='backbone.', strict=True)
    g = torch.Generator().manual_seed(1)
    for size in ((256, 192), (256, 256)):
        x = torch.randn(1, 3, *size, generator=g)
        with torch.no_grad():
            (a,), (b,) = ref(x), ours(x)
        assert a.shape == b.shape == (1, ours.out_channels[0], size[0] // 4, size[1] // 4)
        assert a.abs().mean() > 1e-2  # not a trivial (all-zero) output
        assert max_abs_diff(a, b) <= 1e-5, (name, size)


def test_same_state_dict_keys_as_mmpose_for_every_preset():
    MMPoseLiteHRNet = mmpose_litehrnet()
    for name in PRESETS:
        ref = MMPoseLiteHRNet(lite_arch_to_extra(LITE_ARCH_PRESETS[name])).state_dict()
        ours = LiteHRNet(name).state_dict()
        assert list(ref) == list(ours), name
        assert all(ref[k].shape == v.shape for k, v in ours.items()), name


# ----------------------------------------------------------------------------- counts
@pytest.mark.parametrize('name, params', [('lite18', 1_130_072), ('lite30', 1_763_020)])
def test_param_counts(name, params):
    model = LiteHRNet(name, out_streams='first')
    assert sum(p.numel() for p in model.parameters()) == params
    head = nn.Conv2d(model.out_channels[0], 17, 1)  # the 17-keypoint 1x1 head, with bias
    assert sum(p.numel() for p in head.parameters()) + params == {
        'lite18': 1_130_769, 'lite30': 1_763_717}[name]


# Conv + linear multiply-adds of the official computation (both calls of F_i0), backbone
# with its iterative head, in 10^6. (The paper's 273.4M / 425.3M at 256x256 are torchstat
# counts / 2^20 that miss the second call; see hrnet_mm/models/lite_hrnet.py.)
PUBLISHED_MACS = {
    ('lite18', 256, 192): 240.3, ('lite18', 256, 256): 320.3,
    ('lite30', 256, 192): 384.0, ('lite30', 256, 256): 512.0,
}


@pytest.mark.parametrize('name, h, w', sorted(PUBLISHED_MACS))
def test_macs_match_published(name, h, w):
    model = LiteHRNet(name, out_streams='first')
    counts = conv_linear_macs(model, (1, 3, h, w))
    official = official_macs(counts)
    assert official / 1e6 == pytest.approx(PUBLISHED_MACS[name, h, w], rel=0.01)
    # computing F_i0 once saves about a fifth of the multiply-adds, with the same numbers
    assert sum(counts.values()) < 0.85 * official


def test_mmpose_macs_equal_the_official_count():
    """mmpose's LiteHRNet really runs F_i0 twice: its hook count is our 'official' count."""
    MMPoseLiteHRNet = mmpose_litehrnet()
    ref = MMPoseLiteHRNet(lite_arch_to_extra(LITE_ARCH_PRESETS['lite18']))
    assert sum(conv_linear_macs(ref, (1, 3, 256, 192)).values()) == official_macs(
        conv_linear_macs(LiteHRNet('lite18'), (1, 3, 256, 192)))


def test_flop_analyzer_counts_what_the_hooks_count():
    """mmengine's FlopAnalyzer restricted to conv/linear (hrnet_mm.analysis.count_macs) agrees
    with the hook counter."""
    pytest.importorskip('mmengine.analysis')
    from hrnet_mm.analysis import count_macs
    model = LiteHRNet('lite18')
    assert count_macs(model, (1, 3, 64, 64)) == sum(conv_linear_macs(model, (1, 3, 64, 64))
                                                    .values())


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize('name', PRESETS)
def test_every_preset_forward_backward(name):
    torch.manual_seed(0)
    model = LiteHRNet(name).train()
    outs = model(torch.rand(2, 3, 64, 48))
    sum(o.mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f'parameters without gradient: {no_grad[:5]}'


@pytest.mark.parametrize('out_streams', ['all', 'first'])
@pytest.mark.parametrize('name', PRESETS)
def test_declared_channels_and_strides(name, out_streams):
    model = LiteHRNet(name, out_streams=out_streams).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 128, 96))
    assert len(outs) == len(model.out_channels) == len(model.out_strides)
    assert len(outs) == (4 if out_streams == 'all' else 1)
    for o, c, s in zip(outs, model.out_channels, model.out_strides):
        assert tuple(o.shape) == (1, c, 128 // s, 96 // s)
    assert model.out_channels == LITE_ARCH_PRESETS[name].out_channels[:len(outs)]


@pytest.mark.parametrize('name', PRESETS)
def test_odd_input_size(name):
    model = LiteHRNet(name).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 97, 75))
    h, w = 97, 75
    for _ in range(2):  # the stem halves twice, rounding up
        h, w = (h + 1) // 2, (w + 1) // 2
    for o, c in zip(outs, model.out_channels):
        assert tuple(o.shape) == (1, c, h, w)
        h, w = (h + 1) // 2, (w + 1) // 2


def test_tiny_input():
    with torch.no_grad():
        outs = LiteHRNet('lite18').eval()(torch.rand(1, 3, 1, 1))
    assert [tuple(o.shape[-2:]) for o in outs] == [(1, 1)] * 4


def test_from_mmpose_extra_returns_the_first_stream_like_mmpose():
    extra = lite_arch_to_extra(LITE_ARCH_PRESETS['lite18'])
    assert LiteHRNet(extra=extra).out_channels == (40,)
    assert LiteHRNet(extra).out_channels == (40,)  # mmpose passes extra positionally
    assert LiteHRNet(extra=extra, out_streams='all').out_channels == (40, 40, 80, 160)
    assert LiteHRNet('lite18').out_channels == (40, 40, 80, 160)


def test_without_head_the_streams_keep_the_stage_widths():
    arch = LITE_ARCH_PRESETS['lite18']
    from dataclasses import replace
    model = LiteHRNet(replace(arch, with_head=False)).eval()
    assert model.out_channels == (40, 80, 160, 320)
    assert not hasattr(model, 'head_layer')
    with torch.no_grad():
        assert [o.shape[1] for o in model(torch.rand(1, 3, 64, 64))] == [40, 80, 160, 320]


@pytest.mark.parametrize('frozen', [-1, 0, 1, 2, 3])
def test_frozen_stages(frozen):
    model = LiteHRNet('lite18', frozen_stages=frozen)
    assert model.train() is model
    expected = set()
    if frozen >= 0:
        expected.add('stem')
    for k in range(frozen):
        expected |= {f'transition{k}', f'stage{k}'}
    frozen_names = {n.split('.')[0] for n, p in model.named_parameters() if not p.requires_grad}
    trainable_names = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert frozen_names == expected
    assert not frozen_names & trainable_names  # whole top-level parts, nothing partial
    for index in range(frozen + 1):
        for m in model.stage_modules(index):
            assert not any(sub.training for sub in m.modules())
    assert model.head_layer.training  # the iterative head is never frozen
    # frozen norms keep their statistics through a training forward
    before = {k: v.clone() for k, v in model.state_dict().items() if 'running_mean' in k}
    model(torch.rand(2, 3, 64, 64))
    after = model.state_dict()
    for k, v in before.items():
        changed = not torch.equal(v, after[k])
        assert changed == (k.split('.')[0] not in expected), k


def test_norm_eval():
    model = LiteHRNet('lite18', norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.training and model.stage0.training


def test_train_returns_self():
    model = LiteHRNet('naive18')
    assert model.train() is model
    assert model.train(False) is model and not model.training


@pytest.mark.parametrize('name', ['lite18', 'naive18'])
def test_with_cp_same_outputs_and_grads(name):
    torch.manual_seed(0)
    ref = LiteHRNet(name).train()
    cp_model = LiteHRNet(name, with_cp=True).train()
    cp_model.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 48)
    outs_ref, outs_cp = ref(x), cp_model(x)
    for a, b in zip(outs_ref, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.square().mean() for o in outs_ref).backward()
    sum(o.square().mean() for o in outs_cp).backward()
    for (n, p), q in zip(ref.named_parameters(), cp_model.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)


def test_corrected_fusion_differs_and_is_the_plain_sum():
    official = randomize_(LiteHRNet('lite18')).eval()
    corrected = LiteHRNet('lite18', fuse='corrected').eval()
    corrected.load_state_dict(official.state_dict())  # same keys, same weights
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = official(x), corrected(x)
        assert all(not torch.allclose(p, q) for p, q in zip(a, b))
        # the corrected module is relu(sum_j F_ij(x_j)), with F_ii the identity
        module = corrected.stage2[0]
        xs = [torch.rand(1, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(module.in_channels)]
        ys = module._fuse_corrected(xs)
        for i in range(4):
            expect = sum(xs[j] if i == j else module._transfer(i, j, xs[j], xs[i].shape[-2:])
                         for j in range(4))
            torch.testing.assert_close(ys[i], F.relu(expect))
        # the official one counts stream 0 twice, and reads x0' = 2 x0 + ... in the others
        ys = module._fuse_official(xs)
        x0 = 2 * xs[0] + sum(module._transfer(0, j, xs[j], xs[0].shape[-2:])
                             for j in range(1, 4))
        torch.testing.assert_close(ys[0], F.relu(x0))
        expect1 = (2 * module._transfer(1, 0, x0, xs[1].shape[-2:]) + xs[1]
                   + sum(module._transfer(1, j, xs[j], xs[1].shape[-2:]) for j in (2, 3)))
        torch.testing.assert_close(ys[1], F.relu(expect1))


# ----------------------------------------------------------------------------- export
@pytest.mark.parametrize('hw, out', [((64, 48), (8, 6)), ((32, 32), (4, 4)), ((16, 12), (2, 3)),
                                     ((13, 11), (4, 3)), ((8, 6), (8, 6)), ((7, 5), (1, 1))])
def test_export_friendly_pooling_equals_adaptive(hw, out):
    x = torch.randn(2, 5, *hw)
    torch.testing.assert_close(pool_to_size(x, out), F.adaptive_avg_pool2d(x, out),
                               rtol=1e-6, atol=1e-6)


def test_no_adaptive_pooling_beyond_global_for_sizes_divisible_by_32(monkeypatch):
    """Only global pooling (ONNX GlobalAveragePool) stays adaptive; the cross-resolution
    pooling is a fixed-kernel avg_pool2d."""
    sizes = []
    adaptive = F.adaptive_avg_pool2d

    def spy(x, output_size):
        sizes.append(tuple(output_size) if isinstance(output_size, Sequence)
                     else (output_size, output_size))
        return adaptive(x, output_size)

    monkeypatch.setattr(F, 'adaptive_avg_pool2d', spy)
    with torch.no_grad():
        LiteHRNet('lite18').eval()(torch.rand(1, 3, 256, 192))
    assert sizes and set(sizes) == {(1, 1)}


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')  # pooling kernels are constants
def test_onnx_export_with_dynamic_size_matches_torch(tmp_path):
    """One export with dynamic height/width serves every size divisible by 32 (mmpose's
    adaptive pooling fails to export there: "output_size is not constant", Lite-HRNet#3)."""
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model = randomize_(LiteHRNet('lite18', out_streams='first')).eval()
    path = str(tmp_path / 'lite18.onnx')
    kwargs = dict(opset_version=13, input_names=['input'],
                  dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})
    try:
        torch.onnx.export(model, (torch.rand(1, 3, 64, 64),), path, dynamo=False, **kwargs)
    except TypeError:  # torch without the dynamo switch: TorchScript export is the default
        torch.onnx.export(model, (torch.rand(1, 3, 64, 64),), path, **kwargs)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in ((64, 64), (128, 96)):
        x = torch.rand(1, 3, *size)
        (got,) = session.run(None, {'input': x.numpy()})
        with torch.no_grad():
            expect = model(x)[0]
        torch.testing.assert_close(torch.from_numpy(got), expect, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize('kwargs, field', [
    (dict(arch='lite99'), 'arch'),
    (dict(), 'arch'),
    (dict(arch='lite18', out_streams='middle'), 'out_streams'),
    (dict(arch='lite18', fuse='sum'), 'fuse'),
    (dict(arch='lite18', frozen_stages=4), 'frozen_stages'),
    (dict(arch='lite18', frozen_stages=-2), 'frozen_stages'),
    (dict(arch='lite18', norm_cfg=dict(type='XN')), 'norm_cfg'),
    (dict(arch='lite18', in_channels=0), 'in_channels'),
    (dict(arch='lite18', conv_cfg=dict(type='DCN')), 'conv_cfg'),
    (dict(arch='lite18', extra=lite_arch_to_extra(LITE_ARCH_PRESETS['lite18'])), 'either'),
    (dict(extra=dict(num_stages=3)), 'stem'),
])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LiteHRNet(**kwargs)


@pytest.mark.parametrize('edit, match', [
    (lambda e: e['stages_spec'].update(num_channels=((40, 80), (40, 80), (40, 80, 160, 320))),
     r'stages\[1\]\.num_channels'),
    (lambda e: e['stages_spec'].update(module_type=('LITE', 'FAST', 'LITE')),
     r'stages\[1\]\.module_type'),
    (lambda e: e['stages_spec'].update(num_modules=(2, 4)), r'num_modules.*num_stages'),
    (lambda e: e['stages_spec'].pop('reduce_ratios'), 'reduce_ratios'),
    (lambda e: e['stem'].update(stem_channels=31), 'stem_channels'),
    (lambda e: e['stages_spec'].update(num_channels=((41, 80), (40, 80, 160),
                                                     (40, 80, 160, 320))),
     r'stages\[0\]\.num_channels'),
])
def test_bad_extra_names_the_field(edit, match):
    extra = lite_arch_to_extra(LITE_ARCH_PRESETS['lite18'])
    extra['stem'] = dict(extra['stem'])
    extra['stages_spec'] = dict(extra['stages_spec'])
    edit(extra)
    with pytest.raises(ValueError, match=match):
        LiteHRNet(extra=extra)


def test_custom_arch_validated():
    bad = LiteHRNetArch(LITE_ARCH_PRESETS['lite18'].stem,
                        (LiteStageSpec(1, 2, 1, 'LITE', True, 8, (40,)),))
    with pytest.raises(ValueError, match=r'stages\[0\]\.num_channels'):
        LiteHRNet(bad)


@pytest.mark.parametrize('x, match', [
    (torch.rand(1, 4, 32, 32), 'in_channels=3'),
    (torch.rand(3, 32, 32), '4D'),
    (torch.rand(0, 3, 32, 32), 'empty'),
])
def test_bad_inputs(x, match):
    with pytest.raises(ValueError, match=match):
        LiteHRNet('lite18').eval()(x)


def test_registry_builds_from_scoped_type():
    from mmengine.registry import MODELS as ROOT
    model = ROOT.build(dict(type='hrnet_mm.LiteHRNet', arch='naive18', out_streams='first'))
    assert isinstance(model, LiteHRNet) and model.out_channels == (30,)


def test_default_init_is_mmposes():
    model = LiteHRNet('lite18')
    model.init_weights()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.weight.std() < 0.01 for m in convs if m.weight.numel() > 100)


# ----------------------------------------------------------------------------- toolboxes
def _toolbox(name: str):
    pytest.importorskip(name)
    try:
        return __import__(f'{name}.models', fromlist=['_'])
    except ImportError as e:
        pytest.skip(f'{name}.models cannot be imported: {e}')


def test_in_mmpose_topdown_estimator():
    """An mmpose LiteHRNet config works unchanged but for the backbone type."""
    _toolbox('mmpose')
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    from mmpose.testing import get_packed_inputs
    init_default_scope('mmpose')
    cfg = mmpose_config('coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py').model
    cfg.backbone.type = 'hrnet_mm.LiteHRNet'
    cfg.head.decoder = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16),
                            sigma=2)
    cfg.test_cfg = dict(flip_test=False)
    model = MODELS.build(cfg)
    assert isinstance(model.backbone, LiteHRNet)
    assert sum(p.numel() for p in model.parameters()) == 1_130_769  # the published count
    data = get_packed_inputs(batch_size=2, img_shape=(64, 48), input_size=(48, 64),
                             heatmap_size=(12, 16), with_simcc_label=False)
    model.train()
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert torch.isfinite(losses['loss_kpt'])
    losses['loss_kpt'].backward()
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        preds = model(**batch, mode='predict')
    assert preds[0].pred_instances.keypoints.shape == (1, 17, 2)


def test_in_mmseg_encoder_decoder():
    _toolbox('mmseg')
    necks = pytest.importorskip('hrnet_mm.models.necks')
    if not hasattr(necks, 'HRNetV2Neck'):
        pytest.skip('hrnet_mm.HRNetV2Neck is not there yet')
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    init_default_scope('mmseg')
    backbone = dict(type='hrnet_mm.LiteHRNet', arch='lite18')
    channels = list(LiteHRNet(**{k: v for k, v in backbone.items() if k != 'type'}).out_channels)
    cfg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255, size=(64, 64)),
        backbone=backbone,
        neck=dict(type='hrnet_mm.HRNetV2Neck', in_channels=channels),
        decode_head=dict(type='FCNHead', in_channels=sum(channels), channels=sum(channels),
                         kernel_size=1, num_convs=1, concat_input=False, dropout_ratio=-1,
                         num_classes=5, align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    model = MODELS.build(ConfigDict(cfg))  # mmseg reads test_cfg.mode as an attribute
    g = torch.Generator().manual_seed(0)
    data = dict(inputs=[], data_samples=[])
    for _ in range(2):
        data['inputs'].append(torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8,
                                            generator=g))
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                             pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 64, 64), generator=g))
        data['data_samples'].append(sample)
    model.train()
    losses = model(**model.data_preprocessor(data, training=True), mode='loss')
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(data, training=False), mode='predict')
    assert preds[0].pred_sem_seg.data.shape == (1, 64, 64)


def _mmcv_nms_runs() -> bool:
    try:
        from mmcv.ops import nms
        nms(torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]]), torch.tensor([0.9, 0.8]),
            0.5)
        return True
    except Exception:  # ImportError, or the compiled ops are missing
        return False


def test_in_mmdet_faster_rcnn():
    mmdet = pytest.importorskip('mmdet')
    _toolbox('mmdet')
    necks = pytest.importorskip('hrnet_mm.models.necks')
    if not hasattr(necks, 'HRNetV2pNeck'):
        pytest.skip('hrnet_mm.HRNetV2pNeck is not there yet')
    if not _mmcv_nms_runs():
        pytest.skip('Faster R-CNN needs compiled mmcv ops (nms, RoIAlign); mmcv.ops cannot '
                    'run nms here')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', '_base_',
                                   'models', 'faster-rcnn_r50_fpn.py')).model
    cfg.backbone = dict(type='hrnet_mm.LiteHRNet', arch='lite18')
    channels = list(LiteHRNet('lite18').out_channels)
    cfg.neck = dict(type='hrnet_mm.HRNetV2pNeck', in_channels=channels, out_channels=256)
    model = MODELS.build(cfg)
    data = demo_mm_inputs(batch_size=1, image_shapes=(3, 128, 128), num_items=[3],
                          num_classes=80)
    model.train()
    losses = model(**model.data_preprocessor(data, training=True), mode='loss')
    total = sum(v if isinstance(v, torch.Tensor) else sum(v) for k, v in losses.items()
                if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(data, training=False), mode='predict')
    assert preds[0].pred_instances.bboxes.shape[-1] == 4
