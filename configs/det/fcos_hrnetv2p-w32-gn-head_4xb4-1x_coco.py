# FCOS (GN head) on HRNetV2p-W32, COCO 1x: mmdet zoo box AP 39.5.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W32 backbone + neck (_base_/hrnetv2p-w32.py).
# FCOS's HRFPN strides its 3x3 output convs by 2 (levels at strides 8 to 128).
_base_ = ['mmdet::hrnet/fcos_hrnetv2p-w32-gn-head_4xb4-1x_coco.py', './_base_/hrnetv2p-w32.py']
model = _base_.pop('backbone_neck')
model.neck.stride = 2
