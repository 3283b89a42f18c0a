# HRNetV2-W18 backbone + HRNetV2Neck of mmseg's HRNet segmentors, hrnet_mm's way: HRNet with
# mmseg's HRNet behaviour written out (bilinear exchange-unit upsampling: by the stride ratio,
# then to the exact size; SyncBN) and HRNetV2Neck, the heads' 'resize_concat' input transform
# (every stream resized to 1/4 and concatenated, 270 channels) as a module of its own.
# A variant lists this file after its zoo file in `_base_`, takes the block with
# `model = _base_.pop('backbone_neck')` and points its heads at the neck's one output
# (configs/det/README.md says why the block is popped).
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
backbone_neck = dict(
    pretrained=None,  # moved to backbone.init_cfg, as mmseg's HRNet does with it
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w18',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        upsample=dict(mode='bilinear', align_corners=False, scale_first=True),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18')),
    neck=dict(type='hrnet_mm.HRNetV2Neck', in_channels=[18, 36, 72, 144]))
