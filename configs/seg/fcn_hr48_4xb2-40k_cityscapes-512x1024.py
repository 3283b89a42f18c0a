# FCN on HRNetV2-W48, Cityscapes 512x1024, 40k iterations: mmseg zoo mIoU 78.48.
# mmseg's zoo config with hrnet_mm's HRNet (mmseg's bilinear exchange-unit upsampling). The
# FCNHead's 'resize_concat' input transform becomes hrnet_mm's HRNetV2Neck, so the head takes the
# 720 concatenated channels: the same layers and numbers as the zoo model.
_base_ = 'mmseg::hrnet/fcn_hr48_4xb2-40k_cityscapes-512x1024.py'
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
model = dict(
    pretrained=None,  # moved to backbone.init_cfg, as mmseg's HRNet does with it
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.HRNet',
        arch='w48',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        upsample=dict(mode='bilinear', align_corners=False, scale_first=True),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://msra/hrnetv2_w48')),
    neck=dict(type='hrnet_mm.HRNetV2Neck', in_channels=[48, 96, 192, 384]),
    decode_head=dict(in_channels=720, in_index=0, input_transform=None))
