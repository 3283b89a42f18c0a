# HRNetV2-W18 top-down heatmap with DARK, COCO-WholeBody-Hand 256x256:
# mmpose zoo PCK@0.2 0.814, AUC 0.840, EPE 4.37.
# mmpose's own zoo config with hrnet_mm's HRNet (all four streams) and HRNetV2Neck (the
# streams upsampled to 1/4 and concatenated) in place of mmpose's HRNet and
# FeatureMapProcessor(concat=True): same weights, same numbers.
_base_ = ('mmpose::hand_2d_keypoint/topdown_heatmap/coco_wholebody_hand/'
          'td-hm_hrnetv2-w18_dark-8xb32-210e_coco-wholebody-hand-256x256.py')
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w18',
        multiscale_output=True,
        upsample=dict(mode='bilinear', align_corners=False),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w18')),
    neck=dict(_delete_=True, type='hrnet_mm.HRNetV2Neck', in_channels=[18, 36, 72, 144]))
