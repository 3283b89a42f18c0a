# Mask R-CNN on Lite-HRNet-30, COCO 2x: our recipe, no zoo run or published number exists.
# mmdet's HRNetV2p-W18 Mask R-CNN 2x recipe (data, heads, schedule, optimizer) with
# Lite-HRNet-30's four streams into HRNetV2pNeck (_base_/litehrnet-30.py), trained from scratch.
_base_ = ['mmdet::hrnet/mask-rcnn_hrnetv2p-w18-2x_coco.py', './_base_/litehrnet-30.py']
model = _base_.pop('backbone_neck')
