"""Toolbox glue the command lines in ``tools/`` are made of, for your own scripts too.

* :mod:`.config`: :func:`load_config`, :func:`register_toolbox` (the toolbox a config's
  ``default_scope`` names, plus hrnet_mm), the torchvision stand-in for mmpose;
* :mod:`.runner`: :func:`setup_launcher` (gloo on machines without CUDA), :func:`set_work_dir`,
  :func:`build_runner`, the train/test flags (:func:`add_common_args`,
  :func:`merge_train_args`, :func:`enable_visualization`);
* :mod:`.inference`: :func:`run_demo` (predict on an image and draw it);
* :mod:`.topdown`: :func:`run_topdown_demo`, :class:`TopdownPipeline` (person detector ->
  pose model -> skeletons, on images, folders and videos; ``tools/demo.py``), with
  :mod:`.detectors` (:func:`build_person_detector`: the PicoDet IR or an mmdet config;
  :func:`use_person_detector` for ``MMPoseInferencer``) and :mod:`.media` (readers, writers);
* :mod:`.deploy_graph`: :func:`deploy_graph_pose_model`, :class:`DeployGraphHook` (a deploy
  graph, e.g. PP-TinyPose's OpenVINO IR, tested through the same mm pipeline);
* :mod:`.tiny_data`: :func:`write_tiny_datasets` (4-image COCO / Cityscapes sets from the real
  sample), :func:`person_boxes`, :func:`point_data_at`.

Example::

    from hrnet_mm.apis import build_runner, load_config, register_toolbox
    cfg = load_config('configs/seg/fcn_hr18_4xb2-40k_cityscapes-512x1024.py',
                      {'train_cfg.max_iters': 10})
    register_toolbox(cfg)
    cfg.work_dir = 'work_dirs/try'
    build_runner(cfg).train()

Layering: this package may import :mod:`hrnet_mm.models`, :mod:`hrnet_mm.fast`,
:mod:`hrnet_mm.export` and :mod:`hrnet_mm.checkpoint`; none of those imports it
(``docs/design.md``).
"""
from .config import (CONFIGS_DIR, REPO_ROOT, TOOLBOXES, load_config, mmpose_without_torchvision,
                     register_toolbox)
from .deploy_graph import DeployGraphHook, deploy_graph_pose_model
from .detectors import build_person_detector, use_person_detector
from .fast_mode import (FastInferenceHook, FastModeWarning, calibration_inputs,
                        optimize_inferencer, optimize_mm_model)
from .inference import run_demo
from .runner import (add_common_args, build_runner, enable_visualization, merge_train_args,
                     set_work_dir, setup_launcher)
from .tiny_data import DEFAULT_SOURCE, person_boxes, point_data_at, write_tiny_datasets
from .topdown import TopdownPipeline, run_topdown_demo

__all__ = [
    'CONFIGS_DIR', 'DEFAULT_SOURCE', 'REPO_ROOT', 'TOOLBOXES', 'add_common_args', 'build_runner',
    'enable_visualization', 'load_config', 'merge_train_args', 'mmpose_without_torchvision',
    'person_boxes', 'point_data_at', 'register_toolbox', 'run_demo', 'set_work_dir',
    'setup_launcher', 'write_tiny_datasets',
    'DeployGraphHook', 'deploy_graph_pose_model', 'FastInferenceHook', 'FastModeWarning',
    'calibration_inputs', 'optimize_inferencer', 'optimize_mm_model',
    'TopdownPipeline', 'build_person_detector', 'run_topdown_demo', 'use_person_detector'
]
