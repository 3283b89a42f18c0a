# Lite-HRNet-18 backbone + HRNetV2Neck for segmentation: our recipe, no zoo config exists.
# Lite-HRNet returns all four streams of its iterative head (40, 40, 80, 160 channels) and
# HRNetV2Neck concatenates them at 1/4 (320 channels). No ImageNet Lite-HRNet weights are
# published: mmpose's initialisation, trained from scratch (SyncBN, as mmseg's HRNet).
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
backbone_neck = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.LiteHRNet',
        arch='lite18',
        out_streams='all',
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    neck=dict(type='hrnet_mm.HRNetV2Neck', in_channels=[40, 40, 80, 160]))
