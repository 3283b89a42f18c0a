# HRNet-W48 (V1: stream 0 only) top-down heatmap, MPII 256x256: mmpose zoo PCKh@0.5 90.1.
# mmpose's own zoo config with hrnet_mm's HRNet in place of mmpose's (same weights, same numbers).
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_hrnet-w48_8xb64-210e_mpii-256x256.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w48',
        multiscale_output=False,
        upsample=dict(mode='nearest'),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w48-8ef0771d.pth')))
