"""Evaluate a deploy graph (the OpenVINO IR a PaddleDetection user deploys) through the very mm
pipeline our model runs in: same data, preprocessing, flip test, decoding and metric, only the
network swapped. This is how the converted PP-TinyPose checkpoint is shown to give the IR's own
accuracy, and how the benchmark and the demo time the IR as a peer.

* ``tools/test.py CONFIG --deploy-graph model.xml``: the test loop on the IR
  (:class:`DeployGraphHook`);
* :func:`deploy_graph_pose_model`: a copy of an mmpose top-down heatmap model whose network is
  the IR.
"""
import copy
from typing import Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..fast.deploy_graph import DeployGraphModule
from .fast_mode import HOOKS


class _GraphBackbone(nn.Module):
    """Backbone stand-in: the IR's heatmaps as the one feature map mmpose's head reads."""

    def __init__(self, graph: DeployGraphModule):
        super().__init__()
        self.graph = graph

    def forward(self, x):
        return (self.graph(x),)


def deploy_graph_pose_model(model: nn.Module, xml: str, dtype: str = 'fp32',
                            threads: Optional[int] = None) -> nn.Module:
    """A copy of an mmpose top-down heatmap model that runs the IR ``xml`` for its network.

    The backbone becomes the IR (input: the data preprocessor's output; output: heatmaps) and
    the ``HeatmapHead``'s layers pass the heatmaps through, so flip test and decoding stay
    mmpose's. ``model`` is not changed.

    Args:
        model (nn.Module): An mmpose ``TopdownPoseEstimator`` with a ``HeatmapHead``.
        xml (str): The IR (``.bin`` beside it), e.g. PP-TinyPose's ``model.xml``.
        dtype (str): ``'fp32'`` or ``'bf16'``.
        threads (int, optional): OpenVINO inference threads (default torch's thread count).

    Raises:
        ValueError: for a model without a backbone or a heatmap head.
    """
    model = getattr(model, 'module', model)
    head = getattr(model, 'head', None)
    if not hasattr(model, 'backbone') or not hasattr(head, 'final_layer'):
        raise ValueError(f'deploy_graph_pose_model: {type(model).__name__} is not a top-down '
                         f'heatmap model (needs .backbone and .head.final_layer)')
    graph = DeployGraphModule(xml, dtype=dtype, threads=threads)
    copied = copy.deepcopy(model, memo={id(model.backbone): None})
    copied.backbone = _GraphBackbone(graph)
    if getattr(copied, 'neck', None) is not None:
        copied.neck = None
    for name in ('deconv_layers', 'conv_layers', 'final_layer'):
        if hasattr(copied.head, name):
            setattr(copied.head, name, nn.Identity())
    return copied.eval()


@HOOKS.register_module()
class DeployGraphHook(Hook):
    """Test on a deploy graph instead of the config's network (``tools/test.py
    --deploy-graph``): the runner's model is swapped for :func:`deploy_graph_pose_model` before
    the test epoch and put back after it.

    Args:
        xml (str): The IR.
        dtype (str): ``'fp32'`` or ``'bf16'``.
        threads (int, optional): OpenVINO inference threads.
    """
    priority = 'LOW'

    def __init__(self, xml: str, dtype: str = 'fp32', threads: Optional[int] = None):
        self.xml, self.dtype, self.threads = xml, dtype, threads
        self._original = None

    def before_test_epoch(self, runner) -> None:
        self._original = runner.model
        runner.model = deploy_graph_pose_model(runner.model, self.xml, self.dtype, self.threads)
        print_log(f'DeployGraphHook: testing {self.xml} (OpenVINO {self.dtype}) in place of '
                  f'the config\'s network', logger='current')

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._original is not None:
            runner.model, self._original = self._original, None
