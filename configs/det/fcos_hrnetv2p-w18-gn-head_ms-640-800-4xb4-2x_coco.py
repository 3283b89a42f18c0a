# FCOS (GN head) on HRNetV2p-W18, COCO 2x, multi-scale 640-800: mmdet zoo box AP 38.3.
# mmdet's zoo config with hrnet_mm's HRNetV2p-W18 backbone + neck (_base_/hrnetv2p-w18.py).
# FCOS's HRFPN strides its 3x3 output convs by 2 (levels at strides 8 to 128).
_base_ = [
    'mmdet::hrnet/fcos_hrnetv2p-w18-gn-head_ms-640-800-4xb4-2x_coco.py',
    './_base_/hrnetv2p-w18.py']
model = _base_.pop('backbone_neck')
model.neck.stride = 2
