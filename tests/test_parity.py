"""Same weights in, same numbers out: hrnet_mm vs the HRNet copies of mmpose, mmseg and mmdet."""
import pytest
import torch
from helpers import max_abs_diff, randomize_

from hrnet_mm.checkpoint import load_checkpoint
from hrnet_mm.models import ARCH_PRESETS, HRNet, HRNetV2pNeck
from hrnet_mm.models.arch import arch_to_extra

ARCHS = ['w18_small_v1', 'w18', 'w32']
TOL = 1e-5


def _ours_from(theirs, **kwargs):
    ours = HRNet(**kwargs).eval()
    load_checkpoint(ours, theirs.state_dict())  # bare backbone keys: strict, by name
    return ours


def _run(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('multiscale', [False, True])
def test_mmpose(arch, multiscale):
    from mmpose.models.backbones import HRNet as PoseHRNet
    extra = arch_to_extra(ARCH_PRESETS[arch])
    extra['stage4']['multiscale_output'] = multiscale
    theirs = randomize_(PoseHRNet(extra))
    theirs.eval()  # mmpose's train() returns None: no chaining
    ours = _ours_from(theirs, extra=extra, compat='mmpose')
    x = torch.rand(1, 3, 256, 192)
    assert max_abs_diff(_run(theirs, x), _run(ours, x)) <= TOL


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('size', [(256, 192), (250, 190)])
def test_mmseg(arch, size):
    from mmseg.models.backbones import HRNet as SegHRNet
    extra = arch_to_extra(ARCH_PRESETS[arch])
    theirs = randomize_(SegHRNet(extra))
    theirs.eval()
    ours = _ours_from(theirs, extra=extra, compat='mmseg')
    x = torch.rand(1, 3, *size)
    assert max_abs_diff(_run(theirs, x), _run(ours, x)) <= TOL


@pytest.mark.parametrize('arch', ARCHS)
def test_mmdet_backbone_and_hrfpn(arch):
    from mmdet.models.backbones import HRNet as DetHRNet
    from mmdet.models.necks import HRFPN
    extra = arch_to_extra(ARCH_PRESETS[arch])
    theirs = randomize_(DetHRNet(extra))
    theirs.eval()
    in_channels = list(ARCH_PRESETS[arch].stages[3].num_channels)
    their_neck = randomize_(HRFPN(in_channels, 256), seed=1).eval()
    ours = _ours_from(theirs, extra=extra, compat='mmdet')
    our_neck = HRNetV2pNeck(in_channels, 256).eval()
    our_neck.load_state_dict(their_neck.state_dict(), strict=True)
    x = torch.rand(1, 3, 256, 192)
    feats_theirs, feats_ours = _run(theirs, x), _run(ours, x)
    assert max_abs_diff(feats_theirs, feats_ours) <= TOL
    assert max_abs_diff(_run(their_neck, feats_theirs), _run(our_neck, feats_ours)) <= TOL


def test_hrfpn_max_pooling():
    from mmdet.models.necks import HRFPN
    in_channels = [18, 36, 72, 144]
    theirs = randomize_(HRFPN(in_channels, 64, pooling_type='MAX')).eval()
    ours = HRNetV2pNeck(in_channels, 64, pooling_type='MAX').eval()
    ours.load_state_dict(theirs.state_dict())
    xs = [torch.rand(1, c, 64 // 2 ** i, 48 // 2 ** i) for i, c in enumerate(in_channels)]
    assert max_abs_diff(_run(theirs, xs), _run(ours, xs)) <= TOL


def test_nearest_and_bilinear_differ():
    """The drift between the toolbox copies is real: same weights, different numbers."""
    extra = arch_to_extra(ARCH_PRESETS['w18_small_v1'])
    a = randomize_(HRNet(extra=extra, compat='mmdet')).eval()
    b = HRNet(extra=extra, compat='mmseg').eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 128, 96)
    assert max_abs_diff(_run(a, x), _run(b, x)) > 1e-3
