# HRNetV2p-W32 backbone + neck of mmdet's HRNet detectors, hrnet_mm's way: HRNet with mmdet's
# HRNet behaviour written out (nearest upsampling in the exchange units, frozen BN statistics)
# and HRNetV2pNeck in place of HRFPN (same arguments and defaults, same layers and numbers).
# A variant lists this file after its zoo file in `_base_` and takes the block with
# `model = _base_.pop('backbone_neck')`; configs/det/README.md says why it is popped.
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
backbone_neck = dict(
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w32',
        norm_eval=True,
        upsample=dict(mode='nearest'),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w32')),
    neck=dict(
        _delete_=True,
        type='hrnet_mm.HRNetV2pNeck',
        in_channels=[32, 64, 128, 256],
        out_channels=256))
