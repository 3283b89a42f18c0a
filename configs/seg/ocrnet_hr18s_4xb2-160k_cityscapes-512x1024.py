# OCRNet (HRNet + OCR) on HRNetV2-W18-small (v2), Cityscapes 512x1024, 160k iterations: mmseg zoo
# mIoU 78.45.
# mmseg's zoo config with hrnet_mm's HRNetV2-W18-small (v2) backbone + HRNetV2Neck
# (_base_/hrnetv2-w18s.py).
_base_ = [
    'mmseg::ocrnet/ocrnet_hr18s_4xb2-160k_cityscapes-512x1024.py',
    './_base_/hrnetv2-w18s.py']
model = _base_.pop('backbone_neck')
# Both heads (the auxiliary FCN and the OCR head) take the neck's concatenated streams.
model.decode_head = [
    dict(head, in_channels=sum(model.neck.in_channels), in_index=0,
         input_transform=None)
    for head in _base_.model.decode_head]
