# Lite-HRNet-18 backbone + neck for the R-CNN detectors: our recipe, no zoo or paper config
# exists. Lite-HRNet returns all four streams of its iterative head (40, 40, 80, 160 channels,
# strides 4..32) and HRNetV2pNeck concatenates them at 1/4 and pools them into the 5 levels the
# R-CNN heads take, exactly as for HRNetV2p. No ImageNet Lite-HRNet weights are published, so
# it trains from scratch: BN statistics train (norm_eval=False) and are synchronised across
# GPUs (SyncBN; a single-process run reverts it to BN), mmpose's initialisation (init_cfg=None).
custom_imports = dict(imports=['hrnet_mm'], allow_failed_imports=False)
backbone_neck = dict(
    backbone=dict(
        _delete_=True,
        type='hrnet_mm.LiteHRNet',
        arch='lite18',
        out_streams='all',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False),
    neck=dict(
        _delete_=True,
        type='hrnet_mm.HRNetV2pNeck',
        in_channels=[40, 40, 80, 160],
        out_channels=256))
