# Cascade Mask R-CNN on HRNetV2p-W40, COCO 20e: mmdet zoo box AP 45.1, mask AP 39.3.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W40 backbone + neck (_base_/hrnetv2p-w40.py).
_base_ = ['mmdet::hrnet/cascade-mask-rcnn_hrnetv2p-w40-20e_coco.py', './_base_/hrnetv2p-w40.py']
model = _base_.pop('backbone_neck')
