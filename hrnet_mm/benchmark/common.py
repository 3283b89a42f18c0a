"""What every benchmark module shares: where things are, the input normalisation, progress."""
import os.path as osp
import time

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHARED_DATA = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data')
COCO_SAMPLE = osp.join(SHARED_DATA, 'coco_sample')
CITYSCAPES_SAMPLE = osp.join(SHARED_DATA, 'cityscapes_sample')
CACHE_DIR = osp.join(REPO_ROOT, 'work_dirs', 'benchmark')  # fitted models (full runs)
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def log(msg: str) -> None:
    """Print a progress line (``[benchmark HH:MM:SS] msg``), flushed at once."""
    print(f'[benchmark {time.strftime("%H:%M:%S")}] {msg}', flush=True)
