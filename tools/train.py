"""Train any hrnet_mm config (pose, segmentation or detection) with mmengine's Runner.

The toolbox is the config's ``default_scope`` (``mmpose``, ``mmseg`` or ``mmdet``); its modules
are registered and the Runner does the rest, exactly as the toolbox's own ``tools/train.py``.

    python tools/train.py configs/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py
    python tools/train.py CONFIG --work-dir work_dirs/x --cfg-options train_cfg.max_epochs=1
    python tools/train.py CONFIG --resume              # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_1.pth
    bash tools/dist_train.sh CONFIG 2                  # torchrun; gloo on machines without CUDA

The logic lives in :mod:`hrnet_mm.apis`; this file is its command line.
"""
import argparse
import os
from typing import Optional, Sequence

from hrnet_mm.apis import (add_common_args, build_runner, load_config, merge_train_args,
                           register_toolbox, setup_launcher)
from hrnet_mm.utils import allow_mm_checkpoint_globals


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an hrnet_mm config with mmengine')
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from this checkpoint, or (flag alone) from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (AmpOptimWrapper; needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual total batch size')
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    allow_mm_checkpoint_globals()
    cfg = load_config(args.config, args.cfg_options)
    register_toolbox(cfg)
    merge_train_args(cfg, args)
    setup_launcher(cfg, args.launcher)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
