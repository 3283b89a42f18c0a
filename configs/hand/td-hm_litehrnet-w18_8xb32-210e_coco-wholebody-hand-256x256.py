# Lite-HRNet-18 top-down heatmap, COCO-WholeBody-Hand 256x256:
# mmpose zoo PCK@0.2 0.795, AUC 0.830, EPE 4.77.
# mmpose's own zoo config with hrnet_mm's LiteHRNet in place of mmpose's (same weights, numbers).
_base_ = ('mmpose::hand_2d_keypoint/topdown_heatmap/coco_wholebody_hand/'
          'td-hm_litehrnet-w18_8xb32-210e_coco-wholebody-hand-256x256.py')
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='hrnet_mm.LiteHRNet', arch='lite18', out_streams='first'))
