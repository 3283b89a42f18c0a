"""Recompute the papers' tables: parameters exactly, GFLOPs (multiply-adds / 2^30) within 1%."""
import pytest
import torch.nn as nn

from hrnet_mm.analysis import count_macs, count_macs_fast, count_params, gflops
from hrnet_mm.models import HRNet, HRNetClassifier, HRNetV2Neck


class PoseNet(nn.Module):
    """HRNetV1 with the official 1x1 17-keypoint final layer."""

    def __init__(self, arch: str):
        super().__init__()
        self.backbone = HRNet(arch, multiscale_output=False)
        self.final_layer = nn.Conv2d(self.backbone.out_channels[0], 17, 1)

    def forward(self, x):
        return self.final_layer(self.backbone(x)[0])


class SegNet(nn.Module):
    """HRNetV2 segmentation with the official 15C head (1x1 15C->15C with bias, BN, ReLU,
    1x1 -> classes)."""

    def __init__(self, arch: str, num_classes: int = 19):
        super().__init__()
        self.backbone = HRNet(arch, upsample=dict(mode='bilinear', align_corners=False))
        self.neck = HRNetV2Neck(list(self.backbone.out_channels))
        c = self.neck.out_channels[0]
        self.last_layer = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(),
                                        nn.Conv2d(c, num_classes, 1))

    def forward(self, x):
        return self.last_layer(self.neck(self.backbone(x))[0])


@pytest.mark.parametrize('arch, params, sizes', [
    ('w32', 28_536_113, {(256, 192): 7.1, (384, 288): 16.0}),
    ('w48', 63_595_745, {(256, 192): 14.6, (384, 288): 32.9}),
])
def test_pose_table(arch, params, sizes):
    model = PoseNet(arch)
    assert count_params(model) == params
    for (h, w), expected in sizes.items():
        assert gflops(count_macs_fast(model, (1, 3, h, w))) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize('arch, params, expected_gflops', [
    ('w18_small_v1', 13.187, 1.49),
    ('w18_small_v2', 15.597, 2.42),
    ('w18', 21.299, 3.99),
    ('w32', 41.233, 8.31),
    ('w48', 77.470, 16.1),
    ('w64', 128.060, 26.9),
])
def test_classification_table(arch, params, expected_gflops):
    model = HRNetClassifier(arch)
    assert round(count_params(model) / 1e6, 3) == params
    assert gflops(count_macs_fast(model, (1, 3, 224, 224))) == pytest.approx(expected_gflops,
                                                                          rel=0.01)


@pytest.mark.parametrize('arch, params', [('w18', 9.562), ('w32', 29.306), ('w48', 65.325)])
def test_backbone_all_branches(arch, params):
    assert round(count_params(HRNet(arch)) / 1e6, 3) == params


def test_segmentation_w48_cityscapes():
    model = SegNet('w48')
    assert count_params(model) == 65_859_379
    assert gflops(count_macs_fast(model, (1, 3, 1024, 2048))) == pytest.approx(696.2, rel=0.01)


@pytest.mark.parametrize('build, shape', [
    (lambda: PoseNet('w18_small_v1'), (1, 3, 256, 192)),
    (lambda: HRNetClassifier('w18_small_v1'), (1, 3, 224, 224)),
])
def test_fast_counter_equals_mmengine_flop_analyzer(build, shape):
    """The tables above use the hook counter; mmengine's FlopAnalyzer (conv + linear) agrees
    (Lite-HRNet's agreement is checked in test_lite_hrnet.py)."""
    model = build()
    assert count_macs_fast(model, shape) == count_macs(model, shape)
