# HTC on HRNetV2p-W18, COCO 20e: mmdet zoo box AP 42.8, mask AP 37.9.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W18 backbone + neck (_base_/hrnetv2p-w18.py).
_base_ = ['mmdet::hrnet/htc_hrnetv2p-w18_20e_coco.py', './_base_/hrnetv2p-w18.py']
model = _base_.pop('backbone_neck')
