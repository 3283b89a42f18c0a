# Faster R-CNN on HRNetV2p-W18, COCO 1x: mmdet zoo box AP 36.9.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W18 backbone + neck (_base_/hrnetv2p-w18.py).
_base_ = ['mmdet::hrnet/faster-rcnn_hrnetv2p-w18-1x_coco.py', './_base_/hrnetv2p-w18.py']
model = _base_.pop('backbone_neck')
