"""The optimised inference mode and the memory-saving training mode: same numbers."""
import pytest
import torch
from helpers import max_abs_diff, randomize_

from hrnet_mm.fast import enable_memory_saving, fold_batch_norms, optimize
from hrnet_mm.models import HRNet, HRNetV2pNeck


@pytest.mark.parametrize('arch', ['w18_small_v1', 'w18_small_v2'])
@pytest.mark.parametrize('upsample', ['nearest', dict(mode='bilinear', align_corners=False)])
def test_optimize_fp32_matches(arch, upsample):
    model = randomize_(HRNet(arch, upsample=upsample)).eval()
    fast = optimize(model)
    x = torch.rand(2, 3, 97, 75)
    with torch.no_grad():
        assert max_abs_diff(model(x), fast(x)) <= 1e-4
    # the original is untouched and nothing is left to fold
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())


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


def test_fold_needs_eval():
    with pytest.raises(ValueError, match='eval'):
        fold_batch_norms(HRNet('w18_small_v1').train())


def test_optimize_rejects_bad_dtype():
    with pytest.raises(ValueError, match='dtype'):
        optimize(HRNet('w18_small_v1'), dtype=torch.float16)


def test_memory_saving_same_gradients():
    torch.manual_seed(0)
    ref = randomize_(HRNet('w18_small_v1')).train()
    saving = enable_memory_saving(randomize_(HRNet('w18_small_v1')).train())
    x = torch.rand(2, 3, 64, 48)
    loss_ref = sum(o.square().mean() for o in ref(x))
    loss_sav = sum(o.square().mean() for o in saving(x))
    loss_ref.backward()
    loss_sav.backward()
    assert torch.equal(loss_ref, loss_sav)
    for (n, p), q in zip(ref.named_parameters(), saving.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)
