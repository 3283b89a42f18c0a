"""hrnet_mm modules inside the toolboxes' own models, built from their zoo configs.

Each test takes the mm zoo config, swaps in ``hrnet_mm.*`` types, builds the model from the
toolbox's registry and runs forward in loss and predict modes on tiny inputs.
"""
import copy

import pytest
import torch
from helpers import max_abs_diff, randomize_, zoo_config
from mmengine.registry import init_default_scope

import hrnet_mm  # noqa: F401  (registers the models)
from hrnet_mm.models import HRNet, HRNetV2Neck, HRNetV2pNeck

POSE_CFG = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
SEG_CFG = 'mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py'
DET_CFG = 'mmdet::hrnet/faster-rcnn_hrnetv2p-w18-1x_coco.py'


def _model_cfg(path):
    return copy.deepcopy(zoo_config(path).model)


@pytest.mark.parametrize('backbone', [
    dict(type='hrnet_mm.HRNet', arch='w18_small_v1', multiscale_output=False),
    'extra',  # the zoo's own extra dict, only the type changed
])
def test_topdown_pose_estimator(backbone):
    from mmpose.registry import MODELS
    from mmpose.testing import get_packed_inputs
    init_default_scope('mmpose')
    cfg = _model_cfg(POSE_CFG)
    if backbone == 'extra':
        cfg.backbone.type = 'hrnet_mm.HRNet'
        cfg.backbone.pop('init_cfg', None)
    else:
        cfg.backbone = backbone
        cfg.head.in_channels = 16
    model = MODELS.build(cfg)
    assert isinstance(model.backbone, HRNet)
    packed = get_packed_inputs(batch_size=2, img_shape=(64, 48), input_size=(48, 64),
                               heatmap_size=(12, 16), with_simcc_label=False)
    data = model.data_preprocessor(packed, training=True)
    losses = model.forward(**data, mode='loss')
    assert torch.isfinite(losses['loss_kpt'])
    model.eval()
    with torch.no_grad():
        results = model.forward(**model.data_preprocessor(packed, False), mode='predict')
    assert results[0].pred_instances.keypoints.shape[-2:] == (17, 2)


def _seg_samples(batch, h, w, num_classes):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(batch):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                        padding_size=[0, 0, 0, 0]))
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w)))
        samples.append(s)
    return samples


def test_encoder_decoder_with_v2_neck():
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = _model_cfg(SEG_CFG)
    in_channels = list(cfg.decode_head.in_channels)
    cfg.backbone = dict(type='hrnet_mm.HRNet', arch='w18_small_v2',
                        upsample=dict(mode='bilinear', align_corners=False))
    cfg.neck = dict(type='hrnet_mm.HRNetV2Neck', in_channels=in_channels)
    cfg.decode_head.update(in_channels=sum(in_channels), in_index=0, input_transform=None)
    cfg.data_preprocessor.pop('size', None)
    model = MODELS.build(cfg)
    assert isinstance(model.neck, HRNetV2Neck)
    inputs = torch.rand(2, 3, 64, 64)
    samples = _seg_samples(2, 64, 64, 19)
    losses = model.forward(inputs, samples, mode='loss')
    assert torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    with torch.no_grad():
        out = model.forward(inputs, samples, mode='predict')
    assert out[0].pred_sem_seg.data.shape == (1, 64, 64)


def test_seg_extra_only_type_changed_matches_mmseg():
    """Changing only the backbone type of an mmseg config gives mmseg's numbers."""
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = _model_cfg(SEG_CFG)
    theirs = randomize_(MODELS.build(cfg.backbone))
    ours_cfg = copy.deepcopy(cfg.backbone)
    ours_cfg.type = 'hrnet_mm.HRNet'
    ours = MODELS.build(ours_cfg)
    ours.load_state_dict(theirs.state_dict())
    theirs.eval()
    ours.eval()
    x = torch.rand(1, 3, 100, 76)
    with torch.no_grad():
        assert max_abs_diff(theirs(x), ours(x)) <= 1e-5


def _mmcv_ops_available() -> bool:
    try:
        from mmcv.ops import nms
        nms(torch.tensor([[0., 0., 1., 1.]]), torch.tensor([1.]), 0.5)
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _mmcv_ops_available(), reason='mmcv compiled ops (nms) unavailable')
def test_faster_rcnn_with_v2p_neck():
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    init_default_scope('mmdet')
    cfg = _model_cfg(DET_CFG)
    cfg.backbone = dict(type='hrnet_mm.HRNet', arch='w18_small_v1')
    cfg.neck = dict(type='hrnet_mm.HRNetV2pNeck', in_channels=[16, 32, 64, 128],
                    out_channels=256)
    model = MODELS.build(cfg)
    assert isinstance(model.neck, HRNetV2pNeck)
    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 96, 128]], num_items=[3, 2])
    data = model.data_preprocessor(packed, True)
    losses = model.forward(**data, mode='loss')
    total = sum(v if isinstance(v, torch.Tensor) else sum(v) for k, v in losses.items()
                if 'loss' in k)
    assert torch.isfinite(total)
    model.eval()
    with torch.no_grad():
        results = model.forward(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2 and hasattr(results[0], 'pred_instances')
