# Lite-HRNet-30 top-down heatmap, MPII 256x256: mmpose zoo PCKh@0.5 86.9.
# mmpose's own zoo config with hrnet_mm's LiteHRNet in place of mmpose's (same weights, numbers).
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
          'td-hm_litehrnet-30_8xb64-210e_mpii-256x256.py')
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.LiteHRNet', arch='lite30', out_streams='first'))
