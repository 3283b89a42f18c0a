"""The shuffle-free Lite-HRNet (hrnet_mm.fast.lite_unshuffle): same outputs as the plain
model in PyTorch for every variant it applies to, untouched where it does not apply, and on
the OpenVINO runtime (which gets it by default) in fp32, bf16 and int8."""
import copy
import dataclasses

import pytest
import torch
import torch.nn as nn
from helpers import max_abs_diff, randomize_

from hrnet_mm.fast import fold_batch_norms, optimize, rewrites_for
from hrnet_mm.fast.lite_unshuffle import (MaskedChannelWeighting, RestoreOrder, can_unshuffle,
                                          shuffled_order, unshuffle_lite_hrnet)
from hrnet_mm.models import HRNetV2Neck, LiteHRNet
from hrnet_mm.models.lite_arch import LITE_ARCH_PRESETS
from hrnet_mm.models.lite_hrnet import ConditionalChannelWeighting, channel_shuffle

SIZES = [(2, 3, 64, 96), (1, 3, 97, 75)]
ATOL = 1e-4


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in SIZES]


def _unshuffled(model):
    fast = copy.deepcopy(model)
    fold_batch_norms(fast)
    assert unshuffle_lite_hrnet(fast) == 1
    return fast


def test_shuffled_order_is_the_skipped_shuffle():
    """A stream held in ``order`` and then "shuffled" by renaming equals the real shuffle."""
    x = torch.randn(1, 12, 2, 2)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    held = x[:, order]  # physical p holds channel order[p] of x
    shuffled = channel_shuffle(x, 2)
    assert torch.equal(held, shuffled[:, shuffled_order(order)])


@pytest.mark.parametrize('arch', ['lite18', 'lite30'])
@pytest.mark.parametrize('out_streams', ['first', 'all'])
@pytest.mark.parametrize('fuse', ['official', 'corrected'])
def test_matches_the_plain_model(arch, out_streams, fuse):
    model = randomize_(LiteHRNet(arch, out_streams=out_streams, fuse=fuse)).eval()
    fast = _unshuffled(model)
    assert not any(isinstance(m, ConditionalChannelWeighting) for m in fast.modules())
    assert sum(isinstance(m, MaskedChannelWeighting) for m in fast.modules()) == sum(
        s.num_modules * s.num_blocks for s in model.arch.stages)
    # the head's stream 0 comes out in the original order: no gather for pose
    assert any(isinstance(m, RestoreOrder) for m in fast.modules()) == (out_streams == 'all')
    for x in _inputs():
        with torch.no_grad():
            expected, got = model(x), fast(x)
        assert [t.shape for t in got] == [t.shape for t in expected]
        assert max_abs_diff(expected, got) <= ATOL


def test_without_head_restores_the_streams():
    arch = dataclasses.replace(LITE_ARCH_PRESETS['lite18'], with_head=False)
    model = randomize_(LiteHRNet(arch, out_streams='all')).eval()
    fast = _unshuffled(model)
    assert isinstance(fast.stage2, RestoreOrder)
    for x in _inputs(1):
        with torch.no_grad():
            assert max_abs_diff(model(x), fast(x)) <= ATOL


def test_left_alone_where_it_does_not_apply():
    naive = randomize_(LiteHRNet('naive18')).eval()
    fold_batch_norms(naive)
    assert not can_unshuffle(naive) and unshuffle_lite_hrnet(naive) == 0
    unfolded = LiteHRNet('lite18').eval()  # norms not folded
    assert not can_unshuffle(unfolded) and unshuffle_lite_hrnet(unfolded) == 0
    training = LiteHRNet('lite18').eval()
    fold_batch_norms(training)
    training.train()
    assert unshuffle_lite_hrnet(training) == 0
    assert any(isinstance(m, ConditionalChannelWeighting) for m in training.modules())


def test_chosen_per_backend():
    assert rewrites_for('openvino').unshuffle_lite
    for backend in ('eager', 'inductor', 'onnxruntime'):
        assert not rewrites_for(backend).unshuffle_lite


def test_onnxruntime_when_asked():
    """Not the default there (slower), but it exports and runs: both graphs."""
    pytest.importorskip('onnxruntime')
    model = randomize_(LiteHRNet('lite18', out_streams='all')).eval()
    fast = optimize(model, backend='onnxruntime', threads=1, unshuffle_lite=True)
    for x in _inputs(2):
        with torch.no_grad():
            assert max_abs_diff(model(x), fast(x)) <= ATOL
    assert sorted(fast._graphs) == ['general', 'static']


def _rel_l2(expected, got) -> float:
    num = sum(float((e - g).pow(2).sum()) for e, g in zip(expected, got))
    return (num / sum(float(e.pow(2).sum()) for e in expected)) ** 0.5


@pytest.mark.parametrize('dtype,tol', [('fp32', None), ('bf16', 0.02), ('int8', 0.15)])
def test_openvino_default(dtype, tol):
    """A pose-style Lite-HRNet-18 (stream 0 of the head) with an HRNetV2 neck over all streams
    on OpenVINO, where the rewrite is on by default in fp32 / bf16 (int8 asks for it: its
    default is off); int8 calibrated on random crops."""
    pytest.importorskip('openvino')
    if dtype == 'int8':
        pytest.importorskip('nncf')
    backbone = LiteHRNet('lite18', out_streams='all')
    model = randomize_(nn.Sequential(backbone, HRNetV2Neck(list(backbone.out_channels)))).eval()
    g = torch.Generator().manual_seed(4)
    calibration = [torch.randn(2, 3, 64, 96, generator=g) for _ in range(4)]
    if dtype == 'int8':
        with pytest.warns(UserWarning, match='official fusion'):
            fast = optimize(model, dtype, backend='openvino', threads=1,
                            calibration=calibration, unshuffle_lite=True)
    else:
        fast = optimize(model, dtype, backend='openvino', threads=1)
    for x in _inputs(3):
        with torch.no_grad():
            expected = model(x)
        got = fast(x)
        assert [t.shape for t in got] == [t.shape for t in expected]
        if dtype == 'fp32':
            assert max_abs_diff(expected, got) <= ATOL
        else:
            assert _rel_l2(expected, got) <= tol
