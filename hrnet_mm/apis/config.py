"""Configs and toolboxes: read a config, register the toolbox its ``default_scope`` names.

Example:
    >>> from hrnet_mm.apis import CONFIGS_DIR, load_config, register_toolbox
    >>> cfg = load_config(f'{CONFIGS_DIR}/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    ...                   {'model.backbone.init_cfg': None})
    >>> register_toolbox(cfg)
    'mmpose'
"""
import importlib
import importlib.util
import os.path as osp
import sys
import types
from typing import Optional

from mmengine.config import Config

# The checkout that holds configs/ and tools/ (hrnet_mm is installed from it in editable mode).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS_DIR = osp.join(REPO_ROOT, 'configs')

# default_scope -> module whose register_all_modules() registers that toolbox
TOOLBOXES = {'mmpose': 'mmpose.utils', 'mmseg': 'mmseg.utils', 'mmdet': 'mmdet.utils'}


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read ``path`` and merge ``--cfg-options`` into it (list items by index: ``a.0.b=1``)."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def mmpose_without_torchvision() -> None:
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
        mmpose_without_torchvision()
    importlib.import_module(TOOLBOXES[scope]).register_all_modules(init_default_scope=False)
    import hrnet_mm  # noqa: F401  (registers the hrnet_mm scope; configs also custom_import it)
    return scope
