"""Evaluate a checkpoint of any hrnet_mm config with mmengine's Runner (the config's test set).

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --show-dir vis --out preds.pkl
    python tools/test.py CONFIG CHECKPOINT --fast --dtype bf16     # optimised copy (docs/fast.md)
    bash tools/dist_test.sh CONFIG CHECKPOINT 2

Checkpoints the Runner wrote (with numpy and mmengine objects in their meta) load under torch's
``weights_only=True`` through :func:`hrnet_mm.utils.allow_mm_checkpoint_globals`.
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from hrnet_mm.apis import (add_common_args, build_runner, enable_visualization, load_config,
                           register_toolbox, set_work_dir, setup_launcher)
from hrnet_mm.apis.fast_mode import add_fast_args, apply_fast_args
from hrnet_mm.utils import allow_mm_checkpoint_globals


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint of an hrnet_mm config')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (local path or URL)')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='write pictures of the predictions here')
    parser.add_argument('--interval', type=int, default=1, help='draw every n-th sample')
    add_common_args(parser)
    add_fast_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    allow_mm_checkpoint_globals()
    cfg = load_config(args.config, args.cfg_options)
    scope = register_toolbox(cfg)
    set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        show_dir = osp.abspath(args.show_dir)
        enable_visualization(cfg, scope, show_dir, args.interval)
    apply_fast_args(cfg, args)  # --fast: FastInferenceHook (int8 calibrates on the test loader)
    setup_launcher(cfg, args.launcher)
    runner = build_runner(cfg)
    if args.out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    return runner.test()


if __name__ == '__main__':
    main()
