"""Each zoo model side by side with ours: params, FLOPs, forward time and output differences,
the training step, the whole detector; the pose, seg, det and accuracy sections."""
import copy
import os

import torch
import torch.nn as nn

from hrnet_mm.utils.testing import max_abs, max_abs_diff

from .agreement import pose_bf16_accuracy, seg_fitted_agreement, seg_labels
from .common import CACHE_DIR, REPO_ROOT, log
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
        res['detector'] = bench_detector(theirs, ours, shape, args.repeats_for(spec),
                                         args.quick)
    if spec.task == 'pose' and not args.no_train:
        res['train'] = bench_train(theirs, ours, spec.task, shape, args.train_repeats,
                                   f'{name} train')
    return res


#: The whole detector's input: a real sample image with 5 people (the other 3 calibrate int8)
DET_IMAGES = ('000000197388.jpg', '000000000785.jpg', '000000040083.jpg', '000000196141.jpg')
#: Detections compared between variants: score at least this, same label, IoU at least that
DET_MIN_SCORE, DET_IOU = 0.3, 0.9


def det_images(shape, files=DET_IMAGES) -> torch.Tensor:
    """The COCO sample's ``files`` resized to ``shape`` (N, 3, H, W; the first N files),
    normalised as mmdet's ``DetDataPreprocessor`` does (BGR -> RGB, mean / std; H and W are
    multiples of 32, so no padding)."""
    import cv2

    from .common import COCO_SAMPLE, MEAN, STD
    imgs = []
    for f in files[:shape[0]]:
        img = cv2.cvtColor(cv2.imread(os.path.join(COCO_SAMPLE, f)), cv2.COLOR_BGR2RGB)
        img = cv2.resize(img, (shape[3], shape[2]), interpolation=cv2.INTER_LINEAR)
        imgs.append(torch.from_numpy(img).permute(2, 0, 1).float())
    return (torch.stack(imgs) - MEAN) / STD


def detections_agreement(ref, other, min_score: float = DET_MIN_SCORE,
                         iou: float = DET_IOU) -> dict:
    """How far two detectors' outputs (``pred_instances``: bboxes, scores, labels) agree:
    the fraction of ``ref``'s detections with score >= ``min_score`` that some detection of
    ``other`` (any score) with the same label overlaps at IoU >= ``iou``, and the same from
    ``other``'s side.

    Returns:
        ``ref_matched`` / ``other_matched`` (fractions; None when a side has no detection
        above ``min_score``), ``ref_count`` / ``other_count`` (detections above it).

    Example:
        >>> import torch
        >>> from mmengine.structures import InstanceData
        >>> a = InstanceData(bboxes=torch.tensor([[0., 0, 10, 10], [20, 20, 30, 30]]),
        ...                  scores=torch.tensor([0.9, 0.5]), labels=torch.tensor([0, 0]))
        >>> b = InstanceData(bboxes=torch.tensor([[0., 0, 10, 10.5]]),
        ...                  scores=torch.tensor([0.8]), labels=torch.tensor([0]))
        >>> detections_agreement(a, b)
        {'ref_matched': 0.5, 'other_matched': 1.0, 'ref_count': 2, 'other_count': 1}
    """
    from mmdet.structures.bbox import bbox_overlaps

    def matched(x, y):  # fraction of x (above min_score) matched in y
        keep = x.scores >= min_score
        if not keep.any():
            return None, 0
        boxes, labels = x.bboxes[keep].float(), x.labels[keep]
        if len(y.bboxes) == 0:
            return 0.0, int(keep.sum())
        ious = bbox_overlaps(boxes, y.bboxes.float())
        ious[labels[:, None] != y.labels[None, :]] = 0
        return float((ious.max(1).values >= iou).float().mean()), int(keep.sum())

    (r, rn), (o, on) = matched(ref, other), matched(other, ref)
    return dict(ref_matched=r, other_matched=o, ref_count=rn, other_count=on)


def fitted_detector_weights(spec_name: str = 'det_w32') -> dict:
    """A Faster R-CNN of ``spec_name`` fitted to the COCO sample with the Faster R-CNN W18
    recipe (:data:`hrnet_mm.apis.det_sample.RECIPES`; same hyperparameters, no recipe of its
    own), cached like the e2e section's (:func:`~.e2e_weights.det_weights`)."""
    from hrnet_mm.apis.det_sample import RECIPES

    from .e2e_weights import det_weights
    return det_weights(os.path.join(REPO_ROOT, SPECS[spec_name].ours), CACHE_DIR,
                       recipe=RECIPES['faster-rcnn_hrnetv2p-w18-1x_coco'])


def _load_fitted(models, checkpoint: str) -> None:
    """The fitted weights into each of ``models`` (theirs and ours: the same keys; strict)."""
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    for m in models:
        m.load_state_dict(state, strict=True)
        m.eval()


def detector_variants(ours: nn.Module, calibration, quick: bool) -> dict:
    """Ours through ``tools/test.py --fast``'s optimisation
    (:func:`hrnet_mm.apis.fast_mode.optimize_mm_model`): fp32 and bf16 eager, and int8 on
    OpenVINO (calibrated on ``calibration``) where OpenVINO and NNCF are installed (not with
    ``quick``). A variant that fails to build is an ``error`` string."""
    import importlib.util

    from hrnet_mm.apis.fast_mode import optimize_mm_model
    plan = {'ours_fast': ('fp32', None), 'ours_fast_bf16': ('bf16', None)}
    if not quick and all(importlib.util.find_spec(p) for p in ('openvino', 'nncf')):
        plan['ours_fast_int8'] = ('int8', 'openvino')
    out = {}
    for name, (dtype, backend) in plan.items():
        try:
            out[name] = optimize_mm_model(ours, dtype, backend,
                                          calibration if dtype == 'int8' else None)
        except Exception as e:  # noqa: BLE001  (reported: the det graph on a backend)
            out[name] = f'{type(e).__name__}: {str(e).splitlines()[0][:200]}'
            log(f'det_w32 detector: {name} failed to build: {out[name]}')
    return out


def bench_detector(theirs: nn.Module, ours: nn.Module, shape, rounds: int,
                   quick: bool = False) -> dict:
    """The whole Faster R-CNN forward (RPN, NMS, RoIAlign, box head; ``predict`` without
    rescaling) on a real sample image: theirs (mmdet), ours, and ours in fast mode (fp32,
    bf16, int8), each variant's detections compared with theirs at IoU
    :data:`DET_IOU` (:func:`detections_agreement`).

    Weights: fitted to the COCO sample (:func:`fitted_detector_weights`), loaded into theirs
    and ours; the quick run keeps the random ones (its detections mean nothing).

    Returns:
        per variant: timing, ``speedup`` to theirs, ``detections``, ``agreement`` with theirs
        and, where the numbers of detections match, max abs differences; ``weights``.
    """
    from mmdet.structures import DetDataSample
    h, w = shape[-2:]
    weights = None
    if not quick:
        weights = fitted_detector_weights()
        _load_fitted((theirs, ours), weights['checkpoint'])
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0))
    samples = [DetDataSample(metainfo=meta) for _ in range(shape[0])]
    x = det_images(shape)
    calibration = [det_images((1,) + tuple(shape[1:]), (f,)) for f in DET_IMAGES[1:]]
    models = dict(theirs=theirs, ours=ours)
    built = detector_variants(ours, calibration, quick)
    models.update({n: m for n, m in built.items() if not isinstance(m, str)})
    outs = {}

    def caller(n):
        def call():
            with torch.no_grad():
                outs[n] = models[n].predict(x, copy.deepcopy(samples), rescale=False)
        return call

    timing = time_interleaved({n: caller(n) for n in models}, rounds, 'det_w32 detector')
    base = timing['theirs']['median_s']
    res = {n: dict(error=e) for n, e in built.items() if isinstance(e, str)}
    ref = outs['theirs'][0].pred_instances
    for n, t in timing.items():
        if 'median_s' not in t:
            res[n] = t
            continue
        t['speedup'] = base / t['median_s']
        p = outs[n][0].pred_instances
        t['detections'] = int(len(p.bboxes))
        t['agreement'] = detections_agreement(ref, p)
        if len(p.bboxes) == len(ref.bboxes):
            t['max_abs_diff_boxes'] = (p.bboxes - ref.bboxes).abs().max().item() \
                if len(ref.bboxes) else 0.0
            t['max_abs_diff_scores'] = (p.scores - ref.scores).abs().max().item() \
                if len(ref.bboxes) else 0.0
            t['labels_equal'] = bool(torch.equal(p.labels, ref.labels))
        res[n] = t
    res = {n: res[n] for n in ('theirs', 'ours', *built)}  # in order, failed builds too
    return dict(variants=res, weights=None if weights is None else weights['fit'],
                image=DET_IMAGES[0], min_score=DET_MIN_SCORE, iou=DET_IOU)


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
