"""Summaries and report of the ``peers`` section: best peer vs best of ours, the markdown
tables, and issue 12's targets (item 5), all computed from ``results['peers']``.

Measuring lives in :mod:`.peers`; this module only reads what it stored.
"""
from typing import List, Optional

from .report import machine_text
from .timing import gemm_peak_text

PEERS = ('mm_eager', 'mm_ort_fp32', 'mm_openvino_fp32', 'mm_openvino_bf16')
FP32_TOL = 1e-4      # issue 12: fp32 outputs within 1e-4 of eager (relative to max |output|
                     # when that exceeds 1: fitted seg logits reach 1e4, where fp32 itself
                     # differs by 0.1 between two runtimes)
POSE_ACC = 0.99      # argmax within 1 heatmap px for >= 99% of the annotated keypoints
SEG_ACC = 0.995      # labels equal on >= 99.5% of the pixels


def variant_dtype(variant: str) -> str:
    """``'openvino_int8'`` -> ``'int8'``."""
    return variant.rsplit('_', 1)[1]


def _accuracy_ok(row: dict, task: str, fitted: bool) -> Optional[bool]:
    """Whether a reduced-precision row meets issue 12's accuracy bar (None: not measured)."""
    if task == 'seg':
        return row['labels_equal'] >= SEG_ACC if fitted and 'labels_equal' in row else None
    acc = row.get('accuracy')
    return acc['within_1px'] >= POSE_ACC if acc else None


def summarize(rows: dict, task: str, fitted: bool) -> dict:
    """Best peer and best of ours, fp32 and reduced precision, and their ratios (throughput).

    fp32 rows of ours count when their max abs diff to mm eager is <= :data:`FP32_TOL`
    (times the largest output where that exceeds 1);
    reduced-precision rows when their accuracy meets the bar (or, where no fitted model
    exists, they count with ``accuracy_measured=False``).
    """
    timed = {k: r for k, r in rows.items() if 'img_per_s' in r}

    def best(keys):
        keys = [k for k in keys if k in timed]
        return max(keys, key=lambda k: timed[k]['img_per_s']) if keys else None

    peer32 = best([k for k in PEERS if k != 'mm_openvino_bf16'])
    ours32 = best([k for k in timed if k not in PEERS and variant_dtype(k) == 'fp32'
                   and timed[k]['max_abs_diff']
                   <= FP32_TOL * max(1.0, timed[k].get('max_abs_output', 1.0))])
    reduced = [k for k in timed if k not in PEERS and variant_dtype(k) in ('bf16', 'int8')]
    ok = {k: _accuracy_ok(timed[k], task, fitted) for k in reduced}
    measured = any(v is not None for v in ok.values())
    ours_red = best([k for k in reduced if ok[k] or (ok[k] is None and not measured)])
    out = dict(best_peer_fp32=peer32, best_ours_fp32=ours32, best_ours_reduced=ours_red,
               accuracy_measured=measured)
    if peer32 and ours32:
        out['ratio_fp32'] = timed[ours32]['img_per_s'] / timed[peer32]['img_per_s']
    bf16 = timed.get('mm_openvino_bf16')
    if bf16 and ours_red:
        out['ratio_reduced_vs_openvino_bf16'] = timed[ours_red]['img_per_s'] / bf16['img_per_s']
    if bf16 and 'openvino_int8' in timed and ok.get('openvino_int8') is not False:
        out['ratio_int8_vs_openvino_bf16'] = timed['openvino_int8']['img_per_s'] / \
            bf16['img_per_s']
    best_peer = best(PEERS)
    best_ours = best([k for k in (ours32, ours_red) if k])
    out.update(best_peer=best_peer, best_ours=best_ours)
    if best_peer and best_ours:
        out['ratio_best'] = timed[best_ours]['img_per_s'] / timed[best_peer]['img_per_s']
    return out


def _cell(row: Optional[dict], batch: int) -> str:
    if not row:
        return '-'
    if 'error' in row:
        return 'failed'
    return f'{row["latency_ms"]:.1f} ms' if batch == 1 else f'{row["img_per_s"]:.1f} img/s'


def _acc_cell(row: dict, task: str) -> str:
    if task == 'seg' and 'labels_equal' in row:
        return f'labels {row["labels_equal"]:.2%}'
    acc = row.get('accuracy')
    return f'argmax 1 px {acc["within_1px"]:.2%}' if acc else ''


def peers_markdown(results: dict) -> List[str]:
    """The peers tables (one per model: variants x batches) and the ratio summary."""
    peers = results.get('peers')
    if not peers or not peers.get('models'):
        return []
    L = ['', '## Peers: hrnet_mm backends vs what deployers run', '',
         f'Same weights, same inputs, {peers.get("threads")} threads for everyone, all variants '
         f'of a table timed interleaved. Peers: `mm_eager` (the toolbox in PyTorch) and the '
         f'toolbox model\'s own ONNX in ONNX Runtime / OpenVINO ({peers.get("settings")}). '
         f'Ours: `hrnet_mm.fast.optimize(model, dtype, backend=...)`; int8 calibrated on the '
         f'real sample (COCO crops / the Cityscapes frame). Batch 1: latency (ms, median); '
         f'larger batches: img/s. Diff: max abs output difference to `mm_eager` (beside the '
         f'largest output). Accuracy: vs `mm_eager` fp32 on models fitted to the sample (pose: '
         f'HRNet-W32 and Lite-HRNet-18 / 30, W48 keeps random weights; keypoint argmax '
         f'within 1 heatmap px on the real crops; seg: labels '
         f'equal on the sample image). Where the time goes (OpenVINO\'s per-layer profile, '
         f'convolutions rated in GFLOP/s): `python -m hrnet_mm.benchmark.profile MODEL '
         f'[--ours] [--dtype bf16|int8] [--batch 8]`.', '']
    L += ['| model | batch | best peer | best hrnet_mm | ratio | fp32: ours / peer | '
          'reduced: ours / OpenVINO bf16 | int8 / OpenVINO bf16 |', '|---|---|---|---|---|---|---|---|']
    for name, m in peers['models'].items():
        for b, r in m['batches'].items():
            s = r['summary']

            def ratio(k, s=s):
                return f'{s[k]:.2f}x' if k in s else '-'
            def named(k, s=s):
                return f' ({s[k]})' if s.get(k) else ''
            L.append(f'| {m["label"]} | {b} | {s.get("best_peer") or "-"} | '
                     f'{s.get("best_ours") or "-"} | {ratio("ratio_best")} | '
                     f'{ratio("ratio_fp32")}{named("best_ours_fp32")} | '
                     f'{ratio("ratio_reduced_vs_openvino_bf16")}{named("best_ours_reduced")} '
                     f'| {ratio("ratio_int8_vs_openvino_bf16")} |')
    for name, m in peers['models'].items():
        batches = list(m['batches'])
        L += ['', f'### {m["label"]}: {m["input_hw"][0]}x{m["input_hw"][1]}, {m["weights"]} '
              f'weights', ''] + _measured_on(m) + [
              '| variant | ' + ' | '.join(f'batch {b}' for b in batches)
              + ' | diff | accuracy |' + (' GEMM peak |' if name == 'pose_w32' else ''),
              '|---' * (len(batches) + 3 + (name == 'pose_w32')) + '|']
        variants = list(m['batches'][batches[0]]['variants'])
        for k in variants:
            rows = [m['batches'][b]['variants'].get(k) for b in batches]
            last = rows[-1] or {}
            diff = f'{last["max_abs_diff"]:.1e} / {last["max_abs_output"]:.2f}' \
                if 'max_abs_diff' in last else '-'
            line = f'| {"**" + k + "**" if k not in PEERS else k} | ' + ' | '.join(
                _cell(r, int(b)) for r, b in zip(rows, batches)) + \
                f' | {diff} | {_acc_cell(last, m["task"])} |'
            if name == 'pose_w32':
                share = last.get('gemm_peak_share')
                line += f' {share:.0%} |' if share is not None else ' - |'
            L.append(line)
        if name == 'pose_w32' and m.get('gemm_peak_gflops'):
            L += ['', 'GEMM peak: conv + linear multiply-adds x 2 x img/s at the largest batch, '
                  'as a share of the best square-matmul throughput measured in the same run, '
                  'fp32 rows against the fp32 peak and bf16 rows against the bf16 one: '
                  + gemm_peak_text(m['gemm_peak_gflops']) + '. int8 rows: no int8 peak '
                  'measured.']
    return L


def _measured_on(m: dict) -> List[str]:
    """Where and when a peers model was measured (runs before the record: nothing)."""
    measured = m.get('measured')
    if not measured:
        return []
    return [f'Measured {measured["date"]} on {machine_text(measured["machine"])}.', '']


def _ratio_target(results: dict, name: str, key: str, goal: float, what: str,
                  batches=None) -> List[dict]:
    m = results['peers']['models'].get(name)
    if not m:
        return []
    out = []
    for b, r in m['batches'].items():
        if batches and int(b) not in batches:
            continue
        s = r['summary']
        value = s.get(key)
        measured = (f'{value:.2f}x' if value is not None else 'not measured')
        if key == 'ratio_fp32':
            measured += f' ({s.get("best_ours_fp32")} vs {s.get("best_peer_fp32")})'
        elif key == 'ratio_reduced_vs_openvino_bf16' and value is not None:
            measured += f' ({s.get("best_ours_reduced")}' + \
                ('' if s.get('accuracy_measured') else ', accuracy not measured on this model') \
                + ')'
        if value is None and key != 'ratio_fp32' and s.get('accuracy_measured'):
            measured = 'no reduced-precision variant met the accuracy bar'
            if key == 'ratio_int8_vs_openvino_bf16':
                measured = 'OpenVINO int8 missed the accuracy bar'
        out.append(dict(target=f'{m["label"]} batch {b}: {what}', goal=f'>= {goal}x',
                        measured=measured, met=value is not None and value >= goal))
    return out


def peers_targets(results: dict) -> List[dict]:
    """Issue 12's targets (item 5) from ``results['peers']``."""
    if not results.get('peers', {}).get('models'):
        return []
    out = []
    out += _ratio_target(results, 'pose_lite18', 'ratio_fp32', 1.1,
                         'hrnet_mm best fp32 vs best fp32 peer (diff <= 1e-4)')
    out += _ratio_target(results, 'pose_w32', 'ratio_fp32', 1.0,
                         'hrnet_mm best fp32 vs best fp32 peer (diff <= 1e-4)')
    for name in ('pose_w32', 'pose_lite18'):
        out += _ratio_target(results, name, 'ratio_reduced_vs_openvino_bf16', 1.1,
                             'hrnet_mm best bf16/int8 (accuracy met) vs OpenVINO bf16')
    out += _ratio_target(results, 'pose_w32', 'ratio_int8_vs_openvino_bf16', 1.3,
                         'hrnet_mm OpenVINO int8 (accuracy met) vs OpenVINO bf16',
                         batches=(2, 8))
    return out
