# HRNetV2-W18 top-down heatmap with UDP, OneHand10K 256x256:
# mmpose zoo PCK@0.2 0.990, AUC 0.571, EPE 23.88.
# mmpose's own zoo config with hrnet_mm's HRNet (all four streams) and HRNetV2Neck (the
# streams upsampled to 1/4 and concatenated) in place of mmpose's HRNet and
# FeatureMapProcessor(concat=True): same weights, same numbers.
_base_ = ('mmpose::hand_2d_keypoint/topdown_heatmap/onehand10k/'
          'td-hm_hrnetv2-w18_udp-8xb64-210e_onehand10k-256x256.py')
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
