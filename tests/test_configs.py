"""Every config in configs/ resolves and is the mm zoo config it reproduces.

A config is a few lines over the toolbox's own zoo config (``_base_ = 'mmpose::...'``), so the
test loads that zoo config the same way and checks that everything is equal except the
backbone / neck: same data pipeline, schedule, optimizer, batch size, head and test settings.
The backbone and neck are then compared for what they compute: the architecture preset against
the zoo's ``extra`` dict, and each behaviour switch (norm, upsampling, outputs, init) against
the zoo's value or, where the zoo config leaves it out, the toolbox class's default. For three
configs the whole model is built both ways and must have the same parameters and, with the
zoo model's weights loaded, give the same outputs.
"""
import ast
import glob
import inspect
import os.path as osp

import pytest
import torch
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py')))
# Ours without a zoo counterpart: built from the zoo recipe named in their _base_, with another
# backbone; the head widths follow the backbone.
NO_ZOO_TWIN = {'fcn_litehrnet-18_4xb2-160k_cityscapes-512x1024.py',
               'fcn_litehrnet-30_4xb2-160k_cityscapes-512x1024.py',
               'faster-rcnn_litehrnet-18-2x_coco.py', 'faster-rcnn_litehrnet-30-2x_coco.py',
               'mask-rcnn_litehrnet-18-2x_coco.py', 'mask-rcnn_litehrnet-30-2x_coco.py'}
# Not zoo experiments: the quickstart and the learning check on the bundled sample, and the
# PP-TinyPose configs for PaddleDetection's weights (checked in tests/test_real_model.py).
NOT_ZOO = {'td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py',
           'fcn_hr18s-v1_1xb4-150i_coco-sample-224x320.py',
           'td-hm_pp-tinypose-256x192_coco.py', 'td-hm_pp-tinypose-128x96_coco.py'}
ZOO_CONFIGS = [c for c in CONFIGS if osp.basename(c) not in NOT_ZOO]

mmpose_models = pytest.importorskip('mmpose.models')
mmseg_models = pytest.importorskip('mmseg.models')
mmdet_models = pytest.importorskip('mmdet.models')

from hrnet_mm.models import HRNet, HRNetV2Neck, HRNetV2pNeck  # noqa: E402
from hrnet_mm.models.arch import arch_from_extra  # noqa: E402
from hrnet_mm.models.lite_arch import lite_arch_from_extra  # noqa: E402
from hrnet_mm.models.resample import Upsample  # noqa: E402
from hrnet_mm.registry import MODELS  # noqa: E402

ZOO_BACKBONES = {
    ('mmpose', 'HRNet'): mmpose_models.backbones.HRNet,
    ('mmpose', 'LiteHRNet'): mmpose_models.backbones.LiteHRNet,
    ('mmseg', 'HRNet'): mmseg_models.backbones.HRNet,
    ('mmdet', 'HRNet'): mmdet_models.backbones.HRNet,
}
# How each toolbox's HRNet upsamples in the exchange units (mmseg: an nn.Upsample by the
# stride ratio inside the fuse layer, then a resize to the exact size).
ZOO_UPSAMPLE = {'mmseg': Upsample('bilinear', align_corners=False, scale_first=True),
                'mmdet': Upsample('nearest')}


def _id(path):
    return osp.basename(path)[:-3]


def zoo_base(path: str) -> str:
    """The ``mmpose::`` / ``mmseg::`` / ``mmdet::`` path in the config's ``_base_``."""
    tree = ast.parse(open(path).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == '_base_':
            base = ast.literal_eval(node.value)
            bases = [base] if isinstance(base, str) else base
            zoo = [b for b in bases if '::' in b]
            assert len(zoo) == 1, f'{path}: expected one zoo _base_, got {bases}'
            return zoo[0]
    raise AssertionError(f'{path} has no _base_')


def load_zoo(base: str, tmp_path) -> Config:
    """Load a zoo config through the same package-path route as ours (same ``_scope_`` keys)."""
    f = tmp_path / 'zoo.py'
    f.write_text(f'_base_ = {base!r}\n')
    return Config.fromfile(str(f))


def defaults(cls) -> dict:
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def build_ours(cfg_dict: dict):
    cfg = dict(cfg_dict)
    assert cfg['type'].startswith('hrnet_mm.'), cfg['type']
    # Keep the scope prefix: with a bare 'HRNet', an mm default scope left active by another
    # test would switch the lookup to that toolbox's HRNet.
    with torch.device('meta'):  # structure only: no memory, no time
        return MODELS.build(cfg)


def zoo_backbone_settings(scope: str, model: dict) -> dict:
    """What the zoo backbone does: its config values, else its class's defaults."""
    bb = model['backbone']
    cls = ZOO_BACKBONES[(scope, bb['type'])]
    dflt = defaults(cls)

    def get(key):
        return bb.get(key, dflt.get(key))

    init = bb.get('init_cfg')
    if init is None and model.get('pretrained'):  # mmseg moves model.pretrained here
        init = dict(type='Pretrained', checkpoint=model['pretrained'])
    if init is None:
        init = dflt.get('init_cfg')
    s = dict(in_channels=get('in_channels'), norm_cfg=dict(get('norm_cfg')),
             norm_eval=get('norm_eval'), with_cp=get('with_cp'),
             frozen_stages=bb.get('frozen_stages', dflt.get('frozen_stages', -1)), init_cfg=init)
    assert get('conv_cfg') is None
    if bb['type'] == 'LiteHRNet':
        s['arch'] = lite_arch_from_extra(bb['extra'])
        s['out_streams'] = 'first'  # mmpose's LiteHRNet returns (x[0],)
        return s
    s['arch'] = arch_from_extra(bb['extra'])
    s['zero_init_residual'] = get('zero_init_residual')
    if scope == 'mmpose':
        s['multiscale_output'] = bb['extra']['stage4'].get('multiscale_output', False)
        s['upsample'] = Upsample.from_cfg(
            {k: v for k, v in bb['extra'].get('upsample', dict(mode='nearest')).items()
             if v is not None})
    else:
        s['multiscale_output'] = get('multiscale_output')
        s['upsample'] = ZOO_UPSAMPLE[scope]
    return s


def our_backbone_settings(module) -> dict:
    keys = ['arch', 'in_channels', 'norm_cfg', 'norm_eval', 'with_cp', 'frozen_stages',
            'init_cfg']
    if isinstance(module, HRNet):
        keys += ['zero_init_residual', 'multiscale_output', 'upsample']
    else:
        keys += ['out_streams']
    out = {k: getattr(module, k) for k in keys}
    out['norm_cfg'] = dict(out['norm_cfg'])
    return out


def without(d: dict, *keys) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


@pytest.fixture(scope='module')
def hrnet_mm_registered():
    import hrnet_mm  # noqa: F401


def test_every_config_is_listed():
    """The configs the issue asks for are all there (names as in the mm zoo)."""
    names = {_id(c) for c in CONFIGS}
    for w, b in (('w32', 64), ('w48', 32)):
        for size in ('256x192', '384x288'):
            assert f'td-hm_hrnet-{w}_8xb{b}-210e_coco-{size}' in names
    for n in (18, 30):
        assert f'td-hm_litehrnet-{n}_8xb64-210e_coco-256x192' in names
        assert f'td-hm_litehrnet-{n}_8xb32-210e_coco-384x288' in names
        assert f'td-hm_litehrnet-{n}_8xb64-210e_mpii-256x256' in names
        assert f'fcn_litehrnet-{n}_4xb2-160k_cityscapes-512x1024' in names
    assert 'td-hm_hrnet-w32_8xb64-210e_mpii-256x256' in names
    for w in ('18s', '18', '48'):
        for it in ('40k', '80k'):
            assert f'fcn_hr{w}_4xb2-{it}_cityscapes-512x1024' in names
    for algo in ('faster-rcnn', 'mask-rcnn'):
        assert sum(n.startswith(f'{algo}_hrnetv2p-w') for n in names) == 6
    assert sum(n.startswith('cascade-rcnn_hrnetv2p-w') for n in names) == 3
    for data in ('wflw', '300w', 'cofw', 'aflw'):  # face, HRNetV2-W18
        assert f'td-hm_hrnetv2-w18_8xb64-60e_{data}-256x256' in names
    for hand in ('8xb64-210e_onehand10k', '8xb32-210e_coco-wholebody-hand'):
        assert f'td-hm_hrnetv2-w18_{hand}-256x256' in names
    assert 'td-hm_litehrnet-w18_8xb32-210e_coco-wholebody-hand-256x256' in names
    for w, b in (('w32', 64), ('w48', 32)):
        for size in ('256x192', '384x288'):
            assert f'td-hm_hrnet-{w}_8xb{b}-210e_coco-wholebody-{size}' in names


@pytest.mark.parametrize('path', ZOO_CONFIGS, ids=_id)
def test_config_reproduces_zoo(path, tmp_path, hrnet_mm_registered):
    ours = Config.fromfile(path)
    zoo = load_zoo(zoo_base(path), tmp_path)
    name = osp.basename(path)
    scope = zoo.default_scope
    assert ours.default_scope == scope
    assert ours.custom_imports == dict(imports=['hrnet_mm'], allow_failed_imports=False)
    o, z = ours.to_dict(), zoo.to_dict()
    om, zm = o['model'], z['model']

    # 1. everything but the backbone / neck (/ the FCN head's input arguments) is identical
    skip = ['backbone', 'neck', 'pretrained'] + (['decode_head'] if scope == 'mmseg' else [])
    assert without(o, 'custom_imports', 'model') == without(z, 'model')
    assert without(om, *skip) == without(zm, *skip)

    # 2. the backbone computes what the zoo's does
    backbone = build_ours(without(om['backbone'], 'init_cfg'))
    backbone.init_cfg = om['backbone'].get('init_cfg', backbone.init_cfg)
    if name in NO_ZOO_TWIN:
        assert backbone.out_streams == 'all'
    else:
        assert our_backbone_settings(backbone) == zoo_backbone_settings(scope, zm)
    channels = list(backbone.out_channels)

    # 3. neck and head: the same layers, spelled our way
    if scope == 'mmpose' and 'neck' in zm:  # HRNetV2: FeatureMapProcessor(concat) == our neck
        neck, fmp = om['neck'], {**defaults(mmpose_models.necks.FeatureMapProcessor),
                                 **without(zm['neck'], 'type')}
        assert zm['neck']['type'] == 'FeatureMapProcessor' and backbone.multiscale_output
        assert fmp == dict(select_index=None, concat=True, scale_factor=1.0, apply_relu=False,
                           align_corners=fmp['align_corners'])
        assert neck == dict(type='hrnet_mm.HRNetV2Neck', in_channels=channels)
        # FeatureMapProcessor resizes to stream 0 with bilinear and its align_corners
        assert Upsample.from_cfg(defaults(HRNetV2Neck)['upsample']) == Upsample(
            'bilinear', align_corners=fmp['align_corners'])
        assert om['head']['in_channels'] == sum(channels) == build_ours(neck).out_channels[0]
    elif scope == 'mmpose':
        assert 'neck' not in om and 'neck' not in zm
        assert om['head']['in_channels'] == channels[0]
    elif scope == 'mmdet':
        neck, hrfpn = om['neck'], zm['neck']
        assert neck['type'] == 'hrnet_mm.HRNetV2pNeck' and hrfpn['type'] == 'HRFPN'
        assert neck['in_channels'] == channels
        if name not in NO_ZOO_TWIN:  # Lite-HRNet: HRFPN's arguments but its own channels
            assert channels == hrfpn['in_channels']
        mine = {**defaults(HRNetV2pNeck), **without(neck, 'type', 'in_channels')}
        theirs = {**defaults(mmdet_models.necks.HRFPN), **without(hrfpn, 'type', 'in_channels')}
        shared = set(mine) & set(theirs)
        assert {k: mine[k] for k in shared} == {k: theirs[k] for k in shared}
        # HRFPN resizes with F.interpolate(mode='bilinear'), align_corners left at False
        assert Upsample.from_cfg(mine['upsample']) == Upsample('bilinear', align_corners=False)
        build_ours(neck)
    else:  # mmseg: FCNHead(input_transform='resize_concat') == HRNetV2Neck + FCNHead
        neck = om['neck']
        assert neck == dict(type='hrnet_mm.HRNetV2Neck', in_channels=channels)
        # OCRNet: a list of heads (auxiliary FCNHead, OCRHead), each on the concatenated streams
        heads, zheads = om['decode_head'], zm['decode_head']
        heads, zheads = (heads, zheads) if isinstance(zheads, list) else ([heads], [zheads])
        assert len(heads) == len(zheads)
        for head, zhead in zip(heads, zheads):
            assert zhead['input_transform'] == 'resize_concat'
            assert tuple(zhead['in_index']) == tuple(range(len(zhead['in_channels'])))
            # the head resizes with bilinear and its own align_corners: the neck's default
            assert Upsample.from_cfg(defaults(HRNetV2Neck)['upsample']) == Upsample(
                'bilinear', align_corners=zhead['align_corners'])
            assert head['in_index'] == 0 and head['input_transform'] is None
            assert head['in_channels'] == sum(channels) == build_ours(neck).out_channels[0]
            if name in NO_ZOO_TWIN:  # the W18 recipe's head, as wide as its input
                assert head['channels'] == head['in_channels']
                changed = ('in_channels', 'channels', 'in_index', 'input_transform')
            else:
                assert zhead['in_channels'] == channels
                if zhead['type'] == 'FCNHead':  # FCN heads as wide as their input
                    assert zhead['channels'] == sum(channels)
                changed = ('in_channels', 'in_index', 'input_transform')
            assert without(head, *changed) == without(zhead, *changed)


# --- whole models: same parameters, same numbers with the zoo's weights ---------------------

BUILD_CASES = {
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192': (1, 3, 64, 64),
    'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256': (1, 3, 64, 64),  # HRNetV2Neck + HeatmapHead
    'fcn_hr18_4xb2-40k_cityscapes-512x1024': (1, 3, 64, 128),
    'faster-rcnn_hrnetv2p-w18-1x_coco': (1, 3, 64, 96),
    'ocrnet_hr18s_4xb2-40k_cityscapes-512x1024': (1, 3, 64, 128),  # FCN + OCR heads on the neck
    'fcos_hrnetv2p-w18-gn-head_4xb4-1x_coco': (1, 3, 64, 96),  # HRNetV2pNeck(stride=2)
}


def build_model(cfg: Config, scope: str):
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    registry = {'mmpose': 'mmpose.registry', 'mmseg': 'mmseg.registry',
                'mmdet': 'mmdet.registry'}[scope]
    import importlib
    model_cfg = cfg.model
    model_cfg.pop('pretrained', None)  # never download; weights are copied below
    if 'init_cfg' in model_cfg.backbone:
        model_cfg.backbone.init_cfg = None
    return importlib.import_module(registry).MODELS.build(model_cfg)


@pytest.mark.parametrize('name', sorted(BUILD_CASES))
def test_model_matches_zoo_model(name, tmp_path, hrnet_mm_registered):
    path, = [c for c in CONFIGS if _id(c) == name]
    ours_cfg = Config.fromfile(path)
    scope = ours_cfg.default_scope
    zoo_cfg = load_zoo(zoo_base(path), tmp_path)
    torch.manual_seed(0)
    zoo_model = build_model(zoo_cfg, scope).eval()
    ours_model = build_model(ours_cfg, scope).eval()

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(ours_model) == count(zoo_model)
    # the zoo model's weights load into ours key for key, and give the same outputs
    ours_model.load_state_dict(zoo_model.state_dict(), strict=True)
    x = torch.rand(BUILD_CASES[name])
    with torch.no_grad():
        if scope == 'mmdet':
            a, b = ours_model.extract_feat(x), zoo_model.extract_feat(x)
        else:
            a, b = ours_model._forward(x), zoo_model._forward(x)
    a = a if isinstance(a, (tuple, list)) else [a]
    b = b if isinstance(b, (tuple, list)) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-5)
