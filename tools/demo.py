"""Draw a model's predictions: poses of every person on an image, a folder or a video.

Pose configs (mmpose) run top-down: a person detector finds the people, the pose model
estimates all of them in one batch per frame, mmpose's visualizer draws the skeletons
(``hrnet_mm.apis.topdown``). Input: an image, a folder of images (-> a folder) or a ``.mp4`` /
``.avi`` video (-> a video with the same frame count). It prints images (frames) per second
and the share of the time spent in detection, pose and drawing.

    python tools/demo.py POSE_CONFIG CKPT people.jpg --det DETECTOR --out people_pose.jpg
    python tools/demo.py POSE_CONFIG CKPT photos/ --det DETECTOR --out photos_pose/
    python tools/demo.py POSE_CONFIG CKPT clip.mp4 --det DETECTOR --out clip_pose.mp4
    python tools/demo.py POSE_CONFIG CKPT img.jpg --bbox 280 44 500 391  # given boxes, no detector
    python tools/demo.py POSE_CONFIG CKPT img.jpg                        # whole image: one person

DETECTOR: a detector file run by OpenVINO (``.xml`` IR / ``.onnx``, one class, exported
without NMS: ``../shared/data/picodet_pedestrian/picodet_s_320_lcnet_pedestrian.xml``), or an
mmdet config with ``--det-checkpoint``. ``--fast [--dtype bf16] [--backend openvino]`` runs an
optimised copy of the pose model; ``--threads N`` sets PyTorch's and OpenVINO's threads.

Segmentation and detection configs (mmseg, mmdet) draw their toolbox's picture of one image:

    python tools/demo.py CONFIG CHECKPOINT IMAGE --out result.jpg
"""
import argparse
import contextlib
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import DictAction

from hrnet_mm.apis import load_config, run_demo
from hrnet_mm.apis.fast_mode import add_fast_args, fast_args, fast_model_builders
from hrnet_mm.apis.media import InputError
from hrnet_mm.apis.topdown import run_topdown_demo


def main(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(description='Draw the predictions of a model on an image, '
                                     'a folder of images or a video')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input', help='an image, a folder of images or a .mp4 / .avi video')
    parser.add_argument('--out', help='image / folder / video to write (default: '
                        'demo_result.<ext>, demo_result/ for a folder)')
    parser.add_argument('--det', help='pose: person detector, a detector file (.xml / .onnx, '
                        'OpenVINO) or an mmdet config (.py, with --det-checkpoint); default: '
                        '--bbox, or the whole image as one person')
    parser.add_argument('--det-checkpoint', help='weights of the mmdet detector config')
    parser.add_argument('--bbox', type=float, nargs=4, action='append', metavar=('X1', 'Y1',
                        'X2', 'Y2'), help='pose: a person box (repeat for several) instead of '
                        'a detector')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='pose: person detector score cut (default 0.5); detection '
                        'configs: hide boxes below it (default 0.3)')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='pose: keypoints scoring below this are not drawn')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads of PyTorch and of the OpenVINO detector (default: '
                        "PyTorch's)")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    add_fast_args(parser)
    args = parser.parse_args(argv)
    fast = fast_args(args)
    if fast is not None and fast['dtype'] == 'int8':
        raise SystemExit('--dtype int8 needs calibration data, which the demo does not '
                         'collect: use tools/test.py --fast --dtype int8 (it calibrates on the '
                         'test dataloader)')
    if args.det_checkpoint and not args.det:
        raise SystemExit('--det-checkpoint needs --det (the mmdet config)')
    if args.det and args.det.endswith('.py') and not args.det_checkpoint:
        raise SystemExit(f'--det {args.det} is an mmdet config: give its weights with '
                         f'--det-checkpoint (a detector with random weights finds nobody)')
    scope = load_config(args.config, args.cfg_options).get('default_scope')
    try:
        if scope == 'mmpose':
            return _pose(args, fast)
        return _other(args, fast, scope)
    except (FileNotFoundError, InputError) as e:
        raise SystemExit(f'demo.py: {e}') from None


def _pose(args, fast):
    kwargs = {} if args.score_thr is None else dict(det_score_thr=args.score_thr)
    report = run_topdown_demo(
        args.config, args.checkpoint, args.input, args.out, det=args.det,
        det_checkpoint=args.det_checkpoint, bboxes=args.bbox, device=args.device,
        cfg_options=args.cfg_options, fast=fast, threads=args.threads, kpt_thr=args.kpt_thr,
        progress=not args.no_progress, **kwargs)
    print(report.summary())
    print(f'wrote {report.output}')
    return report


def _other(args, fast, scope):
    """mmseg / mmdet configs: one image, drawn by the toolbox (``run_demo``)."""
    if args.det or args.bbox:
        raise SystemExit(f'--det / --bbox are for pose configs; {args.config} is {scope!r}')
    if not osp.isfile(args.input):
        raise FileNotFoundError(f'input image not found: {args.input}')
    out = args.out or 'demo_result.jpg'
    with contextlib.ExitStack() as stack:
        if fast is not None:
            stack.enter_context(fast_model_builders(scope, fast['dtype'], fast['backend']))
        run_demo(args.config, args.checkpoint, args.input, out, None, args.device,
                 0.3 if args.score_thr is None else args.score_thr, args.cfg_options)
    print(f'wrote {osp.abspath(out)}')
    return out


if __name__ == '__main__':
    main()
