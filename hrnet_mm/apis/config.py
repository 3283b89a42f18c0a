"""Configs and toolboxes: find and read a config, register the toolbox its ``default_scope``
names.

Example:
    >>> from hrnet_mm.apis import load_config, register_toolbox
    >>> cfg = load_config('td-hm_hrnet-w32_8xb64-210e_coco-256x192',  # or a path
    ...                   {'model.backbone.init_cfg': None})
    >>> register_toolbox(cfg)
    'mmpose'
"""
import glob
import importlib
import importlib.util
import os.path as osp
import sys
import types
from typing import Optional

from mmengine.config import Config

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The checkout that holds configs/ and tools/ (hrnet_mm is installed from it in editable mode);
# for an installed wheel, the folder that holds the package.
REPO_ROOT = osp.dirname(PACKAGE_DIR)


def _configs_dir() -> str:
    """The checkout's ``configs/`` (an editable install, or hrnet_mm on ``PYTHONPATH``), else the
    copy an installed package carries in ``hrnet_mm/.mim/configs`` (setup.py puts it there, as
    the OpenMMLab toolboxes do, for ``mim`` and ``mmengine.hub.get_config('hrnet_mm::...')``)."""
    if osp.isfile(osp.join(REPO_ROOT, 'model-index.yml')) and \
            osp.isdir(osp.join(REPO_ROOT, 'configs')):
        return osp.join(REPO_ROOT, 'configs')
    return osp.join(PACKAGE_DIR, '.mim', 'configs')


CONFIGS_DIR = _configs_dir()


def config_path(name: str) -> str:
    """The file of a config given by path or by name.

    Accepts a path to a file; a path relative to :data:`CONFIGS_DIR` (``'pose/x.py'``, also as
    ``'hrnet_mm::pose/x.py'``); or a bare config name with or without ``.py``
    (``'td-hm_hrnet-w32_8xb64-210e_coco-256x192'``), looked up in every task folder.

    Raises:
        FileNotFoundError: naming what was searched.
    """
    if osp.isfile(name):
        return name
    rel = name.split('::', 1)[1] if name.startswith('hrnet_mm::') else name
    rel = rel if rel.endswith('.py') else f'{rel}.py'
    candidate = osp.join(CONFIGS_DIR, rel)
    if osp.isfile(candidate):
        return candidate
    if osp.basename(rel) == rel:
        found = sorted(glob.glob(osp.join(CONFIGS_DIR, '*', rel)))
        if len(found) == 1:
            return found[0]
    raise FileNotFoundError(f'config {name!r} is neither a file nor a config of hrnet_mm (looked '
                            f'for {rel} in {CONFIGS_DIR} and its task folders)')

# default_scope -> module whose register_all_modules() registers that toolbox
TOOLBOXES = {'mmpose': 'mmpose.utils', 'mmseg': 'mmseg.utils', 'mmdet': 'mmdet.utils'}


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read the config ``path`` (a file, or a name :func:`config_path` finds) and merge
    ``--cfg-options`` into it (list items by index: ``a.0.b=1``)."""
    cfg = Config.fromfile(config_path(path))
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
