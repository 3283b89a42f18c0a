"""Checkpoint conversion: every source layout maps onto ours and gives the same numbers."""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from helpers import max_abs_diff, randomize_

from hrnet_mm.checkpoint import (CheckpointError, convert_state_dict, detect_source,
                                 load_checkpoint, split_state_dict)
from hrnet_mm.models import HRNet, HRNetClassifier, HRNetV2Neck

ARCH = 'w18_small_v1'


def _strip(sd, prefix):
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _official_cls(model: HRNetClassifier):
    """The official classification / timm layout: backbone and head keys at the top level."""
    sd = model.state_dict()
    return {**_strip(sd, 'backbone.'), **_strip(sd, 'head.')}


def test_official_cls_and_timm_round_trip():
    src = randomize_(HRNetClassifier(ARCH, num_classes=10)).eval()
    sd = _official_cls(src)
    assert detect_source(sd) == 'official_cls'
    for source in (None, 'timm'):
        dst = HRNetClassifier(ARCH, num_classes=10).eval()
        dst.load_state_dict(convert_state_dict(sd, source), strict=True)
        x = torch.rand(1, 3, 64, 64)
        assert max_abs_diff(src(x), dst(x)) == 0


def test_wrapper_prefixes_are_stripped():
    sd = {f'module.{k}': v for k, v in HRNet(ARCH).state_dict().items()}
    converted = convert_state_dict(sd)
    assert all(k.startswith('backbone.') for k in converted)
    load_checkpoint(HRNet(ARCH), sd)


def test_official_pose_layout():
    backbone = randomize_(HRNet(ARCH, multiscale_output=False))
    final = nn.Conv2d(16, 17, 1)
    sd = {**backbone.state_dict(), 'final_layer.weight': final.weight,
          'final_layer.bias': final.bias}
    assert detect_source(sd) == 'official_pose'
    converted = convert_state_dict(sd)
    assert set(split_state_dict(converted, 'head.')) == {'final_layer.weight', 'final_layer.bias'}
    load_checkpoint(HRNet(ARCH, multiscale_output=False), sd)


def test_official_seg_last_layer_folds_into_fcn_head():
    """The official seg head (1x1 conv with bias -> BN -> ReLU -> 1x1) becomes mmseg's FCNHead;
    the conv bias is folded into the BN mean, so logits are equal."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    backbone = randomize_(HRNet(ARCH, upsample=dict(mode='bilinear', align_corners=False)))
    neck = HRNetV2Neck(list(backbone.out_channels))
    c = neck.out_channels[0]
    last_layer = randomize_(nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(),
                                          nn.Conv2d(c, 19, 1)), seed=3)
    official = {**{f'model.{k}': v for k, v in backbone.state_dict().items()},
                **{f'model.last_layer.{k}': v for k, v in last_layer.state_dict().items()},
                'model.loss.criterion.weight': torch.ones(19)}
    assert detect_source(official) == 'official_seg'
    ours = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='hrnet_mm.HRNet', arch=ARCH,
                      upsample=dict(mode='bilinear', align_corners=False)),
        neck=dict(type='hrnet_mm.HRNetV2Neck', in_channels=list(backbone.out_channels)),
        decode_head=dict(type='FCNHead', in_channels=c, channels=c, in_index=0,
                         kernel_size=1, num_convs=1, concat_input=False, dropout_ratio=-1,
                         num_classes=19, norm_cfg=dict(type='BN'), align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss'))))
    missing, unexpected = load_checkpoint(ours, official, prefix='', strict=False)
    assert not unexpected and not missing
    ours.eval()
    backbone.eval(), neck.eval(), last_layer.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = last_layer(neck(backbone(x))[0])
        got = ours.decode_head(ours.extract_feat(x))
    assert max_abs_diff(expected, got) <= 1e-4


@pytest.mark.parametrize('scope, cfg', [
    ('mmpose', 'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
               'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'),
    ('mmseg', 'mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py'),
    ('mmdet', 'mmdet::hrnet/faster-rcnn_hrnetv2p-w18-1x_coco.py'),
])
def test_mm_whole_model_checkpoints_load_into_our_modules(scope, cfg):
    """A zoo model's whole state dict (backbone. / neck. / heads) loads strictly into the same
    model with hrnet_mm modules swapped in."""
    import importlib
    from helpers import zoo_config
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model_cfg = zoo_config(cfg).model
    model_cfg.pop('pretrained', None)
    model_cfg.backbone.pop('init_cfg', None)
    theirs = registry.build(model_cfg)
    sd = theirs.state_dict()
    assert detect_source(sd) == scope
    model_cfg.backbone.type = 'hrnet_mm.HRNet'
    if scope == 'mmdet':
        model_cfg.neck.type = 'hrnet_mm.HRNetV2pNeck'
    ours = registry.build(model_cfg)
    ours.load_state_dict(convert_state_dict(sd), strict=True)


def test_mmpretrain_layout():
    src = randomize_(HRNetClassifier(ARCH, num_classes=10)).eval()
    with torch.no_grad():  # mmpretrain's HRFuseScales convs have no bias
        for m in list(src.head.downsamp_modules) + [src.head.final_layer]:
            m[0].bias.zero_()
    sd = {}
    for k, v in src.state_dict().items():
        k = k.replace('head.incre_modules.', 'neck.increase_layers.')
        k = k.replace('head.classifier.', 'head.fc.')
        for old, new in (('head.downsamp_modules.', 'neck.downsample_layers.'),
                         ('head.final_layer.', 'neck.final_layer.')):
            if k.startswith(old):
                rest = k[len(old):]
                if old == 'head.downsamp_modules.':
                    i, rest = rest.split('.', 1)
                    new = f'{new}{i}.'
                idx, name = rest.split('.', 1)
                if idx == '0' and name == 'bias':
                    k = None
                    break
                k = f"{new}{'conv' if idx == '0' else 'bn'}.{name}"
        if k is not None:
            sd[k] = v
    assert detect_source(sd) == 'mmpretrain'
    dst = HRNetClassifier(ARCH, num_classes=10).eval()
    dst.load_state_dict(convert_state_dict(sd), strict=True)
    x = torch.rand(1, 3, 64, 64)
    assert max_abs_diff(src(x), dst(x)) == 0


def test_unmatched_keys_are_named():
    sd = dict(HRNet(ARCH).state_dict())
    sd['mystery_layer.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointError, match='mystery_layer.weight'):
        convert_state_dict(sd)
    with pytest.raises(CheckpointError, match='source must be one of'):
        convert_state_dict(sd, source='caffe')


@pytest.mark.parametrize('target, found, expected', [
    (dict(arch='w18'), 'w18_small_v1', 'w18 '),
    (dict(arch=ARCH, multiscale_output=False), '4 output streams', '1 output stream'),
    (dict(arch=ARCH, norm_cfg=dict(type='GN', num_groups=4)), r'\(BN', r'\(GN'),
])
def test_variant_mismatch_message(target, found, expected, tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    torch.save({'state_dict': HRNet(ARCH).state_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(HRNet(**target), path)
    msg = str(err.value)
    assert path in msg
    assert pytest.importorskip('re').search(f'found HRNet .*{found}', msg)
    assert pytest.importorskip('re').search(f'expected HRNet .*{expected}', msg)


def test_corrupted_file(tmp_path):
    path = tmp_path / 'broken.pth'
    torch.save(HRNet(ARCH).state_dict(), str(path))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='truncated or corrupted'):
        load_checkpoint(HRNet(ARCH), str(path))


def test_convert_tool(tmp_path):
    src = tmp_path / 'official.pth'
    torch.save(_official_cls(HRNetClassifier(ARCH)), str(src))
    dst = tmp_path / 'ours.pth'
    out = subprocess.run([sys.executable, 'tools/convert_checkpoint.py', str(src), str(dst),
                          '--backbone-only'], capture_output=True, text=True,
                         cwd=pytest.importorskip('conftest').REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert 'official_cls' in out.stdout
    load_checkpoint(HRNet(ARCH), torch.load(str(dst))['state_dict'])
