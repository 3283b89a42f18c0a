"""Params and GFLOPs of every config: one definition, one generator, every page from it.

**GFLOPs** here (and in every config README, metafile and ``docs/models.md``) means the
multiply-adds of the convolution and linear layers, divided by 2^30: the unit of the HRNet
papers' tables (HRNet-W32 pose at 256x192: 7.12). Norms, activations, pooling, resizing and
element-wise adds are not counted. :func:`hrnet_mm.analysis.count_macs_fast` counts them (equal
to :func:`hrnet_mm.analysis.count_macs`, tested), on a meta-device copy: no arithmetic, so
every config is measured in seconds. **Params** are all parameters of the model built from the
config (no weights loaded).

What is measured, per task folder (:func:`measured_input`):

* pose, face, hand, wholebody: the whole top-down model (backbone + head) at the codec's
  input size;
* seg: the whole segmentor (backbone, neck, decode heads) at 1024x2048 for Cityscapes and the
  coco-sample config, at the crop size (480x480) for Pascal Context;
* det: backbone + neck at 800x1344 (1333x800 padded to 32); the RoI heads depend on the
  proposals.

``python tools/zoo_figures.py`` rewrites the params / GFLOPs cells of the configs' READMEs and
the ``Parameters`` / ``FLOPs`` of the metafiles from these counts (``--check``: only report
differences); ``tests/test_zoo_figures.py`` checks that they agree.
"""
import glob
import importlib
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from ..analysis import count_macs_fast, count_params
from .config import CONFIGS_DIR, load_config, register_toolbox

POSE_TASKS = ('pose', 'face', 'hand', 'wholebody')
TASKS = POSE_TASKS + ('seg', 'det')
DET_INPUT = (800, 1344)
CITYSCAPES_INPUT = (1024, 2048)


@dataclass(frozen=True)
class Figures:
    """``params`` and conv + linear ``macs`` of a config's model at ``input_hw``."""
    params: int
    macs: int
    input_hw: Tuple[int, int]

    @property
    def gflops(self) -> float:
        """Multiply-adds / 2^30."""
        return self.macs / 2 ** 30

    def params_text(self) -> str:
        return f'{self.params / 1e6:.2f}M'

    def gflops_text(self) -> str:
        return f'{self.gflops:.2f}'


def task_of(config_file: str) -> str:
    return osp.basename(osp.dirname(osp.abspath(config_file)))


def measured_input(cfg, task: str) -> Tuple[int, int]:
    """The (height, width) a config is measured at (see the module docstring)."""
    if task in POSE_TASKS:
        width, height = cfg.codec['input_size']
        return int(height), int(width)
    if task == 'det':
        return DET_INPUT
    if task == 'seg':
        if 'pascal' in cfg.get('dataset_type', '').lower():
            height, width = cfg.crop_size
            return int(height), int(width)
        return CITYSCAPES_INPUT
    raise ValueError(f'task must be one of {TASKS}, got {task!r}')


class _TensorPath(nn.Module):
    """The tensor path of an mm model (``_forward``: no data samples), or a detector's
    backbone and neck only (``detector=True``)."""

    def __init__(self, model: nn.Module, detector: bool = False):
        super().__init__()
        self.model, self.detector = model, detector

    def forward(self, x):
        if self.detector:
            return self.model.neck(self.model.backbone(x))
        return self.model._forward(x)


def build_model(config_file: str, device: str = 'meta'):
    """The config's model, built through its toolbox's registry without weights (on the meta
    device by default: shapes only, nothing allocated); and the config."""
    from mmengine.registry import DefaultScope
    cfg = load_config(config_file)
    scope = register_toolbox(cfg)
    models = importlib.import_module(f'{scope}.registry').MODELS
    model_cfg = cfg.model.copy()
    if 'init_cfg' in model_cfg.get('backbone', {}):
        model_cfg.backbone.init_cfg = None
    model_cfg.pop('pretrained', None)
    with DefaultScope.overwrite_default_scope(scope), torch.device(device):
        model = models.build(model_cfg).eval()
    return model, cfg


def measure(config_file: str) -> Figures:
    """Params and GFLOPs of one config (see the module docstring for what is measured)."""
    model, cfg = build_model(config_file)
    task = task_of(config_file)
    height, width = measured_input(cfg, task)
    counted = _TensorPath(model, detector=task == 'det')
    with torch.no_grad():
        macs = count_macs_fast(counted, (1, 3, height, width))
    return Figures(count_params(model), macs, (height, width))


def config_files(task: Optional[str] = None) -> List[str]:
    """Every config of a task folder (or of all), sorted; ``_base_/`` excluded."""
    tasks = [task] if task else TASKS
    return sorted(f for t in tasks for f in glob.glob(osp.join(CONFIGS_DIR, t, '*.py')))


def measure_all(task: Optional[str] = None) -> Dict[str, Figures]:
    """``{config name: Figures}`` for every config of ``task`` (or of all task folders)."""
    return {osp.splitext(osp.basename(f))[0]: measure(f) for f in config_files(task)}


# ------------------------------------------------------------------------------ the pages

_ROW = re.compile(r'^\| \[([\w.-]+)\]\(([\w.-]+\.py)\) \|')


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip('|').split('|')]


def update_readme(text: str, figures: Dict[str, Figures]) -> str:
    """``text`` with the params and GFLOPs cells of every config row set from ``figures``
    (the columns whose header is ``params`` and the one whose header has ``GFLOPs``)."""
    out, header = [], None
    for line in text.splitlines(keepends=True):
        if line.startswith('| config |'):
            header = _cells(line)
        m = _ROW.match(line)
        if header and m and m.group(1) in figures:
            cells = _cells(line)
            fig = figures[m.group(1)]
            for i, name in enumerate(header):
                if name == 'params':
                    cells[i] = fig.params_text()
                elif 'GFLOPs' in name and 'published' not in name:
                    cells[i] = fig.gflops_text()
            line = '| ' + ' | '.join(cells) + ' |\n'
        out.append(line)
    return ''.join(out)


def update_metafile(text: str, figures: Dict[str, Figures]) -> str:
    """``text`` of a metafile with ``Parameters`` / ``FLOPs`` of each model set from
    ``figures``: replaced where they are, inserted after ``Metadata:`` where missing; other
    lines unchanged."""
    blocks = re.split(r'(?m)^(?=- Name: )', text)
    out = [blocks[0]]
    for block in blocks[1:]:
        m = re.search(r'(?m)^  Config: configs/\w+/([\w.-]+)\.py\s*$', block)
        fig = figures.get(m.group(1)) if m else None
        if fig is not None:
            values = {'Parameters': str(fig.params), 'FLOPs': fig.gflops_text()}
            lines = block.splitlines(keepends=True)
            for key, value in values.items():
                at = [i for i, ln in enumerate(lines) if ln.startswith(f'    {key}: ')]
                if at:
                    lines[at[0]] = f'    {key}: {value}\n'
                else:  # Parameters right after "Metadata:", FLOPs right after Parameters
                    after = '    Parameters: ' if key == 'FLOPs' else '  Metadata:'
                    where = next(i for i, ln in enumerate(lines) if ln.startswith(after))
                    lines.insert(where + 1, f'    {key}: {value}\n')
            block = ''.join(lines)
        out.append(block)
    return ''.join(out)


def page_updates(figures: Dict[str, Figures]) -> Dict[str, Tuple[str, str]]:
    """``{path: (current text, text from figures)}`` of every README and metafile."""
    pages = {}
    for task in TASKS:
        for name, update in (('README.md', update_readme), ('metafile.yml', update_metafile)):
            path = osp.join(CONFIGS_DIR, task, name)
            if osp.isfile(path):
                with open(path) as f:
                    text = f.read()
                pages[path] = (text, update(text, figures))
    return pages


__all__ = ['Figures', 'TASKS', 'build_model', 'config_files', 'measure', 'measure_all',
           'measured_input', 'page_updates', 'update_metafile', 'update_readme']
