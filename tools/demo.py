"""Run a trained model of any hrnet_mm config on one image and write a picture of its predictions.

The toolbox (the config's ``default_scope``) draws it with its own visualizer: skeletons for
mmpose, a class overlay for mmseg, boxes (and masks) for mmdet.

    python tools/demo.py CONFIG CHECKPOINT IMAGE --out result.jpg
    python tools/demo.py POSE_CONFIG CKPT IMAGE --bbox 280 44 500 391   # person boxes, x1 y1 x2 y2
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the helpers live in tools/train.py

import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from train import load_config, register_toolbox  # noqa: E402

from hrnet_mm.utils import allow_mm_checkpoint_globals  # noqa: E402


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


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description='Draw the predictions of a model on an image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', default='demo_result.jpg', help='picture to write')
    parser.add_argument('--bbox', type=float, nargs=4, action='append', metavar=('X1', 'Y1',
                        'X2', 'Y2'), help='pose: a person box (repeat for several); default: '
                        'the whole image')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection score cut')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    run_demo(args.config, args.checkpoint, args.image, args.out, args.bbox, args.device,
             args.score_thr, args.cfg_options)
    print(f'wrote {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
