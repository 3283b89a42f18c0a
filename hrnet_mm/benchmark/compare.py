"""Each zoo model side by side with ours: params, FLOPs, forward time and output differences,
the training step, the whole detector; the pose, seg, det and accuracy sections."""
import copy
import os

import torch
import torch.nn as nn

from hrnet_mm.utils.testing import max_abs, max_abs_diff

from .agreement import pose_bf16_accuracy, seg_fitted_agreement, seg_labels
from .common import CACHE_DIR, log
from .fitting import fit_pose_model
from .samples import coco_crops, seg_image
from .sections import Context, register_section
from .specs import SPECS, build_pair
from .timing import time_interleaved, wait_for_idle_cpu
from .variants import (FORWARD_VARIANTS, TRAIN_VARIANTS, TensorForward, TrainStep,
                       forward_variants, train_models)


def params_and_flops(theirs: nn.Module, ours: nn.Module, task: str, shape,
                     flops: bool = True) -> dict:
    """Parameters (whole model, backbone) and per-image FLOPs: mmengine's ``FlopAnalyzer``
    (skipped without ``flops``) and conv + linear multiply-adds, for theirs and ours."""
    from mmengine.analysis import FlopAnalyzer

    from hrnet_mm.analysis import count_macs_fast
    one = (1,) + tuple(shape[1:])
    res = dict(params={}, flops=dict(mmengine={}, conv_linear_macs={}))
    for who, model in (('theirs', theirs), ('ours', ours)):
        net = TensorForward(model, task).eval()
        res['params'][who] = sum(p.numel() for p in model.parameters())
        res['params'][who + '_backbone'] = sum(p.numel() for p in model.backbone.parameters())
        if flops:
            with torch.no_grad():
                fa = FlopAnalyzer(net, (torch.rand(*one),))
                fa.unsupported_ops_warnings(False)
                fa.uncalled_modules_warnings(False)
                res['flops']['mmengine'][who] = int(fa.total())
        res['flops']['conv_linear_macs'][who] = count_macs_fast(net, one)
    return res


def bench_forward(theirs: nn.Module, ours: nn.Module, name: str, shape, args) -> dict:
    """Interleaved forward timing of the variants, with ratios and the max abs output
    difference to theirs (and, for seg, the fraction of equal labels)."""
    spec = SPECS[name]
    compile = args.compile and (spec.compile or args.compile_all)
    names = [n for n in FORWARD_VARIANTS if compile or 'compiled' not in n]
    variants = forward_variants(theirs, ours, spec.task, names)
    x = seg_image(shape) if spec.task == 'seg' else torch.rand(*shape)
    if spec.task == 'pose' and not args.quick:
        x = coco_crops()[0][:shape[0]]
    outs = {}

    def caller(vname):
        def call():
            with torch.no_grad():
                outs[vname] = variants[vname](x)
        return call

    timing = time_interleaved({n: caller(n) for n in names}, args.repeats_for(spec), name)
    res = {}
    base = timing['theirs'].get('median_s')
    for n in names:
        t = dict(timing[n])
        if 'median_s' in t:
            t['img_per_s'] = shape[0] / t['median_s']
            t['speedup'] = base / t['median_s']
            ref = outs['theirs']
            t['max_abs_diff'] = max_abs_diff(outs[n], ref)
            t['max_abs_output'] = max_abs(ref)
        res[n] = t
    if spec.task == 'seg':
        ref = seg_labels(outs['theirs'], shape[-2:])
        for n in names[1:]:
            if n in outs:
                res[n]['labels_equal'] = float(
                    (seg_labels(outs[n], shape[-2:]) == ref).float().mean())
    return res


def bench_train(theirs: nn.Module, ours: nn.Module, task: str, shape, rounds: int,
                label: str) -> dict:
    """Interleaved training-step timing of :data:`TRAIN_VARIANTS`, with ratios to theirs."""
    xt = torch.rand(*shape)
    steps = {}
    for vname, (model, cl) in train_models(theirs, ours, TRAIN_VARIANTS).items():
        steps[vname] = TrainStep(model, task, xt, cl)
    tr = time_interleaved(steps, rounds, label)
    base = tr['theirs'].get('median_s')
    for t in tr.values():
        if 'median_s' in t:
            t['speedup'] = base / t['median_s']
            t['time_ratio'] = t['median_s'] / base
    return tr


def bench_model(name: str, args) -> dict:
    """Everything measured on one model in one process (memory aside: :mod:`.memory`)."""
    spec = SPECS[name]
    shape = spec.quick_shape if args.quick else spec.shape
    log(f'{name}: building theirs ({spec.scope} zoo) and ours')
    theirs, ours, our_cfg = build_pair(spec)
    res = dict(label=spec.label, task=spec.task, toolbox=spec.scope, zoo_config=spec.zoo,
               our_config=our_cfg, input_shape=list(shape))
    res.update(params_and_flops(theirs, ours, spec.task, shape, flops=not args.no_flops))
    log(f'{name}: params theirs {res["params"]["theirs"]:,} ours {res["params"]["ours"]:,}; '
        f'conv+linear MACs/img theirs {res["flops"]["conv_linear_macs"]["theirs"] / 1e9:.3f} G '
        f'ours {res["flops"]["conv_linear_macs"]["ours"] / 1e9:.3f} G')
    res['forward'] = bench_forward(theirs, ours, name, shape, args)
    if spec.task == 'seg' and not args.no_accuracy:
        log(f'{name}: bf16 labels of a model fitted to the sample')
        res['fitted_model'] = seg_fitted_agreement(spec, shape, 1 if args.quick
                                                   else spec.fit_iters, args.quick)
        log(f'{name}: labels equal (bf16 vs fp32, fitted model): '
            f'{res["fitted_model"]["labels_equal_bf16"]:.3%}')
    if spec.task == 'det':
        res['detector'] = bench_detector(theirs, ours, shape, args.repeats_for(spec))
    if spec.task == 'pose' and not args.no_train:
        res['train'] = bench_train(theirs, ours, spec.task, shape, args.train_repeats,
                                   f'{name} train')
    return res


def bench_detector(theirs: nn.Module, ours: nn.Module, shape, rounds: int) -> dict:
    """The whole Faster R-CNN forward (RPN, NMS, RoIAlign, box head; ``predict`` without
    rescaling): theirs, ours, and ours with the optimised backbone + neck."""
    from mmdet.structures import DetDataSample

    from hrnet_mm.fast import optimize
    h, w = shape[-2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0))
    samples = [DetDataSample(metainfo=meta) for _ in range(shape[0])]
    fast = copy.deepcopy(ours)
    fast.backbone = optimize(nn.Sequential(ours.backbone, ours.neck))
    fast.neck = None
    models = dict(theirs=theirs, ours=ours, ours_fast=fast)
    x = seg_image(shape)
    outs = {}

    def caller(n):
        def call():
            with torch.no_grad():
                outs[n] = models[n].predict(x, copy.deepcopy(samples), rescale=False)
        return call

    timing = time_interleaved({n: caller(n) for n in models}, rounds, 'det_w32 detector')
    base = timing['theirs']['median_s']
    res = {}
    ref = outs['theirs'][0].pred_instances
    for n, t in timing.items():
        t['speedup'] = base / t['median_s']
        p = outs[n][0].pred_instances
        t['detections'] = int(len(p.bboxes))
        if len(p.bboxes) == len(ref.bboxes):
            t['max_abs_diff_boxes'] = (p.bboxes - ref.bboxes).abs().max().item() \
                if len(ref.bboxes) else 0.0
            t['max_abs_diff_scores'] = (p.scores - ref.scores).abs().max().item() \
                if len(ref.bboxes) else 0.0
            t['labels_equal'] = bool(torch.equal(p.labels, ref.labels))
        res[n] = t
    return res


def _models_of(task: str):
    def run(ctx: Context) -> None:
        for name in [n for n in ctx.names if SPECS[n].task == task]:
            log(f'=== {ctx.names.index(name) + 1}/{len(ctx.names)} {name} ===')
            if not ctx.args.quick:
                ctx.others.append(round(wait_for_idle_cpu(
                    max_wait_s=ctx.args.max_wait_model * 60), 2))
            # the fields measured here replace the old ones; the others (memory) stay
            ctx.results['models'].setdefault(name, {}).update(bench_model(name, ctx.args))
            ctx.loads.append(os.getloadavg()[0])
    run.__name__ = f'{task}_section'
    run.__doc__ = f'Benchmark the {task} models of the run (:func:`bench_model`).'
    return run


register_section('pose', help='pose models: params, FLOPs, forward, training step')(
    _models_of('pose'))
register_section('seg', help='seg models: params, FLOPs, forward, labels of a fitted model')(
    _models_of('seg'))
register_section('det', help='det models: params, FLOPs, backbone+neck forward, the whole '
                 'detector')(_models_of('det'))


@register_section('accuracy', help='bf16 keypoints of an HRNet-W32 fitted to the COCO sample')
def accuracy_section(ctx: Context) -> None:
    """Fit W32 to the sample (cached by full runs) and measure the argmax agreement of our
    optimised modes with mmpose fp32 into ``results['pose_accuracy']``."""
    args = ctx.args
    if args.no_accuracy or 'pose_w32' not in ctx.names:
        return
    iters = 1 if args.quick else args.train_iters
    state, info = fit_pose_model('pose_w32', iters, 0, CACHE_DIR, args.quick)
    acc = pose_bf16_accuracy(state, args.compile, args.quick)
    acc['training'] = info
    ctx.results['pose_accuracy'] = acc
    log('accuracy: ' + ', '.join(f'{k} within 1 px {v["within_1px"]:.2%}'
                                 for k, v in acc.items() if isinstance(v, dict)
                                 and 'within_1px' in v))
    ctx.loads.append(os.getloadavg()[0])
