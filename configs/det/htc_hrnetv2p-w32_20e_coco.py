# HTC on HRNetV2p-W32, COCO 20e: mmdet zoo box AP 45.4, mask AP 39.9.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W32 backbone + neck (_base_/hrnetv2p-w32.py).
_base_ = ['mmdet::hrnet/htc_hrnetv2p-w32_20e_coco.py', './_base_/hrnetv2p-w32.py']
model = _base_.pop('backbone_neck')
