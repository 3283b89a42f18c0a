# FCN on HRNetV2-W18-small (v2), PASCAL-Context 59 classes 480x480, 80k iterations: no zoo run
# (mmseg ships the config without results).
# mmseg's zoo config with hrnet_mm's HRNetV2-W18-small (v2) backbone + HRNetV2Neck
# (_base_/hrnetv2-w18s.py).
_base_ = [
    'mmseg::hrnet/fcn_hr18s_4xb4-80k_pascal-context-59-480x480.py',
    './_base_/hrnetv2-w18s.py']
model = _base_.pop('backbone_neck')
model.decode_head = dict(
    in_channels=sum(model.neck.in_channels), in_index=0, input_transform=None)
