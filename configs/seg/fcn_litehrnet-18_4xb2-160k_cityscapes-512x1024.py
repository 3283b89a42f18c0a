# FCN on Lite-HRNet-18, Cityscapes 512x1024, 160k iterations. Paper (Lite-HRNet, Table 8):
# 73.8 mIoU on Cityscapes val; no public config or weights exist, so this is our recipe:
# mmseg's HRNetV2-W18 FCN recipe (data, schedule, optimizer, head) with Lite-HRNet-18
# returning all four streams of its iterative head (40, 40, 80, 160 channels), concatenated at
# 1/4 by HRNetV2Neck (320 channels) for the FCN head. Trained from scratch (no ImageNet
# Lite-HRNet weights are published), hence the longest zoo schedule, 160k.
_base_ = ['mmseg::hrnet/fcn_hr18_4xb2-160k_cityscapes-512x1024.py', './_base_/litehrnet-18.py']
model = _base_.pop('backbone_neck')
model.decode_head = dict(  # the head as wide as its input
    in_channels=sum(model.neck.in_channels), channels=sum(model.neck.in_channels), in_index=0,
    input_transform=None)
