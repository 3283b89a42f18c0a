# PP-TinyPose 256x192 (PaddleDetection): a wider naive Lite-HRNet-18 (official fusion) with a 1x1
# head, trained on COCO + AI Challenger; PaddleDetection reports COCO val2017 AP 68.8.
# Real weights: convert the released deploy graph (docs/real_model.md), e.g.
#   python tools/convert_checkpoint.py ../shared/data/pp_tinypose/openvino_256x192/model.xml \
#       work_dirs/pp_tinypose_256x192.pth
# Everything else is mmpose's Lite-HRNet-18 COCO config: its HeatmapHead has the same 1x1 final
# layer, its data preprocessor the same ImageNet mean / std on RGB, its top-down affine the same
# box padding (1.25). Decoding is DARK (unbiased), as PaddleDetection's post-processing.
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_litehrnet-18_8xb64-210e_coco-256x192.py')
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2, unbiased=True)
model = dict(
    backbone=dict(
        _delete_=True, type='hrnet_mm.LiteHRNet', arch='wider_naive18', out_streams='first'),
    head=dict(in_channels=40, decoder=codec))
