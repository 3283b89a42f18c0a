"""The issues' targets, evaluated from the results (never asserted in tests: timing)."""
from typing import List, Optional


def _best(fwd: dict, dtype: str) -> Optional[str]:
    keys = [k for k in fwd if k.startswith('ours_') and ('bf16' in k) == (dtype == 'bf16')
            and 'speedup' in fwd[k]]
    return max(keys, key=lambda k: fwd[k]['speedup']) if keys else None


def evaluate_targets(results: dict) -> List[dict]:
    """The targets of issue 6 (forward speed, bf16 accuracy, memory-saving training), each
    ``dict(target, goal, measured, met)``, for the models present in ``results``."""
    models, out = results['models'], []

    def add(name, target, measured, met):
        out.append(dict(target=name, goal=target, measured=measured, met=bool(met)))

    lite = models.get('pose_lite18', {}).get('forward')
    if lite:
        k = _best(lite, 'fp32')
        add('Lite-HRNet-18 fp32 forward vs mmpose', '>= 2.5x, outputs within 1e-4',
            f'{lite[k]["speedup"]:.2f}x ({k}), max abs diff {lite[k]["max_abs_diff"]:.1e}',
            lite[k]['speedup'] >= 2.5 and lite[k]['max_abs_diff'] <= 1e-4)
    w32 = models.get('pose_w32', {})
    if w32.get('forward'):
        fwd = w32['forward']
        k = _best(fwd, 'fp32')
        macs = w32['flops']['conv_linear_macs']['ours'] * w32['input_shape'][0]
        gemm = results.get('gemm_peak_gflops', {}).get('float32')
        bound = f', {2 * macs / fwd[k]["median_s"] / 1e9 / gemm:.0%} of the fp32 GEMM peak' \
            if gemm else ''
        add('HRNet-W32 fp32 forward vs mmpose', '>= 1.1x, outputs within 1e-4',
            f'{fwd[k]["speedup"]:.2f}x ({k}){bound}, max abs diff {fwd[k]["max_abs_diff"]:.1e}',
            fwd[k]['speedup'] >= 1.1 and fwd[k]['max_abs_diff'] <= 1e-4)
        kb = _best(fwd, 'bf16')
        acc = results.get('pose_accuracy', {})
        within = acc.get(kb, {}).get('within_1px')
        add('HRNet-W32 bf16 forward vs mmpose fp32',
            '>= 2x, argmax within 1 px for >= 99% of the annotated keypoints',
            f'{fwd[kb]["speedup"]:.2f}x ({kb}), argmax within 1 px: '
            + (f'{within:.2%}' if within is not None else 'not measured'),
            fwd[kb]['speedup'] >= 2 and within is not None and within >= 0.99)
    seg = models.get('seg_w48', {}).get('forward')
    if seg:
        kb = _best(seg, 'bf16')
        shape = models['seg_w48']['input_shape']
        fitted = models['seg_w48'].get('fitted_model', {}).get('labels_equal_bf16')
        add(f'HRNetV2-W48 seg {shape[2]}x{shape[3]} bf16 vs mmseg fp32',
            '>= 2x, labels equal on >= 99.5% of pixels',
            f'{seg[kb]["speedup"]:.2f}x ({kb}); labels equal: '
            + (f'{fitted:.2%} on a model fitted to the sample (ours_fast_bf16), '
               if fitted else '')
            + f'{seg[kb]["labels_equal"]:.2%} with random weights ({kb})',
            seg[kb]['speedup'] >= 2 and (fitted or seg[kb]['labels_equal']) >= 0.995)
    tr, mem = w32.get('train'), w32.get('memory', {}).get('train')
    if tr and mem and 'ratio' in mem.get('ours_memsave', {}):
        r_mem, r_t = mem['ours_memsave']['ratio'], tr['ours_memsave']['time_ratio']
        add('HRNet-W32 training step, batch 8, memory-saving mode',
            '<= 0.5x mmpose activation memory at <= 1.3x step time',
            f'{r_mem:.2f}x memory ({mem["ours_memsave"]["extra_mib"]:.0f} vs '
            f'{mem["theirs"]["extra_mib"]:.0f} MiB), {r_t:.2f}x step time',
            r_mem <= 0.5 and r_t <= 1.3)
    return out



def all_targets(results: dict, sections) -> List[dict]:
    """:func:`evaluate_targets` and the rows of every section with a ``targets`` function."""
    out = evaluate_targets(results)
    for section in sections:
        if section.targets is not None:
            out += section.targets(results)
    return out
