# HRNet-W48 (V1) top-down heatmap, COCO-WholeBody 256x192:
# mmpose zoo whole-body AP 0.579 (body 0.701).
# mmpose's own zoo config with hrnet_mm's HRNet in place of mmpose's (same weights, same numbers).
_base_ = ('mmpose::wholebody_2d_keypoint/topdown_heatmap/coco-wholebody/'
          'td-hm_hrnet-w48_8xb32-210e_coco-wholebody-256x192.py')
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
