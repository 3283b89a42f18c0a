# FCN on HRNetV2-W48, PASCAL-Context 59 classes 480x480, 80k iterations: mmseg zoo mIoU 51.12.
# mmseg's zoo config with hrnet_mm's HRNetV2-W48 backbone + HRNetV2Neck (_base_/hrnetv2-w48.py).
_base_ = ['mmseg::hrnet/fcn_hr48_4xb4-80k_pascal-context-59-480x480.py', './_base_/hrnetv2-w48.py']
model = _base_.pop('backbone_neck')
model.decode_head = dict(
    in_channels=sum(model.neck.in_channels), in_index=0, input_transform=None)
