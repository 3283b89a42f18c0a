"""Section ``e2e``: whole test loops as ``tools/test.py`` runs them, stock vs fast mode.

Each task's real config runs mmengine's Runner ``test()`` over a real sample, once per variant
and round, interleaved (stock, fast fp32, fast bf16 [, fast int8], stock, ...):

* pose: HRNet-W32 256x192 top-down on the 4 COCO sample images with the sample's person
  detections (the zoo's test setting: AP_H_56 boxes, flip test), weights fitted to the sample
  (:func:`hrnet_mm.benchmark.fitting.fit_pose_model`); metric COCO keypoint AP;
* seg: FCN-HRNetV2-W18 on the real Cityscapes frame of ``shared/data/cityscapes_sample`` at the
  config's test scale (2048x1024, whole image), weights fitted to that frame (19 classes);
  metric mIoU;
* det: Faster R-CNN HRNetV2p-W18 on the 4 COCO sample images with its sample recipe
  (:mod:`hrnet_mm.apis.det_sample`: test scale, the 80-class annotation file), weights fitted
  to the sample by that recipe (:func:`~.e2e_weights.det_weights`); metric box mAP.

``--e2e-tasks`` runs some of the tasks; their results replace those tasks' stored ones and the
other stored tasks stay when they were measured on the same machine class with the same
threads (the report attributes the whole section to the machine of its last run,
:mod:`.machines`), else they are dropped, each named in the log. Each task records where and
when it was measured (``measured``: machine, date).

Variants: *stock* = the config as it is; *fast* = the same config with
``custom_hooks=[dict(type='hrnet_mm.FastInferenceHook', dtype=...)]`` (what ``tools/test.py
--fast --dtype ...`` adds). Times: the whole ``runner.test()`` (data loading, pipeline,
model, post-processing, evaluation, and the fast hook's optimisation of the model) and the
model part (the time inside ``model.test_step``: preprocessing, network, head decoding), median
over the rounds.
"""
import datetime
import os
import os.path as osp
import statistics
import time
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook

from .common import CACHE_DIR, CITYSCAPES_SAMPLE, REPO_ROOT, log
from .e2e_accuracy import JITTERS, jittered_markdown, jittered_metric, jittered_pose_ap
from .e2e_weights import CONFIGS, det_weights, pose_weights, random_weights, seg_weights
from .sections import Context, register_section

TASKS = {
    'pose': dict(config='pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py', metric='coco/AP',
                 label='pose HRNet-W32 256x192, COCO sample (14 people, detected boxes, flip)',
                 scale=100.0, unit='AP'),
    'seg': dict(config='seg/fcn_hr18_4xb2-40k_cityscapes-512x1024.py', metric='mIoU',
                label='seg FCN-HRNetV2-W18, Cityscapes frame at 2048x1024', scale=1.0,
                unit='mIoU'),
    'det': dict(config='det/faster-rcnn_hrnetv2p-w18-1x_coco.py', metric='coco/bbox_mAP',
                label='det Faster R-CNN HRNetV2p-W18 {w}x{h}, COCO sample (4 images, fitted)',
                scale=100.0, unit='box AP'),
}
QUICK_CONFIG = 'pose/td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py'
LOADER = {'test_dataloader.num_workers': 0, 'test_dataloader.persistent_workers': False}


class ModelTimer(Hook):
    """Adds up the time spent in ``runner.model.test_step`` (the fast copy when the fast hook
    swapped it in: this hook runs last)."""
    priority = 'LOWEST'

    def __init__(self):
        self.seconds = 0.0
        self.loop_start = None
        self._model = None

    def before_test(self, runner) -> None:
        self.seconds = 0.0

    def before_test_epoch(self, runner) -> None:
        model = self._model = runner.model
        inner = model.test_step

        def timed(data):
            t = time.perf_counter()
            out = inner(data)
            self.seconds += time.perf_counter() - t
            return out

        model.test_step = timed

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._model is not None:
            del self._model.test_step  # back to the class's method
            self._model = None


def _runner(task: str, config: str, options: dict, work_dir: str, checkpoint: str,
            fast: Optional[dict]):
    from hrnet_mm.apis import build_runner, load_config, register_toolbox
    from hrnet_mm.apis.fast_mode import add_fast_hook
    cfg = load_config(osp.join(CONFIGS, config), {**LOADER, **options})
    register_toolbox(cfg)
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.log_level = 'WARNING'
    cfg.default_hooks.logger.interval = 10 ** 6
    if fast is not None:
        add_fast_hook(cfg, **fast)
    runner = build_runner(cfg)
    timer = ModelTimer()
    runner.register_hook(timer)
    return runner, timer


# --------------------------------------------------------------------------- the loops

def _variants(quick: bool) -> Dict[str, Optional[dict]]:
    """stock, fast fp32 and bf16 (eager PyTorch), and fast int8 (OpenVINO + NNCF, calibrated
    on the first batches of the test dataloader) where OpenVINO and NNCF are installed."""
    import importlib.util
    out = {'stock': None, 'fast_fp32': dict(dtype='fp32'), 'fast_bf16': dict(dtype='bf16')}
    if not quick and all(importlib.util.find_spec(p) for p in ('openvino', 'nncf')):
        out['fast_int8'] = dict(dtype='int8', backend='openvino')
    return out


def run_task(task: str, config: str, options: dict, checkpoint: str, rounds: int,
             work_dir: str, quick: bool) -> dict:
    """Time ``rounds`` interleaved rounds of ``runner.test()`` for every variant."""
    runners, res = {}, {}
    for name, fast in _variants(quick).items():
        try:
            runners[name] = _runner(task, config, options, osp.join(work_dir, task, name),
                                    checkpoint, fast)
            res[name] = dict(loop_s=[], model_s=[], fast=fast)
        except Exception as e:  # noqa: BLE001  (reported: e.g. a backend not installed)
            res[name] = dict(error=f'{type(e).__name__}: {str(e).splitlines()[0][:200]}')
            log(f'e2e {task}: {name} failed to build: {res[name]["error"]}')
    metric = TASKS[task]['metric']
    for r in range(rounds):
        for name, (runner, timer) in list(runners.items()):
            t = time.perf_counter()
            try:
                metrics = runner.test()
            except Exception as e:  # noqa: BLE001
                res[name]['error'] = f'{type(e).__name__}: {str(e).splitlines()[0][:200]}'
                log(f'e2e {task}: {name} failed: {res[name]["error"]}')
                del runners[name]
                continue
            res[name]['loop_s'].append(time.perf_counter() - t)
            res[name]['model_s'].append(timer.seconds)
            res[name]['metrics'] = {k: float(v) for k, v in metrics.items()}
            log(f'e2e {task} round {r + 1}/{rounds}: {name} loop '
                f'{res[name]["loop_s"][-1]:.2f} s, model {timer.seconds:.2f} s, '
                f'{metric} {metrics.get(metric, float("nan")):.4f}')
    for name, r in res.items():
        if r.get('loop_s'):
            r['loop_median_s'] = statistics.median(r['loop_s'])
            r['model_median_s'] = statistics.median(r['model_s'])
            r['metric'] = r['metrics'].get(metric)
    return res


def _pose_options(coco: str) -> dict:
    return {'test_dataloader.dataset.data_root': coco,
            'test_dataloader.dataset.bbox_file':
                coco + 'person_detection_results/COCO_val2017_detections_AP_H_56_person.json',
            'test_evaluator.ann_file': coco + 'annotations/person_keypoints_val2017.json',
            'model.backbone.init_cfg': None}


def _seg_options() -> dict:
    return {'test_dataloader.dataset.data_root': CITYSCAPES_SAMPLE,
            'model.backbone.init_cfg': None}


# --------------------------------------------------------------------------- report

TARGET_LOOP, TARGET_MODEL, TOLERANCE = 1.5, 2.0, 0.5
#: The detector's reduced-precision tolerance (box AP x 100; issue 30): every reduced variant
#: that ran, not only the fastest; no speed target (the row reports loop and model part).
TOLERANCE_DET = 1.0


def _fastest_reduced(variants: dict) -> Optional[str]:
    timed = [n for n, r in variants.items()
             if n not in ('stock', 'fast_fp32') and r.get('loop_median_s')]
    return min(timed, key=lambda n: variants[n]['loop_median_s']) if timed else None


def _metric(task: str, value: Optional[float]) -> Optional[float]:
    return None if value is None else value * TASKS[task]['scale']


def e2e_markdown(results: dict) -> List[str]:
    e2e = results.get('e2e')
    if not e2e:
        return []
    L = ['', '## End to end: test loops as tools/test.py runs them', '',
         'mmengine\'s Runner `test()` on each task\'s real config over a real sample; *stock* '
         'is the config as it is, *fast* the same config with '
         '`custom_hooks=[dict(type="hrnet_mm.FastInferenceHook", dtype=...)]` (what '
         '`tools/test.py --fast --dtype ...` adds; docs/fast.md). Whole loop: the whole '
         '`runner.test()` (data loading and pipeline, model, post-processing, evaluation, and '
         'the hook\'s optimisation of the model); model part: the time inside '
         '`model.test_step` (preprocessing, network, head decoding). Medians over the '
         f'rounds, variants interleaved; {e2e.get("threads")} torch threads. The first '
         'round of a fast variant also builds the optimised copy (folding; int8: calibration '
         'and quantisation); later rounds reuse it, as the hook does while the weights are '
         'unchanged: *first loop* shows that one-time cost. Metrics in percent (AP x 100, '
         'mIoU).', '',
         '| task | variant | whole loop s | speed-up | model part s | speed-up | first loop s '
         '| metric |',
         '|---|---|---|---|---|---|---|---|']
    for task, t in e2e['tasks'].items():
        base = t['variants'].get('stock', {})
        for name, r in t['variants'].items():
            if 'loop_median_s' not in r:
                L.append(f'| {t["label"]} | {name} | error: {r.get("error", "not run")} '
                         f'| | | | | |')
                continue
            lr = base.get('loop_median_s', float('nan')) / r['loop_median_s']
            mr = base.get('model_median_s', float('nan')) / r['model_median_s']
            m = _metric(task, r.get('metric'))
            L.append(f'| {t["label"]} | {name} | {r["loop_median_s"]:.2f} | {lr:.2f}x | '
                     f'{r["model_median_s"]:.2f} | {mr:.2f}x | {r["loop_s"][0]:.2f} | '
                     f'{TASKS[task]["unit"]} {"-" if m is None else f"{m:.2f}"} |')
    fits = [(t['label'], t['fit']) for t in e2e['tasks'].values() if t.get('fit')]
    if fits:
        L += ['', 'Weights: ' + '; '.join(
            f'{label}: fitted to the sample ({f.get("iters")} iterations, loss '
            f'{f.get("first_loss", float("nan")):.3f} -> {f.get("final_loss", float("nan")):.3f})'
            for label, f in fits) + '.']
    if 'pose' in e2e['tasks']:
        L += jittered_markdown(e2e['tasks']['pose'], TASKS['pose']['scale'])
    if 'det' in e2e['tasks'] and not e2e['tasks']['det'].get('fit'):
        L += ['', 'The detector has random weights (no fit): its AP is about 0, and only the '
              'agreement of the variants means something.']
    elif 'det' in e2e['tasks']:
        L += ['', 'The detector runs at its sample recipe\'s test scale with the 80 COCO '
              'classes (`hrnet_mm.apis.det_sample`), weights fitted to the 4 images by that '
              'recipe (train = test images: the AP says the variants agree on a detector that '
              'finds the people, not how well it generalises).']
    return L


def _untrained(stock: float) -> str:
    """A stock metric of 0 (a model that has not learnt: the quick run's) makes an equality
    check meaningless: say so, and the target counts as not met."""
    return ' (stock metric 0: the model has not learnt, nothing to compare)' if stock <= 0 \
        else ''


def e2e_targets(results: dict) -> List[dict]:
    e2e = results.get('e2e')
    if not e2e:
        return []
    rows = []
    for task, t in e2e['tasks'].items():
        v = t['variants']
        stock, fp32 = v.get('stock', {}), v.get('fast_fp32', {})
        if 'loop_median_s' not in stock:
            continue
        unit = TASKS[task]['unit']
        if 'metric' in fp32 and fp32['metric'] is not None:
            a, b = _metric(task, stock['metric']), _metric(task, fp32['metric'])
            rows.append(dict(target=f'e2e {task}: fast fp32 {unit} equal to stock',
                             goal='equal to the printed digits',
                             measured=f'{b:.2f} vs {a:.2f}' + _untrained(a),
                             met=f'{a:.2f}' == f'{b:.2f}' and a > 0))
        best = _fastest_reduced(v)
        if best is None:
            continue
        r = v[best]
        loop = stock['loop_median_s'] / r['loop_median_s']
        model = stock['model_median_s'] / r['model_median_s']
        if task == 'det':
            rows += _det_tolerance_rows(v, unit)
            continue
        if task in ('pose', 'seg'):
            rows.append(dict(target=f'e2e {task}: whole test loop, fastest reduced precision',
                             goal=f'>= {TARGET_LOOP}x', measured=f'{loop:.2f}x ({best})',
                             met=loop >= TARGET_LOOP))
            rows.append(dict(target=f'e2e {task}: model part, fastest reduced precision',
                             goal=f'>= {TARGET_MODEL}x', measured=f'{model:.2f}x ({best})',
                             met=model >= TARGET_MODEL))
            # pose: on the jittered-box set (8x the instances) where measured
            fast, ref, where = (jittered_metric(t, best), jittered_metric(t, 'stock'),
                                ' on the jittered boxes')
            if fast is None or ref is None:
                fast, ref, where = r.get('metric'), stock.get('metric'), ''
            if fast is not None and ref is not None:
                fast, ref = _metric(task, fast), _metric(task, ref)
                rows.append(dict(target=f'e2e {task}: {best} {unit} vs stock (fitted model)',
                                 goal=f'within {TOLERANCE} {unit}',
                                 measured=f'{fast:.2f} vs {ref:.2f}{where}' + _untrained(ref),
                                 met=abs(fast - ref) <= TOLERANCE and ref > 0))
    return rows


def _det_tolerance_rows(v: dict, unit: str) -> List[dict]:
    """Each reduced-precision variant's box AP vs stock's, within :data:`TOLERANCE_DET`
    (a variant that failed on the detector's graph: its error, not met)."""
    rows, stock = [], v['stock']
    for name, r in v.items():
        if name in ('stock', 'fast_fp32'):
            continue
        target = f'e2e det: {name} {unit} vs stock (fitted model)'
        goal = f'within {TOLERANCE_DET} {unit}'
        if r.get('metric') is None or stock.get('metric') is None:
            rows.append(dict(target=target, goal=goal,
                             measured=f'error: {r.get("error", "not run")}', met=False))
            continue
        fast, ref = _metric('det', r['metric']), _metric('det', stock['metric'])
        rows.append(dict(target=target, goal=goal,
                         measured=f'{fast:.2f} vs {ref:.2f}' + _untrained(ref),
                         met=abs(fast - ref) <= TOLERANCE_DET and ref > 0))
    return rows


def e2e_task_names(text: Optional[str]) -> List[str]:
    """``--e2e-tasks`` (comma-separated) as task names in :data:`TASKS` order; all without it.

    Raises:
        ValueError: naming the unknown tasks and the known ones.

    Example:
        >>> e2e_task_names('det,pose')
        ['pose', 'det']
    """
    if not text:
        return list(TASKS)
    wanted = [t.strip() for t in text.split(',') if t.strip()]
    unknown = [t for t in wanted if t not in TASKS]
    if unknown or not wanted:
        raise ValueError(f'--e2e-tasks must name tasks among {list(TASKS)}, got {text!r}')
    return [t for t in TASKS if t in wanted]


def kept_tasks(results: dict, ran: List[str], machine: dict, threads: int) -> dict:
    """The stored e2e tasks a run of ``ran`` keeps: those not re-run that were measured on
    ``machine``'s class (a task's ``measured`` record, else the section's last run) with
    ``threads`` threads: the report attributes the whole section to the machine of its last
    run (:mod:`.machines`). The others are dropped, and logged."""
    from .machines import machine_key, where
    old = results.get('e2e') or {}
    others = {k: t for k, t in old.get('tasks', {}).items() if k not in ran}
    section = where(results, 'e2e').machine if others else None
    kept = {}
    for name, task in others.items():
        there = task['measured']['machine'] if 'measured' in task else section
        if machine_key(there) == machine_key(machine) and old.get('threads') == threads:
            kept[name] = task
            continue
        log(f'e2e: dropping the stored {name} results: measured on '
            f'{there and there.get("cpu") or "a machine not recorded"} with '
            f'{old.get("threads")} threads, this run is {machine.get("cpu")} with {threads} '
            '(one section, one machine)')
    return kept


@register_section('e2e', help='tools/test.py-style test loops over the real samples: stock vs '
                  'fast mode (FastInferenceHook) fp32 / bf16 / int8, whole loop and model part',
                  render=e2e_markdown, targets=e2e_targets)
def e2e_section(ctx: Context) -> None:
    from .report import machine_info
    args = ctx.args
    cache = CACHE_DIR
    work_dir = osp.join(REPO_ROOT, 'work_dirs', 'benchmark_e2e')
    from hrnet_mm.apis import write_tiny_datasets
    roots = write_tiny_datasets(work_dir)
    coco = roots['coco'].rstrip('/') + '/'
    threads = torch.get_num_threads()
    tasks = e2e_task_names(getattr(args, 'e2e_tasks', None))
    machine = machine_info(args.threads)
    out = dict(source=roots['source'], threads=threads,
               tasks=kept_tasks(ctx.results, tasks, machine, threads))
    if args.quick:  # the code path only: W18-small at 128x96, one round
        plan = {'pose': (QUICK_CONFIG, 1)}
    else:
        rounds = args.repeats or 3  # --repeats
        plan = {'pose': (TASKS['pose']['config'], rounds),
                'seg': (TASKS['seg']['config'], rounds),
                'det': (TASKS['det']['config'], rounds)}
    for task, (config, rounds) in plan.items():
        if task not in tasks:
            continue
        log(f'e2e: {task} ({config})')
        if args.quick:
            weights = random_weights(config, cache)
        else:
            weights = dict(pose=lambda: pose_weights(args, cache),
                           seg=lambda: seg_weights(args, cache),
                           det=lambda: det_weights(config, cache))[task]()
        options = dict(pose=lambda: _pose_options(coco), seg=_seg_options,
                       det=lambda: weights['options'])[task]()
        label = TASKS[task]['label']
        if task == 'det':
            w, h = weights['fit']['recipe']['scale']
            label = label.format(w=w, h=h)
        res = run_task(task, config, options, weights['checkpoint'], rounds, work_dir,
                       args.quick)
        out['tasks'][task] = dict(config=f'configs/{config}', label=label,
                                  metric=TASKS[task]['metric'], rounds=rounds,
                                  fit=weights['fit'], variants=res, measured=dict(
                                      machine=machine, date=datetime.datetime.now()
                                      .astimezone().isoformat(timespec='seconds')))
        if task == 'pose':  # the reduced-precision AP check on 8x the instances
            out['tasks'][task]['jittered'] = jittered_pose_ap(
                lambda opts, name, fast: _runner(task, config, {**options, **opts}, osp.join(
                    work_dir, task, 'jittered', name), weights['checkpoint'], fast),
                _variants(args.quick), coco, work_dir, TASKS[task]['metric'],
                jitters=2 if args.quick else JITTERS)
        ctx.loads.append(os.getloadavg()[0])
    out['tasks'] = {k: out['tasks'][k] for k in TASKS if k in out['tasks']}  # table order
    ctx.results['e2e'] = out
