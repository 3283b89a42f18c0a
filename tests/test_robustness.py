"""Robustness: broken or mismatched checkpoints, atomic writes, random shapes and
architectures (hypothesis), bad inputs and arguments, NaN / Inf guards, mixed precision."""
import glob
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import load_tool
from hrnet_mm.checkpoint import CheckpointError, load_checkpoint
from hrnet_mm.guards import NonFiniteError, NonFiniteWarning, check_finite
from hrnet_mm.models import (HRNet, HRNetArch, HRNetClassifier, HRNetClsHead, HRNetV2Neck,
                             HRNetV2pNeck, LiteHRNet, StageSpec, Upsample)
from hrnet_mm.models.lite_arch import LiteHRNetArch, LiteStageSpec, LiteStemSpec

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SMALL = 'w18_small_v1'
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # ImageNet, RGB
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Many tiny forwards: thread start-up and contention cost more than they bring."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- checkpoints
def _load_error(model, path) -> str:
    """The one CheckpointError of loading ``path`` into ``model``; short, naming the file."""
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(model, str(path))
    message = str(err.value)
    assert str(path) in message
    assert len(message) < 1500, f'a wall of text ({len(message)} chars): {message}'
    return message


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / 'truncated.pth'
    torch.save(HRNet(SMALL).state_dict(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    message = _load_error(HRNet(SMALL), path)
    assert 'truncated or corrupted' in message


def test_missing_checkpoint(tmp_path):
    path = tmp_path / 'nowhere.pth'
    assert 'not found' in _load_error(HRNet(SMALL), path)


def test_random_bytes_are_reported_as_corrupted_without_suggesting_unsafe_loading(tmp_path):
    path = tmp_path / 'random.pth'
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    message = _load_error(HRNet(SMALL), path)
    assert 'truncated or corrupted' in message
    assert 'weights_only=False' not in message


def test_checkpoint_of_another_width(tmp_path):
    path = tmp_path / 'w18.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in HRNet('w18').state_dict().items()}},
               str(path))
    message = _load_error(HRNet('w32'), path)
    assert 'found HRNet w18 ' in message and 'expected HRNet w32 ' in message
    assert 'shape mismatches' in message and 'stage4.*' in message
    assert 'checkpoint (18, 256, 3, 3) vs model (32, 256, 3, 3)' in message


def test_classification_checkpoint_into_single_output_pose_backbone(tmp_path):
    """The cls backbone has all four output streams; a pose (V1) HRNet fuses into stream 0
    only, so the last module's fusion into streams 1-3 (78 keys for W18-small) is unexpected.
    Strict loading says so; ``strict=False`` loads everything else and returns exactly those
    keys (what mmpose does with its ImageNet-pretrained backbones)."""
    path = tmp_path / 'cls.pth'
    classifier = HRNetClassifier(SMALL, num_classes=10)
    torch.save({'state_dict': classifier.state_dict()}, str(path))
    pose = HRNet(SMALL, multiscale_output=False)
    message = _load_error(pose, path)
    assert 'found HRNet w18_small_v1 (BN, 4 output streams)' in message
    assert 'expected HRNet w18_small_v1 (BN, 1 output stream)' in message
    assert '78 unexpected keys' in message and 'stage4.0.fuse_layers' in message
    assert 'missing' not in message

    missing, unexpected = load_checkpoint(pose, str(path), strict=False)
    assert missing == [] and len(unexpected) == 78
    assert all(k.startswith(('stage4.0.fuse_layers.1.', 'stage4.0.fuse_layers.2.',
                             'stage4.0.fuse_layers.3.')) for k in unexpected)
    for k, v in pose.state_dict().items():
        torch.testing.assert_close(v, classifier.backbone.state_dict()[k], rtol=0, atol=0)


def test_classification_checkpoint_into_pose_backbone_with_several_stage4_modules(tmp_path):
    path = tmp_path / 'cls_w16.pth'
    torch.save({'state_dict': HRNetClassifier('w16', num_classes=2).state_dict()}, str(path))
    message = _load_error(HRNet('w16', multiscale_output=False), path)
    assert "78 unexpected keys in ['stage4.2.fuse_layers.* (78)']" in message
    assert 'found HRNet w16 (BN, 4 output streams)' in message
    assert 'expected HRNet w16 (BN, 1 output stream)' in message


@pytest.mark.parametrize('wrapped', [True, False])
def test_lite_hrnet_checkpoint_into_hrnet(wrapped, tmp_path):
    path = tmp_path / 'lite18.pth'
    sd = LiteHRNet('lite18').state_dict()
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in sd.items()}} if wrapped else sd,
               str(path))
    message = _load_error(HRNet('w18'), path)
    assert 'found Lite-HRNet' in message and 'expected HRNet w18 ' in message
    assert 'missing keys' in message and 'unexpected keys' in message
    assert 'stem.*' in message and 'layer1.*' in message


def test_hrnet_checkpoint_into_lite_hrnet(tmp_path):
    path = tmp_path / 'hrnet.pth'
    torch.save(HRNet(SMALL).state_dict(), str(path))
    message = _load_error(LiteHRNet('lite18'), path)
    assert 'found HRNet w18_small_v1' in message and 'expected Lite-HRNet' in message


@pytest.mark.parametrize('existing', [False, True])
def test_convert_checkpoint_write_is_atomic(existing, tmp_path, monkeypatch):
    """A failure half-way through writing leaves no partial file and an older one intact."""
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save(HRNet(SMALL).state_dict(), str(src))
    if existing:
        dst.write_bytes(b'the previous conversion')
    tool = load_tool('convert_checkpoint')
    real_save = torch.save

    def save_then_fail(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        with open(f, 'r+b') as fh:  # keep the first 100 bytes: a partial file
            fh.truncate(100)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', save_then_fail)
    with pytest.raises(OSError, match='No space left'):
        tool.main([str(src), str(dst)])
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == (['dst.pth', 'src.pth'] if existing else ['src.pth'])
    if existing:
        assert dst.read_bytes() == b'the previous conversion'
    assert tool.main([str(src), str(dst)]) == 0  # and a good run replaces it
    load_checkpoint(HRNet(SMALL), str(dst))


# ----------------------------------------------------------------------------- properties
def _ceil_sizes(h, w, strides):
    return [(math.ceil(h / s), math.ceil(w / s)) for s in strides]


@st.composite
def hrnet_archs(draw):
    """Small random HRNets: any block type per stage, 1-2 modules and blocks, 1-6 channels."""
    block = st.sampled_from(['BASIC', 'BOTTLENECK'])
    small = st.integers(1, 2)
    stages = [StageSpec(1, 1, draw(block), (draw(small),), (draw(st.integers(1, 6)),))]
    for k in (2, 3, 4):
        stages.append(StageSpec(draw(small), k, draw(block),
                                tuple(draw(small) for _ in range(k)),
                                tuple(draw(st.integers(1, 6)) for _ in range(k))))
    return HRNetArch(tuple(stages))


UPSAMPLES = [Upsample('nearest'), Upsample('bilinear', align_corners=False),
             Upsample('bilinear', align_corners=True),
             Upsample('bilinear', align_corners=False, scale_first=True)]
SIZES = st.tuples(st.integers(1, 2), st.integers(1, 130), st.integers(1, 130))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=hrnet_archs(), multiscale=st.booleans(), upsample=st.sampled_from(UPSAMPLES),
       size=SIZES)
def test_hrnet_random_arch_and_size(arch, multiscale, upsample, size):
    n, h, w = size
    model = HRNet(arch, multiscale_output=multiscale, upsample=upsample).eval()
    with torch.no_grad():
        outs = model(torch.randn(n, 3, h, w))
    assert len(outs) == len(model.out_channels) == len(model.out_strides) == (4 if multiscale
                                                                              else 1)
    expected = [(n, c) + hw for c, hw in zip(model.out_channels,
                                             _ceil_sizes(h, w, model.out_strides))]
    assert [tuple(o.shape) for o in outs] == expected
    check_finite(outs, 'HRNet outputs')


@st.composite
def lite_archs(draw):
    """Small random Lite-HRNets: 1-3 stages of 2, 3, 4 streams, LITE or NAIVE modules."""
    stem_channels = draw(st.sampled_from([2, 4, 8]))
    stem = LiteStemSpec(stem_channels, stem_channels + 2 * draw(st.integers(0, 3)),
                        draw(st.sampled_from([1, 2])))
    stages = []
    for k in range(draw(st.integers(1, 3))):
        module_type = draw(st.sampled_from(['LITE', 'NAIVE']))
        widths = st.sampled_from([8, 10, 12] if module_type == 'LITE' else [2, 4, 6])
        stages.append(LiteStageSpec(
            num_modules=draw(st.integers(1, 2)), num_branches=k + 2,
            num_blocks=draw(st.integers(1, 2)), module_type=module_type,
            with_fuse=draw(st.booleans()), reduce_ratio=draw(st.integers(1, 8)),
            num_channels=tuple(draw(widths) for _ in range(k + 2))))
    return LiteHRNetArch(stem, tuple(stages), with_head=draw(st.booleans()))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=lite_archs(), out_streams=st.sampled_from(['all', 'first']), size=SIZES)
def test_lite_hrnet_random_arch_and_size(arch, out_streams, size):
    n, h, w = size
    model = LiteHRNet(arch, out_streams=out_streams).eval()
    with torch.no_grad():
        outs = model(torch.randn(n, 3, h, w))
    assert len(outs) == len(model.out_channels) == len(model.out_strides)
    expected = [(n, c) + hw for c, hw in zip(model.out_channels,
                                             _ceil_sizes(h, w, model.out_strides))]
    assert [tuple(o.shape) for o in outs] == expected
    check_finite(outs, 'LiteHRNet outputs')


def _streams(n, h, w, channels):
    """Feature maps as an HRNet leaves them for an (h, w) input."""
    sizes = _ceil_sizes(h, w, [4 * 2 ** i for i in range(len(channels))])
    return [torch.randn(n, c, *hw) for c, hw in zip(channels, sizes)]


STREAM_CHANNELS = st.lists(st.integers(1, 8), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(channels=STREAM_CHANNELS, out_channels=st.one_of(st.none(), st.integers(1, 8)),
       upsample=st.sampled_from(UPSAMPLES), size=SIZES)
def test_v2_neck_random_streams(channels, out_channels, upsample, size):
    n, h, w = size
    neck = HRNetV2Neck(channels, out_channels, upsample=upsample).eval()
    with torch.no_grad():
        (out,) = neck(_streams(n, h, w, channels))
    assert neck.out_channels == (sum(channels) if out_channels is None else out_channels,)
    assert tuple(out.shape) == (n, neck.out_channels[0]) + _ceil_sizes(h, w, [4])[0]


@settings(max_examples=25, deadline=None)
@given(channels=STREAM_CHANNELS, num_outs=st.integers(1, 5),
       pooling=st.sampled_from(['AVG', 'MAX']), data=st.data())
def test_v2p_neck_random_streams(channels, num_outs, pooling, data):
    # the coarsest level pools the 1/4 map by 2**(num_outs-1): the input must be that big
    least = 4 * 2 ** (num_outs - 1)
    n = data.draw(st.integers(1, 2))
    h, w = data.draw(st.integers(least, 130)), data.draw(st.integers(least, 130))
    neck = HRNetV2pNeck(channels, out_channels=4, num_outs=num_outs, pooling_type=pooling).eval()
    with torch.no_grad():
        outs = neck(_streams(n, h, w, channels))
    h4, w4 = _ceil_sizes(h, w, [4])[0]
    assert [tuple(o.shape) for o in outs] == [(n, 4, h4 // 2 ** i, w4 // 2 ** i)
                                              for i in range(num_outs)]
    assert len(neck.out_strides) == len(neck.out_channels) == num_outs


@settings(max_examples=15, deadline=None)
@given(channels=st.lists(st.integers(1, 8), min_size=4, max_size=4),
       num_classes=st.integers(0, 5), size=SIZES)
def test_cls_head_random_streams(channels, num_classes, size):
    n, h, w = size
    head = HRNetClsHead(channels, num_classes).eval()
    with torch.no_grad():
        out = head(_streams(n, h, w, channels))
    assert tuple(out.shape) == (n, num_classes or 2048)


# ----------------------------------------------------------------------------- bad input
BACKBONES = {
    'HRNet': lambda: HRNet(SMALL),
    'LiteHRNet': lambda: LiteHRNet('lite18'),
}


@pytest.mark.parametrize('name', sorted(BACKBONES))
@pytest.mark.parametrize('x, match', [
    (torch.rand(1, 4, 32, 32), r'in_channels=3 but the input has 4 channels'),
    (torch.rand(1, 1, 32, 32), r'in_channels=3 but the input has 1 channels'),
    (torch.rand(3, 32, 32), r'4D \(N, C, H, W\) tensor, got shape \(3, 32, 32\)'),
    (torch.rand(1, 1, 3, 32, 32), r'4D \(N, C, H, W\) tensor'),
    (torch.rand(0, 3, 32, 32), r'empty input of shape \(0, 3, 32, 32\)'),
    (torch.rand(1, 3, 0, 32), r'empty input'),
    ([torch.rand(1, 3, 32, 32)], r'expects a torch.Tensor, got list'),
])
def test_backbone_bad_input(name, x, match):
    with pytest.raises(ValueError, match=match) as err:
        BACKBONES[name]().eval()(x)
    assert str(err.value).startswith(name)


NECKS = {
    'HRNetV2Neck': lambda: HRNetV2Neck([4, 8, 16, 32]),
    'HRNetV2pNeck': lambda: HRNetV2pNeck([4, 8, 16, 32], out_channels=8),
    'HRNetClsHead': lambda: HRNetClsHead([4, 8, 16, 32], num_classes=3),
}
GOOD_STREAMS = lambda: _streams(1, 64, 64, [4, 8, 16, 32])  # noqa: E731


@pytest.mark.parametrize('name', sorted(NECKS))
@pytest.mark.parametrize('make, match', [
    (lambda: GOOD_STREAMS()[:3], r'built for 4 streams .* but got 3'),
    (lambda: [torch.rand(1, 5, 16, 16)] + GOOD_STREAMS()[1:],
     r'stream 0 should be \(N, 4, H, W\)'),
    (lambda: [x[0] for x in GOOD_STREAMS()],
     r'stream 0 should be \(N, 4, H, W\).*got shape \(4, 16, 16\)'),
], ids=['3_streams', 'wrong_channels', '3d'])
def test_neck_bad_input(name, make, match):
    with pytest.raises(ValueError, match=match) as err:
        NECKS[name]().eval()(make())
    assert name in str(err.value)


@pytest.mark.parametrize('name', sorted(NECKS))
@pytest.mark.parametrize('make', [
    lambda: [x[:0] for x in GOOD_STREAMS()],
    lambda: [x[:, :, :0] for x in GOOD_STREAMS()],
    lambda: [GOOD_STREAMS()[0].repeat(2, 1, 1, 1)] + GOOD_STREAMS()[1:],
], ids=['empty_batch', 'zero_height', 'batch_mismatch'])
def test_neck_rejects_empty_or_inconsistent_streams(name, make):
    try:
        NECKS[name]().eval()(make())
    except ValueError as e:
        assert name in str(e)
        return
    raise AssertionError(f'{name} accepted the input')


def test_v2p_neck_too_small_input_is_a_clear_error():
    neck = HRNetV2pNeck([4, 8, 16, 32], out_channels=8).eval()
    with pytest.raises(ValueError, match='num_outs'):
        neck(_streams(1, 48, 48, [4, 8, 16, 32]))  # 12x12 at 1/4: no room for 1/64


# ----------------------------------------------------------------------------- constructors
CONSTRUCTOR_CASES = [
    (HRNet, dict(arch='w33'), 'arch'),
    (HRNet, dict(arch=5), 'arch'),
    (HRNet, dict(arch=SMALL, in_channels=0), 'in_channels'),
    (HRNet, dict(arch=SMALL, in_channels=3.0), 'in_channels'),
    (HRNet, dict(arch=SMALL, frozen_stages=7), 'frozen_stages'),
    (HRNet, dict(arch=SMALL, norm_cfg=dict(type='XN')), 'norm_cfg'),
    (HRNet, dict(arch=SMALL, upsample='bicubic'), 'upsample'),
    (HRNet, dict(arch=SMALL, upsample=dict(mode='nearest', align_corners=True)),
     'align_corners'),
    (HRNet, dict(arch=SMALL, compat='mmcls'), 'compat'),
    (HRNet, dict(arch=SMALL, conv_cfg=dict(type='DCN')), 'conv_cfg'),
    (HRNet, dict(arch=HRNetArch((StageSpec(1, 1, 'BASIC', (1,), (8,)),) * 4)),
     'stage2.num_branches'),
    (HRNet, dict(arch=HRNetArch((StageSpec(1, 1, 'BASIC', (1,), (8,)),
                                 StageSpec(1, 2, 'BASIC', (1, 1), (8, 0)),
                                 StageSpec(1, 3, 'BASIC', (1, 1, 1), (8, 8, 8)),
                                 StageSpec(1, 4, 'CONV', (1,) * 4, (8,) * 4)))),
     'stage2.num_channels'),
    (LiteHRNet, dict(arch='lite99'), 'arch'),
    (LiteHRNet, dict(arch='lite18', out_streams='middle'), 'out_streams'),
    (LiteHRNet, dict(arch='lite18', fuse='sum'), 'fuse'),
    (LiteHRNet, dict(arch='lite18', frozen_stages=9), 'frozen_stages'),
    (LiteHRNet, dict(arch='lite18', in_channels=0), 'in_channels'),
    (LiteHRNet, dict(arch='lite18', norm_cfg=None), 'norm_cfg'),
    (LiteHRNet, dict(arch=LiteHRNetArch(LiteStemSpec(3, 8, 1), ())), 'stem_channels'),
    (HRNetV2Neck, dict(in_channels=[]), 'in_channels'),
    (HRNetV2Neck, dict(in_channels=[4, 0]), 'in_channels'),
    (HRNetV2Neck, dict(in_channels=[4, 8], out_channels=0), 'out_channels'),
    (HRNetV2Neck, dict(in_channels=[4, 8], upsample='area'), 'upsample'),
    (HRNetV2Neck, dict(in_channels=[4, 8], out_channels=4, norm_cfg=dict(type='XN')),
     'norm_cfg'),
    (HRNetV2pNeck, dict(in_channels=None), 'in_channels'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], out_channels=-1), 'out_channels'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], num_outs=0), 'num_outs'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], pooling_type='MIN'), 'pooling_type'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], conv_cfg=dict(type='DCN')), 'conv_cfg'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], norm_cfg=dict(type='XN')), 'norm_cfg'),
    (HRNetClsHead, dict(in_channels=[4, 8, 16]), 'in_channels'),
    (HRNetClsHead, dict(in_channels=[4, 8, 16, 32], num_classes=-1), 'num_classes'),
    (HRNetClsHead, dict(in_channels=[4, 8, 16, 32], norm_cfg=dict(type='XN')), 'norm_cfg'),
    (HRNetClassifier, dict(arch='w99'), 'arch'),
    (HRNetClassifier, dict(arch=SMALL, num_classes=-3), 'num_classes'),
]
# Arguments that are not validated yet (issue 7): flags that take any truthy value
# (norm_eval='False' is True), and a few numbers that fail later or never.
UNVALIDATED = [
    (HRNet, dict(arch=SMALL, with_cp='yes'), 'with_cp'),
    (HRNet, dict(arch=SMALL, norm_eval='False'), 'norm_eval'),
    (HRNet, dict(arch=SMALL, multiscale_output='False'), 'multiscale_output'),
    (HRNet, dict(arch=SMALL, zero_init_residual='False'), 'zero_init_residual'),
    (HRNet, dict(arch=SMALL, norm_cfg=None), 'norm_cfg'),
    (LiteHRNet, dict(arch='lite18', with_cp='yes'), 'with_cp'),
    (LiteHRNet, dict(arch='lite18', norm_eval='False'), 'norm_eval'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], stride=0), 'stride'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], with_cp='yes'), 'with_cp'),
    (HRNetV2pNeck, dict(in_channels=[4, 8], share_conv='yes'), 'share_conv'),
    (HRNetClsHead, dict(in_channels=[0, 8, 16, 32]), 'in_channels'),
]


def _case_id(case):
    cls, kwargs, field = case
    return f'{cls.__name__}-{field}'


@pytest.mark.parametrize('cls, kwargs, field', CONSTRUCTOR_CASES,
                         ids=[_case_id(c) for c in CONSTRUCTOR_CASES])
def test_constructor_names_the_bad_field(cls, kwargs, field):
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)


@pytest.mark.parametrize('cls, kwargs, field', UNVALIDATED,
                         ids=[_case_id(c) for c in UNVALIDATED])
def test_constructor_flags_and_numbers_are_validated(cls, kwargs, field):
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)


# ----------------------------------------------------------------------------- NaN / Inf
def test_check_finite_counts_and_names():
    x = torch.zeros(2, 3, 4, 4)
    x[0, 1, 2, 3] = float('nan')
    x[1, 0, 0, 0] = float('inf')
    x[1, 0, 0, 1] = -float('inf')
    with pytest.raises(NonFiniteError) as err:
        check_finite({'image': x}, 'batch')
    message = str(err.value)
    assert "batch['image']" in message
    assert '1 NaN, 1 +Inf, 1 -Inf among 96 values' in message
    assert 'first at index (0, 1, 2, 3)' in message
    assert isinstance(err.value, ValueError)


def test_check_finite_warn_mode_and_types():
    assert check_finite([torch.ones(2), np.zeros(3), torch.arange(3)], 'fine')
    assert check_finite(torch.tensor([1, 2], dtype=torch.int64), 'ints')
    with pytest.warns(NonFiniteWarning, match=r'loss\[1\]: 1 NaN'):
        assert not check_finite((torch.ones(1), torch.tensor(float('nan'))), 'loss',
                                action='warn')
    with pytest.raises(NonFiniteError, match='dtype float32'):  # bf16 reported via float32
        check_finite(torch.tensor([float('inf')], dtype=torch.bfloat16), 'bf16')
    with pytest.raises(NonFiniteError, match='numpy'):
        check_finite(np.array([np.nan]), 'numpy output')
    with pytest.raises(ValueError, match='action'):
        check_finite(torch.ones(1), 'x', action='ignore')
    with pytest.raises(TypeError, match='got str'):
        check_finite('nan', 'text')


@pytest.mark.parametrize('make', [
    lambda: HRNet(SMALL, multiscale_output=False),
    lambda: LiteHRNet('lite18', out_streams='first'),
])
def test_non_finite_pixels_reach_the_outputs_and_are_caught(make):
    """The networks do not hide a NaN/Inf pixel (no clamping, no nan_to_num): it spreads to
    the outputs, and check_finite stops it at the input or at the output."""
    model = make().eval()
    for bad in (float('nan'), float('inf')):
        x = torch.rand(1, 3, 64, 48)
        x[0, 0, 10, 10] = bad
        with pytest.raises(NonFiniteError, match='input image'):
            check_finite(x, 'input image')
        with torch.no_grad():
            out = model(x)
        with pytest.raises(NonFiniteError, match='heatmaps'):
            check_finite(out, 'heatmaps')


# ----------------------------------------------------------------------------- precision
def _sample_batch(coco_sample: str) -> torch.Tensor:
    """The real sample images, resized to 256x192, RGB, ImageNet-normalised, NCHW."""
    import cv2
    paths = sorted(glob.glob(osp.join(coco_sample, '*.jpg')))
    assert paths, f'no images in {coco_sample}'
    images = []
    for path in paths:
        bgr = cv2.imread(path)
        assert bgr is not None, path
        rgb = cv2.resize(bgr[:, :, ::-1], (192, 256), interpolation=cv2.INTER_LINEAR)
        images.append((rgb.astype(np.float32) - MEAN) / STD)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def _gaussian_targets(n, joints=17, h=64, w=48, sigma=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    cy = torch.randint(0, h, (n, joints, 1, 1), generator=g).float()
    cx = torch.randint(0, w, (n, joints, 1, 1), generator=g).float()
    yy = torch.arange(h).float().view(1, 1, h, 1)
    xx = torch.arange(w).float().view(1, 1, 1, w)
    return torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))


class _PoseNet(nn.Module):
    """HRNet-W18-small V1 and a 1x1 heatmap head (17 joints)."""

    def __init__(self):
        super().__init__()
        self.backbone = HRNet(SMALL, multiscale_output=False)
        self.head = nn.Conv2d(self.backbone.out_channels[0], 17, 1)

    def forward(self, x):
        return self.head(self.backbone(x)[0])


def _pose_net() -> _PoseNet:
    torch.manual_seed(0)
    model = _PoseNet()
    model.backbone.init_weights()
    return model


def _amp_training(dtype, images, steps=1) -> bool:
    """``steps`` SGD steps under autocast; checks every tensor on the way is finite and
    returns whether the weights changed."""
    model = _pose_net().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler('cpu') if dtype == torch.float16 else None
    targets = _gaussian_targets(images.shape[0])
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(steps):
        optimizer.zero_grad()
        with torch.autocast('cpu', dtype=dtype):
            heatmaps = model(images)
        assert heatmaps.dtype == dtype
        check_finite(heatmaps, f'{dtype} heatmaps')
        loss = F.mse_loss(heatmaps.float(), targets)
        check_finite(loss, f'{dtype} loss')
        if scaler is None:
            loss.backward()
            check_finite([p.grad for p in model.parameters()], f'{dtype} gradients')
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)  # skipped (and the scale lowered) on an overflow
            scaler.update()
    check_finite(list(model.parameters()), f'{dtype} weights after training')
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bf16_autocast_forward_and_training_step_on_real_images(coco_sample):
    images = _sample_batch(coco_sample)
    assert images.shape == (4, 3, 256, 192)
    check_finite(images, 'sample images')
    model = _pose_net().eval()
    with torch.no_grad():
        reference = model(images)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model(images)
    assert low.dtype == torch.bfloat16
    rel = float((low.float() - reference).norm() / reference.norm())
    assert rel < 0.05, f'bf16 vs fp32 heatmaps: relative L2 {rel:.3g}'
    assert _amp_training(torch.bfloat16, images, steps=2), 'SGD did not change the weights'


def test_fp16_amp_training_step_on_real_images(coco_sample):
    """CPU autocast supports float16 in torch >= 2.x (slowly: no fp16 kernels on most CPUs);
    with GradScaler an overflowing step is skipped, never applied as NaN."""
    try:
        with torch.autocast('cpu', dtype=torch.float16):
            torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 1, 1))
        torch.amp.GradScaler('cpu')
    except (RuntimeError, TypeError, AttributeError) as e:
        pytest.skip(f'fp16 autocast / GradScaler on CPU not supported by torch '
                    f'{torch.__version__}: {e}')
    images = _sample_batch(coco_sample)[:2]  # fp16 convs on the CPU are slow
    assert _amp_training(torch.float16, images, steps=2), \
        'GradScaler skipped every step (the gradients overflowed twice)'
