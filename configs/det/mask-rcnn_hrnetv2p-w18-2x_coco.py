# Mask R-CNN on HRNetV2p-W18, COCO 2x: mmdet zoo box AP 39.8, mask AP 36.0.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W18 backbone + neck (_base_/hrnetv2p-w18.py).
_base_ = ['mmdet::hrnet/mask-rcnn_hrnetv2p-w18-2x_coco.py', './_base_/hrnetv2p-w18.py']
model = _base_.pop('backbone_neck')
