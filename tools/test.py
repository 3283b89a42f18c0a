"""Evaluate a checkpoint of any hrnet_mm config with mmengine's Runner (the config's test set).

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --show-dir vis --out preds.pkl
    python tools/test.py CONFIG CHECKPOINT --fast --dtype bf16     # optimised copy (docs/fast.md)
    python tools/test.py CONFIG --deploy-graph model.xml         # an OpenVINO IR in its place
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
from hrnet_mm.apis.checkpoints import resolve_checkpoint
from hrnet_mm.apis.fast_mode import add_fast_args, apply_fast_args
from hrnet_mm.utils import allow_mm_checkpoint_globals


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint of an hrnet_mm config')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (local path or URL); not with --deploy-graph')
    parser.add_argument('--deploy-graph', metavar='XML',
                        help='pose: test this OpenVINO IR (e.g. PP-TinyPose\'s model.xml) in '
                        'place of the config\'s network, through the same pipeline and metric')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='write pictures of the predictions here')
    parser.add_argument('--interval', type=int, default=1, help='draw every n-th sample')
    add_common_args(parser)
    add_fast_args(parser)
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.deploy_graph is None):
        parser.error('give a CHECKPOINT or --deploy-graph XML (one of the two)')
    if args.deploy_graph and args.fast:
        parser.error('--fast optimises the config\'s network; --deploy-graph replaces it')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    allow_mm_checkpoint_globals()
    cfg = load_config(args.config, args.cfg_options)
    scope = register_toolbox(cfg)
    set_work_dir(cfg, args.config, args.work_dir)
    try:  # a missing file or an unreachable URL fails here, before anything is built
        cfg.load_from = args.checkpoint and resolve_checkpoint(args.checkpoint)
    except (FileNotFoundError, RuntimeError) as e:
        raise SystemExit(f'error: {e}') from None
    cfg.resume = False
    if args.deploy_graph:
        if not osp.isfile(args.deploy_graph):
            raise SystemExit(f'--deploy-graph: {args.deploy_graph} not found')
        cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [
            dict(type='hrnet_mm.DeployGraphHook', xml=args.deploy_graph)]
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
