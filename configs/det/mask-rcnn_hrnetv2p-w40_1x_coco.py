# Mask R-CNN on HRNetV2p-W40, COCO 1x: mmdet zoo box AP 42.1, mask AP 37.5.
# mmdet's zoo config with hrnet_mm's HRNet (mmdet's nearest upsampling, frozen BN statistics)
# and HRNetV2pNeck in place of HRFPN (same arguments, same numbers).
_base_ = 'mmdet::hrnet/mask-rcnn_hrnetv2p-w40_1x_coco.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w40',
        norm_eval=True,
        upsample=dict(mode='nearest'),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w40')),
    neck=dict(
        _delete_=True,
        type='hrnet_mm.HRNetV2pNeck',
        in_channels=[40, 80, 160, 320],
        out_channels=256))
