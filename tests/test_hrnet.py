"""HRNet backbone behaviour, for every preset: shapes, gradients, switches, errors."""
import copy

import pytest
import torch
import torch.nn as nn

from hrnet_mm.models import ARCH_PRESETS, HRNet, HRNetArch, StageSpec
from hrnet_mm.models.arch import arch_to_extra
from hrnet_mm.models.blocks import BasicBlock, Bottleneck

SMALL = 'w18_small_v1'


@pytest.mark.parametrize('arch', sorted(ARCH_PRESETS))
def test_every_preset_forward_backward(arch):
    torch.manual_seed(0)
    model = HRNet(arch).train()
    x = torch.rand(2, 3, 64, 48)
    outs = model(x)
    assert tuple(o.shape[1] for o in outs) == model.out_channels
    assert tuple(64 // o.shape[2] for o in outs) == model.out_strides
    assert model.out_channels == tuple(c for c in ARCH_PRESETS[arch].stages[3].num_channels)
    sum(o.mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f'parameters without gradient: {no_grad[:5]}'


@pytest.mark.parametrize('multiscale', [True, False])
@pytest.mark.parametrize('upsample', ['nearest', dict(mode='bilinear', align_corners=False),
                                      dict(mode='bilinear', align_corners=True),
                                      dict(mode='bilinear', align_corners=False,
                                           scale_first=True)])
@pytest.mark.parametrize('size', [(97, 75), (33, 31), (1, 1), (250, 190)])
def test_any_input_size(size, upsample, multiscale):
    model = HRNet(SMALL, upsample=upsample, multiscale_output=multiscale).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    h, w = size
    for o, c in zip(outs, model.out_channels):
        assert o.shape[:2] == (1, c)
        h, w = (h + 1) // 2, (w + 1) // 2  # the stem halves twice, then each stream once more
    expected0 = (((size[0] + 1) // 2 + 1) // 2, ((size[1] + 1) // 2 + 1) // 2)
    assert tuple(outs[0].shape[-2:]) == expected0
    assert len(outs) == (4 if multiscale else 1)


def test_v1_single_output_layout():
    v1 = HRNet('w32', multiscale_output=False)
    v2 = HRNet('w32', multiscale_output=True)
    extra_keys = set(v2.state_dict()) - set(v1.state_dict())
    assert len(extra_keys) == 78
    assert all(k.startswith('stage4.2.fuse_layers.') for k in extra_keys)
    assert v1.out_channels == (32,) and v1.out_strides == (4,)


def test_train_returns_self_and_eval_chains():
    model = HRNet(SMALL)
    assert model.train() is model
    assert model.eval() is model and not model.training


@pytest.mark.parametrize('frozen', [-1, 0, 1, 2, 3, 4])
def test_frozen_stages(frozen):
    model = HRNet(SMALL, frozen_stages=frozen)
    model.train()
    frozen_mods = [m for i in range(frozen + 1) for m in model.stage_modules(i)]
    frozen_params = {id(p) for m in frozen_mods for p in m.parameters()}
    for name, p in model.named_parameters():
        assert p.requires_grad == (id(p) not in frozen_params), name
    for m in frozen_mods:
        for sub in m.modules():
            assert not sub.training
    if frozen == 4:
        assert not any(p.requires_grad for p in model.parameters())
    # stage boundaries: frozen_stages=1 freezes stem + layer1 + transition1 and nothing else
    if frozen == 1:
        names = {n.split('.')[0] for n, p in model.named_parameters() if not p.requires_grad}
        assert names == {'conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1'}


def test_frozen_stages_keeps_weights_in_training():
    model = HRNet(SMALL, frozen_stages=2)
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    sum(o.mean() for o in model(torch.rand(2, 3, 64, 64))).backward()
    opt.step()
    after = model.state_dict()
    for k in before:
        if k.startswith(('conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'stage2',
                         'transition2')):
            assert torch.equal(before[k], after[k]), k  # weights and BN stats untouched


def test_norm_eval():
    model = HRNet(SMALL, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.training


def test_zero_init_residual():
    model = HRNet(SMALL, zero_init_residual=True)
    model.init_weights()
    units = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert units
    for m in units:
        assert torch.count_nonzero(m.last_norm.weight) == 0
    # the other norms keep their init
    assert torch.all(model.bn1.weight == 1)


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    ref = HRNet(SMALL).train()
    cp_model = HRNet(SMALL, with_cp=True).train()
    cp_model.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 48)
    outs_ref, outs_cp = ref(x), cp_model(x)
    for a, b in zip(outs_ref, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.square().mean() for o in outs_ref).backward()
    sum(o.square().mean() for o in outs_cp).backward()
    for (n, p), q in zip(ref.named_parameters(), cp_model.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)


def test_in_channels():
    model = HRNet(SMALL, in_channels=1).eval()
    assert model(torch.rand(1, 1, 32, 32))[0].shape[1] == 16


def test_extra_dict_and_custom_arch():
    extra = arch_to_extra(ARCH_PRESETS['w32'])
    assert HRNet(extra=extra).arch == ARCH_PRESETS['w32']
    custom = HRNetArch((StageSpec(1, 1, 'BOTTLENECK', (1,), (8,)),
                        StageSpec(1, 2, 'BASIC', (1, 1), (4, 8)),
                        StageSpec(1, 3, 'BASIC', (1, 1, 1), (4, 8, 12)),
                        StageSpec(1, 4, 'BASIC', (1, 1, 1, 1), (4, 8, 12, 16))))
    model = HRNet(custom).eval()
    assert [o.shape[1] for o in model(torch.rand(1, 3, 32, 32))] == [4, 8, 12, 16]


def test_extra_honours_mm_keys():
    extra = arch_to_extra(ARCH_PRESETS[SMALL])
    extra['stage4']['multiscale_output'] = False
    extra['upsample'] = dict(mode='bilinear', align_corners=False)
    model = HRNet(extra=extra)
    assert model.out_channels == (16,)
    assert model.upsample.mode == 'bilinear'


def test_compat_defaults_follow_the_toolbox():
    extra = arch_to_extra(ARCH_PRESETS[SMALL])
    assert HRNet(extra=extra, compat='mmpose').out_channels == (16,)
    seg = HRNet(extra=extra, compat='mmseg')
    assert seg.upsample.mode == 'bilinear' and seg.upsample.scale_first
    assert HRNet(extra=extra, compat='mmdet').norm_eval is True
    # explicit arguments win over the toolbox defaults
    assert HRNet(extra=extra, compat='mmpose', multiscale_output=True).out_channels == \
        (16, 32, 64, 128)


@pytest.mark.parametrize('kwargs, field', [
    (dict(arch='w33'), 'arch'),
    (dict(arch=None), 'arch'),
    (dict(arch=SMALL, frozen_stages=5), 'frozen_stages'),
    (dict(arch=SMALL, in_channels=0), 'in_channels'),
    (dict(arch=SMALL, norm_cfg=dict(type='XN')), 'norm_cfg'),
    (dict(arch=SMALL, upsample='bicubic'), 'upsample'),
    (dict(arch=SMALL, compat='mmcls'), 'compat'),
    (dict(extra={'stage1': {}}), 'stage1'),
])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        HRNet(**kwargs)


def test_branch_count_mismatch_names_field():
    extra = arch_to_extra(ARCH_PRESETS[SMALL])
    extra['stage3']['num_channels'] = (16, 32)
    with pytest.raises(ValueError, match=r'stage3\.num_channels'):
        HRNet(extra=extra)
    extra = arch_to_extra(ARCH_PRESETS[SMALL])
    extra['stage2']['num_branches'] = 3
    with pytest.raises(ValueError, match=r'stage2\.num_(blocks|branches)'):
        HRNet(extra=extra)


@pytest.mark.parametrize('x, match', [
    (torch.rand(1, 4, 32, 32), 'in_channels=3'),
    (torch.rand(3, 32, 32), '4D'),
    (torch.rand(0, 3, 32, 32), 'empty'),
])
def test_bad_inputs(x, match):
    with pytest.raises(ValueError, match=match):
        HRNet(SMALL).eval()(x)


def test_registry_builds_from_scoped_type():
    from mmengine.registry import MODELS as ROOT
    import hrnet_mm  # noqa: F401
    model = ROOT.build(dict(type='hrnet_mm.HRNet', arch=SMALL))
    assert isinstance(model, HRNet)
