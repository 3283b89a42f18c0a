# Lite-HRNet-30 top-down heatmap, COCO 256x192: mmpose zoo AP 67.6.
# mmpose's own zoo config with hrnet_mm's LiteHRNet in place of mmpose's (same weights, numbers).
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_litehrnet-30_8xb64-210e_coco-256x192.py')
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.LiteHRNet', arch='lite30', out_streams='first'))
