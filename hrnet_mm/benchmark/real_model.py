"""The ``real`` section: PP-TinyPose, a real trained model, against its own released IR.

The peer is what a PaddleDetection user deploys: the released OpenVINO IR (256x192) run by
OpenVINO in fp32 and bf16 (``ir_openvino_*``; at batch 8 also as eight batch-1 calls,
``ir_openvino_fp32_8x1``, since the IR reshaped to batch 8 runs slower per image), and ONNX
Runtime on a static ONNX export of the converted checkpoint (``onnx_ort_fp32``, what a user
without OpenVINO runs). Ours: every backend x dtype of :func:`hrnet_mm.fast.optimize` on the
converted checkpoint (int8 calibrated on the sample's person crops; inductor only with
``--compile``). Same weights, same threads, batch 1 and 8 at 256x192, interleaved rounds: the
runtimes in one group, PyTorch's eager / inductor variants in another (see :func:`measure`).

Beside each row: the largest heatmap difference to the IR in fp32 and the share of the
annotated keypoints whose heatmap argmax is within 1 px of the IR's, on the real crops. The
COCO keypoint AP of each dtype through the whole test loop is measured by ``tools/test.py
--fast`` (docs/real_model.md), not here.

    python tools/benchmark.py --only real
"""
import os.path as osp
import tempfile
from typing import Dict, List

import torch
import torch.nn as nn

from .agreement import argmax2d, keypoint_agreement
from .common import log
from .machines import machine_text
from .peers import _numpy_runner, export_toolbox_onnx, our_runners, our_variants
from .report import machine_info
from .samples import coco_crops
from .sections import Context, register_section
from .timing import time_interleaved

HW = (256, 192)
THREADS = 2


class _Network(nn.Module):
    """Backbone + 1x1 head of the converted checkpoint: image batch -> heatmaps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone, self.final_layer = model.backbone, model.head.final_layer

    def forward(self, x):
        return self.final_layer(self.backbone(x)[0])


def _ort_on_onnx(network: nn.Module, batch: int, tmp: str):
    """ONNX Runtime on a static export of ``network``: the peers section's export (opset 17,
    TorchScript exporter) and session settings, for the converted checkpoint."""
    from hrnet_mm.fast.ort_backend import ort_session
    path = osp.join(tmp, f'pp_tinypose_b{batch}.onnx')
    export_toolbox_onnx(network, torch.rand(batch, 3, *HW), path)
    session = ort_session(path, THREADS)
    return _numpy_runner(lambda a: session.run(None, {'input': a}))


def measure(compile: bool = False, quick: bool = False) -> dict:
    """Time and compare the IR, ORT on its ONNX and every hrnet_mm variant (see the module)."""
    from hrnet_mm.apis.real_model import pp_tinypose_graph
    from hrnet_mm.checkpoint_deploy import convert_deploy_graph, pp_tinypose_model
    from hrnet_mm.fast.deploy_graph import DeployGraphModule
    torch.set_num_threads(THREADS)
    graph = pp_tinypose_graph('256x192')
    model = pp_tinypose_model().eval()
    model.load_state_dict(convert_deploy_graph(graph))
    network = _Network(model).eval()
    crops, kpts = coco_crops(size=HW, paddings=(1.25,), flips=(False,)) if quick else \
        coco_crops(size=HW)
    annotated = kpts[..., 2] > 0
    calibration = [crops[i:i + 8] for i in range(0, len(crops), 8)]
    ir = {d: DeployGraphModule(graph, dtype=d, threads=THREADS) for d in ('fp32', 'bf16')}
    with torch.no_grad():
        ref_hm = torch.cat([ir['fp32'](crops[i:i + 1]) for i in range(len(crops))])
    ref = argmax2d(ref_hm)
    out = dict(model='PP-TinyPose 256x192 (wider naive Lite-HRNet-18, released IR)',
               threads=THREADS, crops=len(crops), machine=machine_info(THREADS), batches={})
    with tempfile.TemporaryDirectory() as tmp:
        fns: Dict[str, object] = {'ir_openvino_fp32': ir['fp32'], 'ir_openvino_bf16': ir['bf16']}
        fns.update(our_runners(network, our_variants(compile), calibration, crops[:1], THREADS))
        for batch in ((1, 2) if quick else (1, 8)):
            x = crops[:batch] if len(crops) >= batch else crops[:1].repeat(batch, 1, 1, 1)
            calls = dict(fns, onnx_ort_fp32=_ort_on_onnx(network, batch, tmp))
            timed = {name: (lambda f=f: f(x)) for name, f in calls.items()}
            if batch > 1:
                timed['ir_openvino_fp32_8x1'] = lambda: [ir['fp32'](x[i:i + 1])
                                                         for i in range(batch)]
            # PyTorch's own variants are timed in a group of their own: its OpenMP threads
            # keep spinning after a call and slow whichever runtime follows (measured: the IR
            # at batch 1 11.0 ms alone, 30-90 ms interleaved with eager PyTorch).
            torch_names = [n for n in timed if n.startswith(('eager_', 'inductor_'))]
            res = {}
            with torch.no_grad():
                for group, names in (('runtimes', [n for n in timed if n not in torch_names]),
                                     ('pytorch', torch_names)):
                    if names:
                        res.update(time_interleaved({n: timed[n] for n in names},
                                                    rounds=1 if quick else 9,
                                                    label=f'real b{batch} {group}'))
            rows = {}
            for name, r in res.items():
                row = dict(median_ms=None if 'error' in r else r['median_s'] * 1e3,
                           error=r.get('error'))
                if batch == 1 and name in calls and 'error' not in r:  # same at any batch
                    with torch.no_grad():
                        hm = torch.cat([calls[name](crops[i:i + 1]) for i in range(len(crops))])
                    row['max_abs_diff'] = float((hm - ref_hm).abs().max())
                    row.update(keypoint_agreement(hm, ref, annotated))
                rows[name] = row
            peers = [n for n in rows if n.startswith(('ir_', 'onnx_')) and rows[n]['median_ms']]
            best_peer = min(peers, key=lambda n: rows[n]['median_ms'])
            for name, row in rows.items():
                if row['median_ms']:
                    row['vs_best_peer'] = rows[best_peer]['median_ms'] / row['median_ms']
                    row['vs_ir_fp32'] = rows['ir_openvino_fp32']['median_ms'] / row['median_ms']
            out['batches'][str(batch)] = dict(rows=rows, best_peer=best_peer)
            log(f'real b{batch}: ' + ', '.join(f'{n} {r["median_ms"]:.1f} ms' for n, r in
                                               rows.items() if r['median_ms']))
    out['pipeline'] = measure_pipeline(quick)
    return out


PIPELINE_POSE = {  # variant -> ('ir', dtype) or ('ours', backend, dtype)
    'ir_openvino_fp32': ('ir', 'fp32'), 'ir_openvino_bf16': ('ir', 'bf16'),
    'eager_fp32': ('ours', 'eager', 'fp32'), 'onnxruntime_fp32': ('ours', 'onnxruntime', 'fp32'),
    'openvino_fp32': ('ours', 'openvino', 'fp32'), 'openvino_bf16': ('ours', 'openvino', 'bf16'),
}


def measure_pipeline(quick: bool = False) -> dict:
    """The whole demo pipeline (PicoDet person detector in OpenVINO, the pose model on every
    person's crop in one batch, the config's flip test) over the 4 COCO + 5 MPII sample images,
    with the released IR or hrnet_mm's variants as the pose model; images/s, interleaved."""
    import glob

    import cv2

    from hrnet_mm.apis.deploy_graph import deploy_graph_pose_model
    from hrnet_mm.apis.detectors import build_person_detector
    from hrnet_mm.apis.real_model import (SHARED_DATA, pp_tinypose_checkpoint,
                                          pp_tinypose_config, pp_tinypose_graph)
    from hrnet_mm.apis.topdown import TopdownPipeline, init_pose_model
    images = [cv2.imread(f) for f in sorted(
        glob.glob(osp.join(SHARED_DATA, 'coco_sample', '*.jpg')) +
        glob.glob(osp.join(SHARED_DATA, 'mpii', '*.jpg')))]
    detector = build_person_detector(osp.join(
        SHARED_DATA, 'picodet_pedestrian', 'picodet_s_320_lcnet_pedestrian.xml'),
        threads=THREADS)
    config, checkpoint = pp_tinypose_config(), pp_tinypose_checkpoint()
    stock = init_pose_model(config, checkpoint)
    pipelines = {}
    for name, how in PIPELINE_POSE.items():
        if how[0] == 'ir':
            model = deploy_graph_pose_model(stock, pp_tinypose_graph(), how[1], THREADS)
        else:
            model = init_pose_model(config, checkpoint, fast=dict(backend=how[1], dtype=how[2]))
        pipelines[name] = TopdownPipeline(model, detector)

    def run(pipeline):
        return [pipeline.predict(image) for image in images]

    people = sum(len(detector(image)) for image in images)  # every pipeline's persons
    with torch.no_grad():
        res = time_interleaved({n: (lambda p=p: run(p)) for n, p in pipelines.items()},
                               rounds=1 if quick else 5, label='real pipeline')
    rows = {n: dict(images_per_s=len(images) / r['median_s']) for n, r in res.items()
            if 'median_s' in r}
    for row in rows.values():
        row['vs_ir_fp32'] = row['images_per_s'] / rows['ir_openvino_fp32']['images_per_s']
    log('real pipeline: ' + ', '.join(f'{n} {r["images_per_s"]:.2f} img/s' for n, r in
                                      rows.items()))
    return dict(images=len(images), people=people, rows=rows)


def real_markdown(results: dict) -> List[str]:
    """The section's tables (one machine: the one that measured it)."""
    real = results.get('real')
    if not real:
        return []
    lines = ['## PP-TinyPose: a real trained model against its own released IR', '',
             f'Measured on {machine_text(real["machine"])}, {real["threads"]} threads, '
             f'256x192, {real["crops"]} real person crops; the runtimes timed interleaved, '
             f'PyTorch\'s eager variants in a group of their own; accuracy against the IR in '
             f'OpenVINO fp32 (argmax within 1 heatmap px of the annotated keypoints).', '']
    for batch, part in real['batches'].items():
        lines += [f'Batch {batch} (best peer: `{part["best_peer"]}`)', '',
                  '| variant | ms | img/s | vs best peer | vs IR fp32 | max abs diff | '
                  'within 1 px |', '|---|---|---|---|---|---|---|']
        for name, row in sorted(part['rows'].items(), key=lambda kv: kv[1]['median_ms'] or 1e9):
            if not row['median_ms']:
                lines.append(f'| `{name}` | failed: {row["error"]} | | | | | |')
                continue
            acc = (f'{row["max_abs_diff"]:.1e} | {row["within_1px"] * 100:.1f}%'
                   if 'max_abs_diff' in row else '- | -')
            lines.append(f'| `{name}` | {row["median_ms"]:.1f} | '
                         f'{int(batch) * 1e3 / row["median_ms"]:.1f} | '
                         f'{row["vs_best_peer"]:.2f}x | {row["vs_ir_fp32"]:.2f}x | {acc} |')
        lines.append('')
    pipe = real.get('pipeline')
    if pipe:
        lines += [f'Whole demo pipeline (`tools/demo.py`: PicoDet-S person detector in OpenVINO, '
                  f'then the pose model on every person in one batch, flip test) over the '
                  f'{pipe["images"]} sample images ({pipe["people"]} people found), by pose '
                  f'model:', '', '| pose model | images/s | vs the IR in fp32 |', '|---|---|---|']
        for name, row in sorted(pipe['rows'].items(), key=lambda kv: -kv[1]['images_per_s']):
            lines.append(f'| `{name}` | {row["images_per_s"]:.2f} | {row["vs_ir_fp32"]:.2f}x |')
        lines.append('')
    return lines


@register_section('real', help='PP-TinyPose (real weights) vs its released IR and ORT',
                  render=real_markdown, default=False)
def real_section(ctx: Context) -> None:
    ctx.results['real'] = measure(compile=getattr(ctx.args, 'compile', False),
                                  quick=getattr(ctx.args, 'quick', False))
