# Quickstart, not a zoo experiment: HRNet-W18-small (v1, 16 channels) learns the 12 people of the
# 4-image COCO sample from scratch in a few CPU minutes, and tools/quickstart.py evaluates it on
# them. `python tools/make_tiny_dataset.py work_dirs/quickstart` writes the data it reads.
# Everything else is the W32 COCO config: MSRA heatmaps, HeatmapHead, Adam, flip test, CocoMetric.
_base_ = './td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'

data_root = 'work_dirs/quickstart/data/coco/'
# DARK (unbiased) encoding and decoding: sub-pixel keypoints from the small 32x24 heatmaps
codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2, unbiased=True)

model = dict(
    backbone=dict(arch='w18_small_v1', init_cfg=None),  # from scratch: nothing to download
    head=dict(in_channels=16, decoder=codec))

# No augmentation: the point is to fit these 12 people, fast.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
# One "epoch" = the 12 people 10 times, in batches of 16 (the last one smaller).
train_dataloader = dict(
    _delete_=True,
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=10,
        dataset=dict(
            type='CocoDataset',
            data_root=data_root,
            data_mode='topdown',
            ann_file='annotations/person_keypoints_train2017.json',
            data_prefix=dict(img='train2017/'),
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        bbox_file=None,  # ground-truth person boxes
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=40, val_interval=40)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=40, eta_min=1e-5, by_epoch=True)
]
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=40, save_best=None))
custom_hooks = []  # SyncBuffersHook only matters for distributed runs
randomness = dict(seed=0)
