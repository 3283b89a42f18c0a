# Faster R-CNN on HRNetV2p-W32, COCO 1x: mmdet zoo box AP 40.2.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W32 backbone + neck (_base_/hrnetv2p-w32.py).
_base_ = ['mmdet::hrnet/faster-rcnn_hrnetv2p-w32-1x_coco.py', './_base_/hrnetv2p-w32.py']
model = _base_.pop('backbone_neck')
