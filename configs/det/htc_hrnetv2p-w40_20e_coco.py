# HTC on HRNetV2p-W40, COCO 20e: mmdet zoo box AP 46.4, mask AP 40.8.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W40 backbone + neck (_base_/hrnetv2p-w40.py).
_base_ = ['mmdet::hrnet/htc_hrnetv2p-w40_20e_coco.py', './_base_/hrnetv2p-w40.py']
model = _base_.pop('backbone_neck')
