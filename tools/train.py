"""Train any hrnet_mm config (pose, segmentation or detection) with mmengine's Runner.

The toolbox is the config's ``default_scope`` (``mmpose``, ``mmseg`` or ``mmdet``); its modules
are registered and the Runner does the rest, exactly as the toolbox's own ``tools/train.py``.

    python tools/train.py configs/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py
    python tools/train.py CONFIG --work-dir work_dirs/x --cfg-options train_cfg.max_epochs=1
    python tools/train.py CONFIG --resume              # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_1.pth
    bash tools/dist_train.sh CONFIG 2                  # torchrun; gloo on machines without CUDA

The helpers below are shared by ``tools/test.py``, ``tools/demo.py`` and ``tools/quickstart.py``.
"""
import argparse
import importlib
import importlib.util
import os
import os.path as osp
import sys
import types
from typing import Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from hrnet_mm.utils import allow_mm_checkpoint_globals  # noqa: E402

# default_scope -> module whose register_all_modules() registers that toolbox
TOOLBOXES = {'mmpose': 'mmpose.utils', 'mmseg': 'mmseg.utils', 'mmdet': 'mmdet.utils'}


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read ``path`` and merge ``--cfg-options`` into it (list items by index: ``a.0.b=1``)."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _mmpose_without_torchvision() -> None:
    """Let ``mmpose.visualization`` import when torchvision is not installed.

    mmpose 1.3.2 imports torchvision at the top of ``mmpose/visualization/simcc_vis.py`` (only
    its SimCC heatmap pictures use it), which ``PoseLocalVisualizer`` and so every mmpose Runner
    import. This environment has no torchvision (PyPI's wheels do not pair with CPU torch), so
    that one module is replaced by a stand-in whose visualizer says why it cannot be used.
    """
    name = 'mmpose.visualization.simcc_vis'
    if name in sys.modules or importlib.util.find_spec('torchvision') is not None:
        return

    class SimCCVisualizer:
        def __init__(self, *args, **kwargs):
            raise ImportError('mmpose\'s SimCCVisualizer needs torchvision, which is not '
                              'installed here')

    stub = types.ModuleType(name, 'stand-in for mmpose SimCC pictures (needs torchvision)')
    stub.SimCCVisualizer = SimCCVisualizer
    sys.modules[name] = stub


def register_toolbox(cfg: Config) -> str:
    """Register the modules of the config's toolbox and of hrnet_mm; return the scope name.

    Raises:
        ValueError: when ``default_scope`` is not one of mmpose, mmseg, mmdet.
    """
    scope = cfg.get('default_scope')
    if scope not in TOOLBOXES:
        raise ValueError(f'default_scope must be one of {sorted(TOOLBOXES)} (it picks the '
                         f'toolbox), got {scope!r} in {cfg.filename}')
    if scope == 'mmpose':
        _mmpose_without_torchvision()
    importlib.import_module(TOOLBOXES[scope]).register_all_modules(init_default_scope=False)
    import hrnet_mm  # noqa: F401  (registers the hrnet_mm scope; configs also custom_import it)
    return scope


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
