# Learning check, not a zoo experiment: FCN on HRNetV2-W18-small (v1, 16 channels) learns the
# person masks of the 4-image COCO sample from scratch in a few CPU minutes. The data is the
# Cityscapes-layout copy that `python tools/make_tiny_dataset.py work_dirs/quickstart` writes
# (person = trainId 11, everything else = 0), so mIoU is the person/background mIoU.
# Everything else is the W18-small Cityscapes config: FCN head on the concatenated streams,
# cross-entropy, SGD with the poly schedule, whole-image test.
_base_ = './fcn_hr18s_4xb2-40k_cityscapes-512x1024.py'

data_root = 'work_dirs/quickstart/data/cityscapes/'
crop_size = (224, 320)
model = dict(
    # test inputs padded to a multiple of 32 like the training ones (padded to crop_size)
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=32)),
    backbone=dict(arch='w18_small_v1', init_cfg=None),  # from scratch: nothing to download
    neck=dict(in_channels=[16, 32, 64, 128]),
    decode_head=dict(in_channels=240, channels=240))

# No augmentation: the point is to fit these 4 images, fast.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(320, 224), keep_ratio=True),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 224), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=150, val_interval=150)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=150, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=150),
    visualization=dict(draw=False))
randomness = dict(seed=0)
