# HRNet-W32 (V1: stream 0 only) top-down heatmap, MPII 256x256: mmpose zoo PCKh@0.5 90.0.
# mmpose's own zoo config with hrnet_mm's HRNet in place of mmpose's (same weights, same numbers).
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w32',
        multiscale_output=False,
        upsample=dict(mode='nearest'),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w32-36af842e.pth')))
