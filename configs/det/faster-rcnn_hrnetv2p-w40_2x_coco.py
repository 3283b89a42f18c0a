# Faster R-CNN on HRNetV2p-W40, COCO 2x: mmdet zoo box AP 42.1.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W40 backbone + neck (_base_/hrnetv2p-w40.py).
_base_ = ['mmdet::hrnet/faster-rcnn_hrnetv2p-w40_2x_coco.py', './_base_/hrnetv2p-w40.py']
model = _base_.pop('backbone_neck')
