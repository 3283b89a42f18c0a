# Mask R-CNN on HRNetV2p-W32, COCO 2x: mmdet zoo box AP 42.5, mask AP 37.8.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W32 backbone + neck (_base_/hrnetv2p-w32.py).
_base_ = ['mmdet::hrnet/mask-rcnn_hrnetv2p-w32-2x_coco.py', './_base_/hrnetv2p-w32.py']
model = _base_.pop('backbone_neck')
