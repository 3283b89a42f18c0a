# Faster R-CNN on HRNetV2p-W32, COCO 1x: mmdet zoo box AP 40.2.
# mmdet's zoo config with hrnet_mm's HRNet (mmdet's nearest upsampling, frozen BN statistics)
# and HRNetV2pNeck in place of HRFPN (same arguments, same numbers).
_base_ = 'mmdet::hrnet/faster-rcnn_hrnetv2p-w32-1x_coco.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
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
