"""The README's main job: a real model's poses on real images, then a small HRNet trained on them.

    python tools/quickstart.py

No arguments needed. First the real model (skipped, saying so, when ``../shared/data`` lacks
the PP-TinyPose weights, the PicoDet detector or the samples): it

a. converts the released PP-TinyPose 256x192 weights (a Lite-HRNet) into an mmpose checkpoint
   (``work_dirs/pp_tinypose/``, once);
b. draws the poses of every person the PicoDet detector finds on the 4 COCO sample images and
   on the 5 MPII sample images, which PP-TinyPose never saw (``<work-dir>/real_model/``);
c. evaluates its COCO keypoint AP on the COCO sample (annotated boxes, flip test).

About 15 s on 2 CPU cores (one thread, ``--threads``). Then the training part
(``--no-training`` skips it); it

1. writes the tiny COCO keypoint set from ``../shared/data/coco_sample`` (4 real COCO images,
   12 people with keypoints), or synthetic stick figures when that folder is absent;
2. trains HRNet-W18-small (``configs/pose/td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py``)
   from scratch with mmengine's Runner (progress and logs as in any mm training run);
3. evaluates COCO keypoint AP on the same images (it is a fitting exercise, not a benchmark);
4. draws the predicted skeletons on each image with mmpose's visualizer;
5. prints where everything went (and writes it to ``<work-dir>/quickstart.json``).

About 3 minutes on 2 CPU cores. ``--epochs`` shortens or lengthens the run.
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Optional, Sequence

import torch

from hrnet_mm.apis import (CONFIGS_DIR, DEFAULT_SOURCE, REPO_ROOT, build_runner, load_config,
                           person_boxes, point_data_at, register_toolbox, run_demo,
                           write_tiny_datasets)
from hrnet_mm.apis.detectors import build_person_detector
from hrnet_mm.apis.media import open_media
from hrnet_mm.apis.real_model import (SHARED_DATA, coco_sample_test_options,
                                      pp_tinypose_checkpoint, pp_tinypose_config)
from hrnet_mm.apis.topdown import TopdownPipeline, annotate, init_pose_model
from hrnet_mm.utils import allow_mm_checkpoint_globals

CONFIG = osp.join(CONFIGS_DIR, 'pose', 'td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py')
PICODET = osp.join('picodet_pedestrian', 'picodet_s_320_lcnet_pedestrian.xml')


def real_model(work_dir: str, data_dir: str = SHARED_DATA, threads: int = 1) -> Optional[dict]:
    """PP-TinyPose + PicoDet on the COCO and MPII sample images and the COCO sample's AP;
    None (with a message) when the real data is absent.

    ``threads`` PyTorch and OpenVINO threads (PyTorch's setting is restored afterwards). One by
    default: the small Lite-HRNet's many tiny ops gain little from a second thread, and on a
    2-core machine shared with other jobs two threads made this part 5x slower (54 s vs 10 s).
    """
    needed = [osp.join(data_dir, p) for p in (
        PICODET, osp.join('pp_tinypose', 'openvino_256x192', 'model.xml'),
        osp.join('coco_sample', 'test_coco.json'), 'mpii')]
    missing = [p for p in needed if not osp.exists(p)]
    if missing:
        print(f'[quickstart] real model skipped: {", ".join(missing)} not found (the real '
              f'weights and samples live in ../shared/data beside the repository)', flush=True)
        return None
    start = time.time()
    config = pp_tinypose_config('256x192')
    print('[quickstart] real model 1/3 PP-TinyPose 256x192 (released weights) -> mmpose '
          'checkpoint', flush=True)
    checkpoint = osp.abspath(pp_tinypose_checkpoint('256x192', data_dir=data_dir))

    print('[quickstart] real model 2/3 poses of every person PicoDet finds: COCO and MPII '
          'sample images', flush=True)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        detector = build_person_detector(osp.join(data_dir, PICODET), threads=threads)
        pipeline = TopdownPipeline(init_pose_model(config, checkpoint), detector)
        pictures, reports = {}, {}
        for name in ('coco_sample', 'mpii'):
            report = annotate(pipeline, open_media(osp.join(data_dir, name)),
                              osp.join(work_dir, 'real_model', name), progress=False)
            print(f'  {name}: {report.summary()}', flush=True)
            pictures[name] = report.output
            reports[name] = dict(images=report.frames, people=report.people,
                                 images_per_second=round(report.frames_per_second, 2))

        print('[quickstart] real model 3/3 COCO keypoint AP on the COCO sample (annotated '
              'boxes)', flush=True)
        cfg = load_config(config, coco_sample_test_options(boxes='gt'))
        register_toolbox(cfg)
        cfg.work_dir = osp.join(work_dir, 'real_model', 'test')
        cfg.load_from = checkpoint
        metrics = build_runner(cfg).test()
    finally:
        torch.set_num_threads(torch_threads)
    return dict(config=config, checkpoint=checkpoint, pictures=pictures, demo=reports,
                metrics={k: float(v) for k, v in metrics.items()},
                seconds=round(time.time() - start, 1))


def _print_real(real: dict) -> None:
    print('  real model (PP-TinyPose 256x192 + PicoDet person detector):')
    print(f'    checkpoint:  {real["checkpoint"]}')
    print('    COCO keypoint AP {:.3f} on the COCO sample (annotated boxes)'.format(
        real['metrics'].get('coco/AP', float('nan'))))
    for name, folder in real['pictures'].items():
        demo = real['demo'][name]
        print(f'    pictures:    {folder}/ ({demo["images"]} images, {demo["people"]} people)')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'quickstart'),
                        help='where data, logs, checkpoints and pictures go')
    parser.add_argument('--epochs', type=int, help='training epochs (config default if unset)')
    parser.add_argument('--synthetic', action='store_true',
                        help='use generated stick figures even if the real sample exists')
    parser.add_argument('--source', default=DEFAULT_SOURCE, help='the real COCO sample')
    parser.add_argument('--no-real-model', action='store_true',
                        help='skip the real model (PP-TinyPose) part')
    parser.add_argument('--no-training', action='store_true',
                        help='skip the training part (the real model only)')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads of the real-model part (default 1, see real_model())')
    args = parser.parse_args(argv)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    allow_mm_checkpoint_globals()
    real = None if args.no_real_model else real_model(work_dir, threads=args.threads)
    if args.no_training:
        summary = dict(work_dir=work_dir, real_model=real, seconds=round(time.time() - start, 1))
        with open(_summary_path(work_dir), 'w') as f:
            json.dump(summary, f, indent=2)
        print('\n[quickstart] done in {:.0f} s'.format(summary['seconds']))
        if real is not None:
            _print_real(real)
        print(f'  summary:     {_summary_path(work_dir)}')
        return summary

    print(f'[quickstart] training 1/4 tiny COCO keypoint set -> {work_dir}/data/coco', flush=True)
    roots = write_tiny_datasets(work_dir, args.source, synthetic=args.synthetic)

    print(f'[quickstart] training 2/4 {osp.relpath(CONFIG, REPO_ROOT)}', flush=True)
    cfg = load_config(CONFIG)
    register_toolbox(cfg)
    cfg.work_dir = work_dir
    point_data_at(cfg, roots['coco'])
    if args.epochs:  # the whole schedule, warm-up aside, follows the number of epochs
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
        cfg.default_hooks.checkpoint.interval = args.epochs
        for scheduler in cfg.param_scheduler:
            if scheduler.get('by_epoch', True):
                scheduler.end = args.epochs
    runner = build_runner(cfg)
    runner.train()
    checkpoint = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')

    print('[quickstart] training 3/4 evaluating COCO keypoint AP on the sample', flush=True)
    metrics = runner.test()

    print('[quickstart] training 4/4 drawing the predictions', flush=True)
    vis_dir = osp.join(work_dir, 'predictions')
    pictures = []
    for file_name, boxes in person_boxes(roots['coco']).items():
        out = osp.join(vis_dir, file_name)
        run_demo(CONFIG, checkpoint, osp.join(roots['coco'], 'val2017', file_name), out,
                 bboxes=boxes)
        pictures.append(out)

    summary = dict(
        data=dict(source=roots['source'], coco=roots['coco']),
        config=CONFIG, work_dir=work_dir, log_dir=runner.log_dir, checkpoint=checkpoint,
        metrics={k: float(v) for k, v in metrics.items()}, pictures=pictures, real_model=real,
        seconds=round(time.time() - start, 1))
    with open(_summary_path(work_dir), 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n[quickstart] done in {:.0f} s'.format(summary['seconds']))
    if real is not None:
        _print_real(real)
        print('  trained here (HRNet-W18-small on the 4 COCO sample images):')
    print(f'  data ({roots["source"]} images): {roots["coco"]}')
    print(f'  config:      {CONFIG}')
    print(f'  logs:        {runner.log_dir}')
    print(f'  checkpoint:  {checkpoint}')
    print('  COCO keypoint AP {:.3f}, AR {:.3f}'.format(
        summary['metrics'].get('coco/AP', float('nan')),
        summary['metrics'].get('coco/AR', float('nan'))))
    print(f'  pictures:    {vis_dir}/ ({len(pictures)} images)')
    print(f'  summary:     {_summary_path(work_dir)}')
    return summary


def _summary_path(work_dir: str) -> str:
    os.makedirs(work_dir, exist_ok=True)
    return osp.join(work_dir, 'quickstart.json')


if __name__ == '__main__':
    main()
