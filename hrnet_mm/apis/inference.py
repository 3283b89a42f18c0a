"""Inference with the toolboxes' own APIs on a trained checkpoint of any hrnet_mm config.

Example::

    from hrnet_mm.apis import run_demo
    run_demo('configs/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py', 'epoch_210.pth',
             'person.jpg', 'vis/person.jpg', bboxes=[[280, 44, 500, 391]])
"""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from ..utils import allow_mm_checkpoint_globals
from .config import load_config, register_toolbox


def run_demo(config: str, checkpoint: str, image: str, out_file: str,
             bboxes: Optional[Sequence[Sequence[float]]] = None, device: str = 'cpu',
             score_thr: float = 0.3, cfg_options: Optional[dict] = None):
    """Predict on ``image`` and draw the predictions into ``out_file``; return the data sample.

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint file.
        image (str): Image file.
        out_file (str): Picture to write.
        bboxes (list, optional): Pose only: person boxes ``(x1, y1, x2, y2)``; the whole
            image when None.
        device (str): ``'cpu'`` or ``'cuda:0'`` ...
        score_thr (float): Detection only: hide boxes scoring below this.
        cfg_options (dict, optional): Overrides merged into the config.
    """
    allow_mm_checkpoint_globals()
    cfg = load_config(config, cfg_options)
    scope = register_toolbox(cfg)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    import mmcv
    img_rgb = mmcv.imread(image, channel_order='rgb')
    if scope == 'mmpose':
        from mmpose.apis import inference_topdown, init_model
        from mmpose.registry import VISUALIZERS
        from mmpose.structures import merge_data_samples
        model = init_model(cfg, checkpoint, device=device)
        boxes = None if bboxes is None else np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
        result = merge_data_samples(inference_topdown(model, image, boxes, bbox_format='xyxy'))
        visualizer = VISUALIZERS.build(model.cfg.visualizer)
        visualizer.set_dataset_meta(model.dataset_meta)
        visualizer.add_datasample('result', img_rgb, data_sample=result, draw_gt=False,
                                  draw_bbox=True, show=False, out_file=out_file)
    elif scope == 'mmseg':
        from mmseg.apis import inference_model, init_model, show_result_pyplot
        model = init_model(cfg, checkpoint, device=device)
        result = inference_model(model, image)
        show_result_pyplot(model, img_rgb, result, draw_gt=False, show=False, out_file=out_file)
    else:
        from mmdet.apis import inference_detector, init_detector
        from mmdet.registry import VISUALIZERS
        model = init_detector(cfg, checkpoint, device=device)
        result = inference_detector(model, image)
        visualizer = VISUALIZERS.build(model.cfg.visualizer)
        visualizer.dataset_meta = model.dataset_meta
        visualizer.add_datasample('result', img_rgb, data_sample=result, draw_gt=False,
                                  show=False, pred_score_thr=score_thr, out_file=out_file)
    return result
