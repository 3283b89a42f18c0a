"""mmengine Runner glue shared by the tools: launcher, work dir, the Runner, tool flags.

Example (what ``tools/train.py CONFIG`` does)::

    from hrnet_mm.apis import build_runner, load_config, register_toolbox, setup_launcher
    from hrnet_mm.utils import allow_mm_checkpoint_globals

    allow_mm_checkpoint_globals()
    cfg = load_config('configs/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py')
    register_toolbox(cfg)
    cfg.work_dir = 'work_dirs/w32'
    setup_launcher(cfg, 'none')
    build_runner(cfg).train()
"""
import argparse
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher``; on a machine without CUDA, start torch.distributed with gloo.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and wraps the model with
    ``device_ids=[local_rank]``, both of which fail on CPU. Initialising the process group here
    makes the Runner skip ``init_dist``; ``device_ids=None`` is what DDP wants for CPU modules.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ValueError(f'on a machine without CUDA only --launcher pytorch (torchrun) is '
                         f'supported, got {launcher!r}')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def set_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    """work_dir priority: command line > ``work_dir`` in the config > work_dirs/<config name>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def build_runner(cfg: Config):
    """The Runner of ``cfg`` (a custom one when the config names ``runner_type``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The flags train.py and test.py share."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (nested keys with dots, list items by '
        'index: train_dataloader.dataset.pipeline.5.input_size="(96,128)")')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (tools/dist_*.sh use pytorch)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def merge_train_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply --work-dir, --amp, --auto-scale-lr and --resume to ``cfg``."""
    set_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        from mmengine.device import is_cuda_available, is_npu_available
        if not (is_cuda_available() or is_npu_available()):
            raise SystemExit('--amp: mmengine\'s AmpOptimWrapper needs a CUDA or NPU device; '
                             'none is available here')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume


def enable_visualization(cfg, scope: str, show_dir: str, interval: int = 1) -> None:
    """Turn on the toolbox's visualization hook, writing pictures under ``show_dir``.

    The three hooks spell it differently: mmpose ``enable``/``out_dir``, mmseg ``draw`` plus the
    visualizer's ``save_dir``, mmdet ``draw``/``test_out_dir``.
    """
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise SystemExit(f'--show-dir: {cfg.filename} has no default_hooks.visualization')
    hook['interval'] = interval
    if scope == 'mmpose':
        hook.update(enable=True, out_dir=show_dir)
    elif scope == 'mmseg':
        hook['draw'] = True
        cfg.visualizer['save_dir'] = show_dir
    else:
        hook.update(draw=True, test_out_dir=show_dir)
