# Mask R-CNN on HRNetV2p-W40, COCO 1x: mmdet zoo box AP 42.1, mask AP 37.5.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W40 backbone + neck (_base_/hrnetv2p-w40.py).
_base_ = ['mmdet::hrnet/mask-rcnn_hrnetv2p-w40_1x_coco.py', './_base_/hrnetv2p-w40.py']
model = _base_.pop('backbone_neck')
