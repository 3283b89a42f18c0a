"""ONNX export of every preset, the necks and whole pose / segmentation models, checked with
onnxruntime against PyTorch (max abs diff <= 1e-4), at sizes divisible by 32 and not.

Each model is exported once with dynamic batch / height / width and run at two sizes, so a
size frozen into the graph by the trace fails here. Export cost grows with the number of
graph nodes (Lite-HRNet) and with the weights (W48, W64): about a minute for the whole file on
one core.
"""
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn

from helpers import randomize_
from hrnet_mm.models import (ARCH_PRESETS, HRNet, HRNetClassifier, HRNetV2Neck, HRNetV2pNeck,
                             LiteHRNet)
from hrnet_mm.models.lite_arch import LITE_ARCH_PRESETS

pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')
from hrnet_mm.export import (ExportError, build_model, export_onnx,  # noqa: E402
                             prepare_for_export, unseen_shape, verify_onnx)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ATOL = 1e-4
EXPORT_SIZE = (1, 3, 64, 64)  # divisible by 32
ODD_SIZE = (2, 3, 97, 75)     # not divisible by 32, other batch
SIZES = [EXPORT_SIZE, ODD_SIZE]


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tracing and onnxruntime on 2 threads crawl when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _check(result, n_outputs):
    assert len(result.output_names) == n_outputs
    assert set(result.max_abs_diff) == set(SIZES)
    assert max(result.max_abs_diff.values()) <= ATOL, result.max_abs_diff
    assert osp.isfile(result.path)


@pytest.mark.parametrize('arch', sorted(ARCH_PRESETS))
def test_every_hrnet_preset_exports_with_dynamic_size(arch, tmp_path):
    model = randomize_(HRNet(arch, multiscale_output=True))
    result = export_onnx(model, str(tmp_path / f'{arch}.onnx'), EXPORT_SIZE,
                         verify_shapes=SIZES)
    _check(result, 4)


@pytest.fixture(scope='module')
def lite_export(tmp_path_factory):
    """Export each Lite-HRNet preset once (dynamic axes), verified at sizes divisible by 32;
    returns ``(exported module, path, result)``. Lite-HRNet graphs are the slow ones."""
    cache = {}

    def get(arch):
        if arch not in cache:
            model = prepare_for_export(randomize_(LiteHRNet(arch, out_streams='all')))
            path = str(tmp_path_factory.mktemp('lite') / f'{arch}.onnx')
            result = export_onnx(model, path, EXPORT_SIZE,
                                 verify_shapes=[EXPORT_SIZE, (2, 3, 96, 128)])
            cache[arch] = model, path, result
        return cache[arch]
    return get


@pytest.mark.parametrize('arch', sorted(LITE_ARCH_PRESETS))
def test_every_lite_hrnet_preset_exports_with_dynamic_size(arch, lite_export):
    """mmpose's adaptive pooling to the smallest stream does not export (Lite-HRNet#3)."""
    model, _, result = lite_export(arch)
    assert len(result.output_names) == len(model.backbone.out_channels) == 4
    assert max(result.max_abs_diff.values()) <= ATOL, result.max_abs_diff


@pytest.mark.parametrize('arch', sorted(LITE_ARCH_PRESETS))
def test_lite_hrnet_export_runs_at_sizes_not_divisible_by_32(arch, lite_export):
    model, path, _ = lite_export(arch)
    diffs = verify_onnx(path, model, [ODD_SIZE, (1, 3, 100, 76)])
    assert max(diffs.values()) <= ATOL, diffs


@pytest.mark.parametrize('upsample', [
    'nearest',
    dict(mode='bilinear', align_corners=False),
    dict(mode='bilinear', align_corners=True),
    dict(mode='bilinear', align_corners=False, scale_first=True),  # mmseg
])
def test_backbone_with_v2_neck_every_upsample_mode(upsample, tmp_path):
    model = randomize_(HRNet('w18_small_v1', upsample=upsample))
    neck = randomize_(HRNetV2Neck(list(model.out_channels), out_channels=32, upsample=upsample))
    result = export_onnx(model, str(tmp_path / 'v2.onnx'), EXPORT_SIZE, neck=neck,
                         verify_shapes=SIZES)
    _check(result, 1)


@pytest.mark.parametrize('pooling_type', ['AVG', 'MAX'])
def test_backbone_with_v2p_neck(pooling_type, tmp_path):
    model = randomize_(HRNet('w18_small_v1'))
    neck = randomize_(HRNetV2pNeck(list(model.out_channels), out_channels=32,
                                   pooling_type=pooling_type, norm_cfg=dict(type='BN')))
    result = export_onnx(model, str(tmp_path / 'v2p.onnx'), EXPORT_SIZE, neck=neck,
                         verify_shapes=SIZES)
    _check(result, 5)
    assert [o.shape[-1] for o in ort.InferenceSession(result.path).get_outputs()] == \
        ['feat{}_width'.format(i) for i in range(5)]


def test_classifier_exports_with_dynamic_batch_and_size(tmp_path):
    model = randomize_(HRNetClassifier('w18_small_v1', num_classes=7))
    result = export_onnx(model, str(tmp_path / 'cls.onnx'), EXPORT_SIZE, verify_shapes=SIZES)
    _check(result, 1)


def test_static_export_has_fixed_dims(tmp_path):
    model = randomize_(HRNet('w18_small_v1', multiscale_output=False))
    result = export_onnx(model, str(tmp_path / 'static.onnx'), (1, 3, 64, 48), dynamic=False)
    assert list(result.max_abs_diff) == [(1, 3, 64, 48)]  # nothing else to verify
    session = ort.InferenceSession(result.path)
    assert session.get_inputs()[0].shape == [1, 3, 64, 48]
    assert session.get_outputs()[0].shape == [1, 16, 16, 12]


def test_dynamic_batch_only(tmp_path):
    model = randomize_(HRNet('w18_small_v1'))
    result = export_onnx(model, str(tmp_path / 'batch.onnx'), (1, 3, 64, 48),
                         dynamic=('batch',), opset=13)
    assert sorted(result.max_abs_diff) == [(1, 3, 64, 48), (2, 3, 64, 48)]
    assert ort.InferenceSession(result.path).get_inputs()[0].shape == ['batch', 3, 64, 48]


def _pose_config(arch='w18_small_v1', width=16):
    return dict(default_scope='mmpose', model=dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='hrnet_mm.HRNet', arch=arch, multiscale_output=False),
        head=dict(type='HeatmapHead', in_channels=width, out_channels=17,
                  deconv_out_channels=None,
                  loss=dict(type='KeypointMSELoss', use_target_weight=True),
                  decoder=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16),
                               sigma=2)),
        test_cfg=dict(flip_test=False)))


def test_pose_model_heatmaps(tmp_path):
    model = randomize_(build_model(_pose_config()))
    result = export_onnx(model, str(tmp_path / 'pose.onnx'), EXPORT_SIZE, verify_shapes=SIZES)
    _check(result, 1)
    assert result.output_names == ('heatmaps',)
    heatmaps = ort.InferenceSession(result.path).run(None, {'input': torch.rand(2, 3, 97, 75)
                                                           .numpy()})[0]
    assert heatmaps.shape == (2, 17, 25, 19)


@pytest.mark.parametrize('resize_to_input', [False, True])
def test_segmentation_model_of_our_config(resize_to_input, tmp_path):
    """The zoo config fcn_hr18s (SyncBN, mmseg's bilinear exchange units, V2 neck + FCN head)."""
    config = osp.join(REPO_ROOT, 'configs', 'seg', 'fcn_hr18s_4xb2-40k_cityscapes-512x1024.py')
    model = randomize_(build_model(config))
    result = export_onnx(model, str(tmp_path / 'seg.onnx'), EXPORT_SIZE, verify_shapes=SIZES,
                         resize_to_input=resize_to_input)
    _check(result, 1)
    assert result.output_names == ('seg_logits',)
    logits = ort.InferenceSession(result.path).run(None, {'input': torch.rand(1, 3, 97, 75)
                                                         .numpy()})[0]
    assert logits.shape == ((1, 19, 97, 75) if resize_to_input else (1, 19, 25, 19))


class _FrozenSize(nn.Module):
    """Reads its input size into Python ints: right in PyTorch, frozen in a trace."""

    def forward(self, x):
        h, w = int(x.shape[2]), int(x.shape[3])
        return x.reshape(x.shape[0], x.shape[1], h * w).mean(-1)


def test_size_frozen_by_the_trace_is_caught_and_nothing_is_written(tmp_path):
    path = tmp_path / 'frozen.onnx'
    path.write_bytes(b'previous export')
    with pytest.raises(ExportError, match=r'input shape \(2, 3, 97, 73\)'):
        export_onnx(_FrozenSize(), str(path), (1, 3, 64, 48))
    assert path.read_bytes() == b'previous export'
    assert os.listdir(tmp_path) == ['frozen.onnx']  # no temporary file left behind
    # static export of the same module is fine
    export_onnx(_FrozenSize(), str(path), (1, 3, 64, 48), dynamic=False)
    assert path.read_bytes() != b'previous export'


def test_train_mode_is_restored(tmp_path):
    model = HRNet('w18_small_v1', multiscale_output=False).train()
    export_onnx(model, str(tmp_path / 'm.onnx'), (1, 3, 32, 32), dynamic=False)
    assert model.training and model.layer1.training


@pytest.mark.parametrize('kwargs, field', [
    (dict(opset=11), 'opset'),
    (dict(opset=99), 'opset'),
    (dict(dynamic=('depth',)), 'dynamic'),
    (dict(input_shape=(3, 64, 64)), 'input_shape'),
    (dict(input_shape=(1, 3, 0, 64)), 'input_shape'),
    (dict(output_names=('a', 'b')), 'output_names'),
    (dict(resize_to_input=True), 'resize_to_input'),
])
def test_bad_arguments_name_the_field(kwargs, field, tmp_path):
    with pytest.raises(ValueError, match=field):
        export_onnx(HRNet('w18_small_v1', multiscale_output=False),
                    str(tmp_path / 'm.onnx'), **kwargs)
    assert not os.listdir(tmp_path)


def test_build_model_needs_a_toolbox_scope():
    with pytest.raises(ValueError, match='default_scope'):
        build_model(dict(model=dict(type='hrnet_mm.HRNet', arch='w18_small_v1')))


def test_prepare_for_export_reverts_sync_bn():
    model = HRNet('w18_small_v1', norm_cfg=dict(type='SyncBN'))
    wrapped = prepare_for_export(model)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in wrapped.modules())
    assert not wrapped.training


def test_unseen_shape_is_not_divisible_by_32():
    for h, w in [(256, 192), (64, 48), (512, 1024)]:
        _, _, uh, uw = unseen_shape((1, 3, h, w), ('height', 'width'))
        assert uh % 32 and uw % 32


def test_export_tool(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'export_onnx_tool', osp.join(REPO_ROOT, 'tools', 'export_onnx.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'v2p.onnx'
    assert tool.main(['--backbone', 'w18_small_v1', '--neck', 'v2p', '--input-size', '64', '64',
                      str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'max abs diff' in printed and str(out) in printed
    assert len(ort.InferenceSession(str(out)).get_outputs()) == 5
    # a bad checkpoint is reported, not traced back
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    assert tool.main(['--backbone', 'w18_small_v1', '--checkpoint', str(bad),
                      str(tmp_path / 'x.onnx')]) == 1
    assert 'bad.pth' in capsys.readouterr().err
    assert not (tmp_path / 'x.onnx').exists()


# --------------------------------------------------------------------------- OpenVINO IR

def test_openvino_ir_round_trip(tmp_path):
    """.xml + .bin written after OpenVINO matched PyTorch at both sizes; read back, the IR
    gives the same numbers at a third size and batch."""
    ov = pytest.importorskip('openvino')
    from hrnet_mm.export import export_openvino
    model = randomize_(HRNet('w18_small_v1', multiscale_output=True)).eval()
    path = tmp_path / 'w18s.xml'
    result = export_openvino(model, str(path), EXPORT_SIZE, verify_shapes=SIZES)
    _check(result, 4)
    assert result.weights_path == str(tmp_path / 'w18s.bin')
    assert sorted(os.listdir(tmp_path)) == ['w18s.bin', 'w18s.xml']  # nothing else left
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), 'CPU',
                                  {'INFERENCE_PRECISION_HINT': 'f32'})
    x = torch.randn(3, 3, 80, 56)
    got = compiled(x.numpy())
    with torch.no_grad():
        expected = model(x)
    assert [tuple(got[o].shape) for o in compiled.outputs] == [tuple(e.shape) for e in expected]
    assert max(float((torch.from_numpy(got[o]) - e).abs().max())
               for o, e in zip(compiled.outputs, expected)) <= ATOL


def test_openvino_ir_failure_writes_nothing(tmp_path):
    pytest.importorskip('openvino')
    from hrnet_mm.export import export_openvino
    (tmp_path / 'frozen.xml').write_bytes(b'previous export')
    with pytest.raises(ExportError, match=r'frozen\.xml.*input shape \(2, 3, 97, 73\)'):
        export_openvino(_FrozenSize(), str(tmp_path / 'frozen.xml'), (1, 3, 64, 48))
    assert os.listdir(tmp_path) == ['frozen.xml']
    assert (tmp_path / 'frozen.xml').read_bytes() == b'previous export'
    with pytest.raises(ValueError, match='.xml'):
        export_openvino(_FrozenSize(), str(tmp_path / 'frozen.onnx'), (1, 3, 64, 48))


def test_export_tool_openvino_ir(tmp_path, capsys):
    pytest.importorskip('openvino')
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'export_onnx_tool', osp.join(REPO_ROOT, 'tools', 'export_onnx.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'w18s.xml'
    assert tool.main(['--backbone', 'w18_small_v1', '--out-streams', 'first',
                      '--input-size', '64', '48', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'OpenVINO vs PyTorch' in printed and str(tmp_path / 'w18s.bin') in printed
    assert sorted(os.listdir(tmp_path)) == ['w18s.bin', 'w18s.xml']


def test_fixed_ratios_export_constant_scales(tmp_path):
    """fixed_ratios: every Resize has constant scales (no size computed from Shape ops), exact
    at sizes divisible by 32 (verified at the traced one and 32 more); refused for others."""
    import onnx
    from hrnet_mm.export import unseen_shape
    model = randomize_(HRNet('w18_small_v1', multiscale_output=True)).eval()
    result = export_onnx(model, str(tmp_path / 'fixed.onnx'), (1, 3, 64, 64), fixed_ratios=True)
    assert result.fixed_ratios
    assert set(result.max_abs_diff) == {(1, 3, 64, 64), unseen_shape((1, 3, 64, 64),
                                                                      result.dynamic, True)}
    assert max(result.max_abs_diff.values()) <= ATOL
    graph = onnx.load(result.path).graph
    resizes = [n for n in graph.node if n.op_type == 'Resize']
    assert resizes and all(len(n.input) == 3 for n in resizes)  # X, roi, scales: no sizes
    with pytest.raises(ValueError, match='fixed_ratios'):
        export_onnx(model, str(tmp_path / 'odd.onnx'), (1, 3, 97, 75), fixed_ratios=True)
    # auto: static and divisible by 32 -> on; dynamic height/width -> off (any size)
    static = export_onnx(model, str(tmp_path / 's.onnx'), (1, 3, 64, 64), dynamic=False)
    assert static.fixed_ratios
    assert not export_onnx(model, str(tmp_path / 'd.onnx'), (1, 3, 64, 64),
                           verify=False).fixed_ratios
