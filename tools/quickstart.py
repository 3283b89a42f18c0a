"""The README's first command: train a small HRNet on the bundled sample, evaluate it, draw it.

    python tools/quickstart.py

No arguments needed. It

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
import os.path as osp
import time
from typing import Optional, Sequence

from hrnet_mm.apis import (CONFIGS_DIR, DEFAULT_SOURCE, REPO_ROOT, build_runner, load_config,
                           person_boxes, point_data_at, register_toolbox, run_demo,
                           write_tiny_datasets)
from hrnet_mm.utils import allow_mm_checkpoint_globals

CONFIG = osp.join(CONFIGS_DIR, 'pose', 'td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'quickstart'),
                        help='where data, logs, checkpoints and pictures go')
    parser.add_argument('--epochs', type=int, help='training epochs (config default if unset)')
    parser.add_argument('--synthetic', action='store_true',
                        help='use generated stick figures even if the real sample exists')
    parser.add_argument('--source', default=DEFAULT_SOURCE, help='the real COCO sample')
    args = parser.parse_args(argv)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)

    print(f'[quickstart] 1/4 tiny COCO keypoint set -> {work_dir}/data/coco', flush=True)
    roots = write_tiny_datasets(work_dir, args.source, synthetic=args.synthetic)

    print(f'[quickstart] 2/4 training {osp.relpath(CONFIG, REPO_ROOT)}', flush=True)
    allow_mm_checkpoint_globals()
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

    print('[quickstart] 3/4 evaluating COCO keypoint AP on the sample', flush=True)
    metrics = runner.test()

    print('[quickstart] 4/4 drawing the predictions', flush=True)
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
        metrics={k: float(v) for k, v in metrics.items()}, pictures=pictures,
        seconds=round(time.time() - start, 1))
    with open(osp.join(work_dir, 'quickstart.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n[quickstart] done in {:.0f} s'.format(summary['seconds']))
    print(f'  data ({roots["source"]} images): {roots["coco"]}')
    print(f'  config:      {CONFIG}')
    print(f'  logs:        {runner.log_dir}')
    print(f'  checkpoint:  {checkpoint}')
    print('  COCO keypoint AP {:.3f}, AR {:.3f}'.format(
        summary['metrics'].get('coco/AP', float('nan')),
        summary['metrics'].get('coco/AR', float('nan'))))
    print(f'  pictures:    {vis_dir}/ ({len(pictures)} images)')
    print(f'  summary:     {osp.join(work_dir, "quickstart.json")}')
    return summary


if __name__ == '__main__':
    main()
