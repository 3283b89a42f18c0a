# FCN on HRNetV2-W18-small (v2), Cityscapes 512x1024, 40k iterations: mmseg zoo mIoU 73.86.
# mmseg's zoo config with hrnet_mm's HRNetV2-W18-small (v2) backbone + HRNetV2Neck
# (_base_/hrnetv2-w18s.py);
# the FCN head takes the 270 concatenated channels: the same layers and numbers as the zoo model.
_base_ = ['mmseg::hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py', './_base_/hrnetv2-w18s.py']
model = _base_.pop('backbone_neck')
model.decode_head = dict(
    in_channels=sum(model.neck.in_channels), in_index=0, input_transform=None)
