"""The optimised inference mode and the memory-saving training mode: same numbers."""
import copy

import pytest
import torch
import torch.nn as nn
from helpers import max_abs_diff, randomize_

from hrnet_mm.fast import (MergedExchangeHRModule, enable_memory_saving, fold_batch_norms,
                           merge_exchange_units, optimize)
from hrnet_mm.models import HRModule, HRNet, HRNetV2pNeck, LiteHRNet


@pytest.mark.parametrize('arch', ['w18_small_v1', 'w18_small_v2'])
@pytest.mark.parametrize('upsample', ['nearest', dict(mode='bilinear', align_corners=False)])
@pytest.mark.parametrize('size', [(97, 75), (128, 96)])
def test_optimize_fp32_matches(arch, upsample, size):
    model = randomize_(HRNet(arch, upsample=upsample)).eval()
    fast = optimize(model)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        assert max_abs_diff(model(x), fast(x)) <= 1e-4
    # the original is untouched and nothing is left to fold
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, MergedExchangeHRModule) for m in fast.modules())


@pytest.mark.parametrize('multiscale_output', [True, False])
@pytest.mark.parametrize('channels_last', [True, False])
def test_merged_exchange_units(multiscale_output, channels_last):
    """Stacked projections and hierarchical nearest upsampling (sizes divisible by 32) or the
    direct fallback (other sizes): same outputs, single-output (V1 pose) modules included."""
    model = randomize_(HRNet('w18_small_v2', multiscale_output=multiscale_output)).eval()
    plain = optimize(model, merge_exchange=False, channels_last=channels_last)
    merged = optimize(model, channels_last=channels_last)
    assert not any(isinstance(m, MergedExchangeHRModule) for m in plain.modules())
    for size in [(128, 64), (100, 60)]:
        x = torch.rand(2, 3, *size)
        with torch.no_grad():
            ref = model(x)
            assert max_abs_diff(ref, plain(x)) <= 1e-4
            assert max_abs_diff(ref, merged(x)) <= 1e-4


def test_merge_needs_folded_norms():
    model = HRNet('w18_small_v1').eval()
    assert merge_exchange_units(copy.deepcopy(model)) == 0  # norms still there: left alone
    folded = copy.deepcopy(model)
    fold_batch_norms(folded)
    modules = sum(isinstance(m, HRModule) for m in model.modules())  # 1 + 1 + 1 in W18-small-v1
    assert merge_exchange_units(folded) == modules == 3
    assert sum(isinstance(m, MergedExchangeHRModule) for m in folded.modules()) == 3


def test_optimize_neck_and_bf16():
    model = torch.nn.Sequential(HRNet('w18_small_v1'), HRNetV2pNeck([16, 32, 64, 128], 32))
    randomize_(model).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        assert max_abs_diff(ref, optimize(model)(x)) <= 1e-4
        out = optimize(model, dtype=torch.bfloat16)(x)
    assert all(o.dtype == torch.float32 for o in out)
    rel = max((a - b).abs().max() / a.abs().max() for a, b in zip(ref, out))
    assert rel < 0.05


@pytest.mark.parametrize('arch', ['lite18', 'naive18'])
def test_optimize_lite_hrnet(arch):
    model = randomize_(LiteHRNet(arch)).eval()
    x = torch.rand(2, 3, 64, 48)
    with torch.no_grad():
        assert max_abs_diff(model(x), optimize(model)(x)) <= 1e-4


def test_fold_mmcv_conv_module_and_toolbox_model():
    """mmcv's ConvModule (toolbox heads) and mmpose's own HRNet fold too."""
    from mmcv.cnn import ConvModule
    from mmpose.models.backbones import HRNet as PoseHRNet

    from hrnet_mm.models import ARCH_PRESETS
    from hrnet_mm.models.arch import arch_to_extra
    head = randomize_(ConvModule(8, 16, 3, padding=1, norm_cfg=dict(type='BN'))).eval()
    x = torch.rand(2, 8, 9, 7)
    fast = optimize(head)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    with torch.no_grad():
        assert max_abs_diff(head(x), fast(x)) <= 1e-5
    theirs = randomize_(PoseHRNet(arch_to_extra(ARCH_PRESETS['w18_small_v1'])))
    theirs.eval()
    fast = optimize(theirs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert max_abs_diff(theirs(x), fast(x)) <= 1e-4


def test_fold_needs_eval():
    with pytest.raises(ValueError, match='eval'):
        fold_batch_norms(HRNet('w18_small_v1').train())


def test_optimize_rejects_bad_dtype():
    with pytest.raises(ValueError, match='dtype'):
        optimize(HRNet('w18_small_v1'), dtype=torch.float16)


@pytest.mark.slow
def test_optimize_compiled_matches():
    """torch.compile with frozen weights (inductor): same outputs within 1e-4."""
    model = randomize_(HRNet('w18_small_v1', multiscale_output=False)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert max_abs_diff(model(x), optimize(model, compile=True)(x)) <= 1e-4


def _step_both(ref: nn.Module, saving: nn.Module, x: torch.Tensor, steps: int = 1) -> None:
    """Forward + backward both models ``steps`` times: equal losses, then equal gradients."""
    for _ in range(steps):
        loss_ref = sum(o.square().mean() for o in ref(x))
        loss_sav = sum(o.square().mean() for o in saving(x))
        loss_ref.backward()
        loss_sav.backward()
        assert torch.equal(loss_ref, loss_sav)
    for (n, p), q in zip(ref.named_parameters(), saving.parameters()):
        assert torch.equal(p.grad, q.grad), n


@pytest.mark.parametrize('make', [lambda: HRNet('w18_small_v2'), lambda: LiteHRNet('lite18'),
                                  lambda: LiteHRNet('naive18')],
                         ids=['hrnet', 'lite18', 'naive18'])
@pytest.mark.parametrize('granularity', ['module', 'unit'])
def test_memory_saving_identical(make, granularity):
    """Outputs, gradients and BN running statistics bit for bit (the recomputation in backward
    does not update the statistics a second time); state-dict keys unchanged."""
    ref = randomize_(make()).train()
    saving = enable_memory_saving(copy.deepcopy(ref), granularity)
    assert list(saving.state_dict()) == list(ref.state_dict())
    x = torch.rand(2, 3, 64, 64)
    _step_both(ref, saving, x, steps=2)
    for (n, a), b in zip(ref.named_buffers(), saving.buffers()):
        assert torch.equal(a, b), n
    ref.eval()
    saving.eval()
    with torch.no_grad():
        assert max_abs_diff(ref(x), saving(x)) == 0


def test_memory_saving_survives_deepcopy():
    model = enable_memory_saving(randomize_(HRNet('w18_small_v1')).train())
    clone = copy.deepcopy(model)
    unit = clone.stage2[0]
    assert unit.forward.__self__ is unit  # rebound to the copy, not to the original
    x = torch.rand(1, 3, 64, 48)
    a = sum(o.sum() for o in model(x))
    b = sum(o.sum() for o in clone(x))
    assert torch.equal(a, b)
    b.backward()
    assert all(p.grad is None for p in model.parameters())


def test_memory_saving_errors():
    with pytest.raises(ValueError, match='granularity'):
        enable_memory_saving(HRNet('w18_small_v1'), granularity='layer')
    with pytest.raises(ValueError, match='checkpointing'):
        enable_memory_saving(nn.Sequential(nn.Conv2d(3, 3, 1)))


def test_memory_saving_replaces_inner_with_cp():
    """A model built with mm-style ``with_cp=True`` is checkpointed per HR module instead of
    twice (module and unit), with the same gradients."""
    ref = randomize_(HRNet('w18_small_v1')).train()
    saving = enable_memory_saving(randomize_(HRNet('w18_small_v1', with_cp=True)).train())
    assert not any(m.with_cp for m in saving.stage2.modules()
                   if isinstance(getattr(m, 'with_cp', None), bool))
    _step_both(ref, saving, torch.rand(1, 3, 64, 48))


@pytest.mark.parametrize('make', [lambda **kw: HRNet('w18_small_v1', **kw),
                                  lambda **kw: LiteHRNet('lite18', **kw)], ids=['hrnet', 'lite'])
def test_memory_saving_config_switch(make):
    """``memory_saving=`` in the backbone config (Runner training): same keys, same gradients."""
    torch.manual_seed(0)
    ref = randomize_(make()).train()
    saving = randomize_(make(memory_saving='module')).train()
    assert list(saving.state_dict()) == list(ref.state_dict())
    _step_both(ref, saving, torch.rand(1, 3, 64, 48))
    with pytest.raises(ValueError, match='memory_saving'):
        make(memory_saving='all')
