"""How well reduced-precision and optimised outputs agree with the toolbox's fp32 ones:
keypoint argmax distances (pose) and equal labels (seg), on models fitted to the sample."""
import torch
import torch.nn.functional as F

from hrnet_mm.utils.testing import max_abs, max_abs_diff

from .common import CACHE_DIR
from .fitting import fit_seg_model
from .samples import coco_crops, seg_sample
from .specs import SPECS, Spec, build_pair
from .variants import forward_variants


def argmax2d(hm: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) heatmaps -> (N, K, 2) argmax locations (x, y) in heatmap pixels.

    Example:
        >>> hm = torch.zeros(1, 1, 4, 3)
        >>> hm[0, 0, 2, 1] = 1
        >>> argmax2d(hm).tolist()
        [[[1.0, 2.0]]]
    """
    n, k, h, w = hm.shape
    idx = hm.reshape(n, k, -1).argmax(-1)
    return torch.stack([idx % w, idx // w], -1).float()


def seg_labels(logits: torch.Tensor, size) -> torch.Tensor:
    """mmseg's whole-image postprocess: bilinear resize of the logits to ``size``, argmax."""
    return F.interpolate(logits.float(), size=size, mode='bilinear',
                         align_corners=False).argmax(1)


def _pair_with(spec: Spec, state: dict):
    theirs, ours, _ = build_pair(spec)
    theirs.load_state_dict(state)
    ours.load_state_dict(state)
    theirs.eval()
    ours.eval()
    return theirs, ours


def keypoint_agreement(hm: torch.Tensor, ref: torch.Tensor,
                       annotated: torch.Tensor) -> dict:
    """Fractions of the ``annotated`` keypoints whose heatmap argmax in ``hm`` is equal to /
    within 1 heatmap px of ``ref`` (the reference's :func:`argmax2d`)."""
    d = (argmax2d(hm) - ref).norm(dim=-1)[annotated]
    return dict(equal=float((d == 0).float().mean()),
                within_1px=float((d <= 1).float().mean()))


def pose_bf16_accuracy(state: dict, compile_bf16: bool, quick: bool) -> dict:
    """Heatmap argmax of our optimised / bf16 modes vs theirs in fp32 on the real sample crops
    (with ``quick``, only the unflipped crops at padding 1.25).

    Args:
        state: the weights of an HRNet-W32 fitted to the sample
            (:func:`hrnet_mm.benchmark.fitting.fit_pose_model`).
        compile_bf16: also measure the compiled bf16 mode.
        quick: the quick run's smaller crop set.

    Returns:
        the crop counts, how well fp32 fits the annotations, and per mode the fraction of
        annotated keypoints whose argmax is equal / within 1 heatmap px of theirs.
    """
    theirs, ours = _pair_with(SPECS['pose_w32'], state)
    x, kpts = coco_crops(paddings=(1.25,), flips=(False,)) if quick else coco_crops()
    names = ['theirs', 'ours_fast', 'ours_fast_bf16'] + (['ours_compiled_bf16']
                                                        if compile_bf16 else [])
    variants = forward_variants(theirs, ours, 'pose', names)
    with torch.no_grad():
        hms = {n: torch.cat([v(x[i:i + 8]) for i in range(0, len(x), 8)])
               for n, v in variants.items()}
    ref = argmax2d(hms['theirs'])
    # Keypoints annotated in the image (COCO v = 1 or 2). The others have no location and got
    # no training signal (weight 0), so their heatmaps are flat noise; reported separately.
    annotated = kpts[..., 2] > 0
    res = dict(crops=len(x), persons=len(x) // (1 if quick else 4),
               heatmaps=int(ref.shape[0] * ref.shape[1]),
               annotated_keypoints=int(annotated.sum()),
               gt_within_2px_fp32=float(((ref * 4 - kpts[..., :2]).norm(dim=-1)[annotated]
                                         <= 8).float().mean()))
    for n in names[1:]:
        all_heatmaps = torch.ones_like(annotated)
        res[n] = dict(**keypoint_agreement(hms[n], ref, annotated),
                      within_1px_all_heatmaps=keypoint_agreement(
                          hms[n], ref, all_heatmaps)['within_1px'],
                      max_heatmap_diff=max_abs_diff(hms[n], hms['theirs']),
                      heatmap_peak=max_abs(hms['theirs']))
    return res


def seg_fitted_agreement(spec: Spec, shape, iters: int, quick: bool) -> dict:
    """Label agreement of our bf16 mode with mmseg's fp32 model on a fitted model.

    No trained Cityscapes model is available offline, and random weights give near-ties between
    classes on many pixels. So the model is first fitted to the person masks of the sample
    images (:func:`hrnet_mm.benchmark.fitting.fit_seg_model`); its weights go into theirs (fp32
    reference) and into ours optimised in bf16 (eager), and both label the whole sample images
    at the benchmark size.
    """
    state, info = fit_seg_model(spec, shape, iters, CACHE_DIR, quick)
    theirs, ours = _pair_with(spec, state)
    x, labels = seg_sample(shape[-2:], 1 if quick else 4)
    variants = forward_variants(theirs, ours, 'seg', ('theirs', 'ours_fast', 'ours_fast_bf16'))
    preds = {n: [] for n in variants}
    with torch.no_grad():
        for i in range(len(x)):
            for n, v in variants.items():
                preds[n].append(seg_labels(v(x[i:i + 1]), shape[-2:]))
    preds = {n: torch.cat(p) for n, p in preds.items()}
    ref = preds['theirs']
    return dict(images=len(x), training=info,
                pixel_acc_fp32_vs_masks=float((ref == labels).float().mean()),
                labels_equal_fp32=float((preds['ours_fast'] == ref).float().mean()),
                labels_equal_bf16=float((preds['ours_fast_bf16'] == ref).float().mean()))
