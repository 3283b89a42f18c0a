# Cascade Mask R-CNN on HRNetV2p-W32, COCO 20e: mmdet zoo box AP 44.3, mask AP 38.6.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W32 backbone + neck (_base_/hrnetv2p-w32.py).
_base_ = ['mmdet::hrnet/cascade-mask-rcnn_hrnetv2p-w32_20e_coco.py', './_base_/hrnetv2p-w32.py']
model = _base_.pop('backbone_neck')
