"""Run a trained model of any hrnet_mm config on one image and write a picture of its predictions.

The toolbox (the config's ``default_scope``) draws it with its own visualizer: skeletons for
mmpose, a class overlay for mmseg, boxes (and masks) for mmdet.

    python tools/demo.py CONFIG CHECKPOINT IMAGE --out result.jpg
    python tools/demo.py POSE_CONFIG CKPT IMAGE --bbox 280 44 500 391   # person boxes, x1 y1 x2 y2
    python tools/demo.py CONFIG CHECKPOINT IMAGE --fast --dtype bf16      # optimised copy
"""
import argparse
import contextlib
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import DictAction

from hrnet_mm.apis import load_config, run_demo
from hrnet_mm.apis.fast_mode import add_fast_args, fast_args, fast_model_builders


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
    add_fast_args(parser)
    args = parser.parse_args(argv)
    fast = fast_args(args)
    if fast is not None and fast['dtype'] == 'int8':
        raise SystemExit('--dtype int8 needs calibration data, which one image does not '
                         'give: use tools/test.py --fast --dtype int8 (it calibrates on the '
                         'test dataloader)')
    with contextlib.ExitStack() as stack:
        if fast is not None:
            scope = load_config(args.config, args.cfg_options).get('default_scope')
            stack.enter_context(fast_model_builders(scope, fast['dtype'], fast['backend']))
        run_demo(args.config, args.checkpoint, args.image, args.out, args.bbox, args.device,
                 args.score_thr, args.cfg_options)
    print(f'wrote {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
