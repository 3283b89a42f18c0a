"""Every backend x dtype of :func:`hrnet_mm.fast.optimize` against eager PyTorch, on small
models, at a size divisible by 32 and at 97x75 (a new shape after the first call), plus the
errors for bad arguments.

Tolerances (random weights, outputs of magnitude ~1, measured here): fp32 max abs diff
<= 1e-4; bf16 relative L2 error <= 2% (measured ~0.5%); int8 relative L2 error <= 15%
(measured ~4-8%: random-weight networks have no margin to absorb quantisation noise; the
accuracy on fitted models and real images is measured in the benchmark).
"""
import re
import sys

import pytest
import torch
import torch.nn as nn
from helpers import max_abs_diff, randomize_

from hrnet_mm.fast import optimize
from hrnet_mm.fast.backends import (BACKEND_DTYPES, BackendUnavailableError, allowed_pairs,
                                    check_backend_dtype, rewrites_for)
from hrnet_mm.models import HRNet, HRNetV2Neck, LiteHRNet

pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

SIZE = (1, 3, 64, 96)  # divisible by 32: the runtimes' fixed-ratio graph
ODD = (2, 3, 97, 75)
FP32_ATOL = 1e-4
REL_TOL = {'bf16': 0.02, 'int8': 0.15}
RUNTIME_PAIRS = [(b, d) for b, dtypes in BACKEND_DTYPES.items() if b not in ('eager', 'inductor')
                 for d in dtypes]


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def small():
    """W18-small-v1 with all four streams, random weights and statistics, and inputs."""
    model = randomize_(HRNet('w18_small_v1', multiscale_output=True)).eval()
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(SIZE, generator=g), torch.randn(ODD, generator=g)]
    calibration = [torch.randn(2, 3, 64, 96, generator=g) for _ in range(4)]
    return model, inputs, calibration


def _rel_l2(expected, got) -> float:
    num = sum(float((e - g).pow(2).sum()) for e, g in zip(expected, got))
    den = sum(float(e.pow(2).sum()) for e in expected)
    return (num / den) ** 0.5


def _check(model, fast, inputs, dtype):
    for x in inputs:
        with torch.no_grad():
            expected = model(x)
        got = fast(x)
        assert type(got) is type(expected) and len(got) == len(expected)
        for e, g in zip(expected, got):
            assert g.dtype == torch.float32 and g.shape == e.shape
            assert torch.isfinite(g).all()
        if dtype == 'fp32':
            assert max_abs_diff(expected, got) <= FP32_ATOL
        else:
            assert _rel_l2(expected, got) <= REL_TOL[dtype]


def _have(package):
    try:
        __import__(package)
        return True
    except ImportError:
        return False


@pytest.mark.parametrize('backend,dtype', RUNTIME_PAIRS)
def test_runtime_backends_match_eager(small, backend, dtype):
    """The fixed-ratio graph at a size divisible by 32, the general one at 97x75 with another
    batch, both against eager."""
    if backend == 'openvino' and not _have('openvino'):
        pytest.skip('openvino not installed')
    if dtype == 'int8' and backend == 'openvino' and not _have('nncf'):
        pytest.skip('nncf not installed')
    model, inputs, calibration = small
    fast = optimize(model, dtype, backend=backend, threads=1,
                    calibration=calibration if dtype == 'int8' else None)
    _check(model, fast, inputs, dtype)
    assert fast.backend == backend and fast.dtype == dtype and fast.threads == 1
    assert sorted(fast._graphs) == ['general', 'static']


def test_calibration_tiles_cover_large_samples():
    """A sample over the pixel cap is cut into equal tiles whose sides stay multiples of 32 and
    which together are exactly the sample; small or indivisible samples stay whole."""
    import numpy as np

    from hrnet_mm.fast.quantize import MAX_CALIBRATION_PIXELS, calibration_tiles
    frame = np.random.default_rng(0).standard_normal((2, 3, 1024, 2048), dtype=np.float32)
    tiles = calibration_tiles(frame)
    assert len(tiles) == 8 and all(t.shape == (1, 3, 512, 1024) for t in tiles)
    assert all(t.shape[2] * t.shape[3] <= MAX_CALIBRATION_PIXELS for t in tiles)
    rows = [np.concatenate(tiles[k:k + 2], axis=3) for k in range(0, 8, 2)]
    rebuilt = np.concatenate([np.concatenate(rows[n * 2:n * 2 + 2], axis=2) for n in range(2)])
    assert np.array_equal(rebuilt, frame)
    crop = frame[:1, :, :256, :192]
    assert calibration_tiles(crop)[0] is crop and len(calibration_tiles(crop)) == 1
    odd = frame[:1, :, :1000, :1000]  # 1000 is not 2 x a multiple of 32: cannot split
    assert len(calibration_tiles(odd, max_pixels=1000)) == 1


def test_onnxruntime_int8_calibrates_in_tiles(small, monkeypatch):
    """With a pixel cap below the calibration samples, ONNX Runtime int8 calibrates on their
    tiles (what keeps a 1024x2048 HRNetV2-W48 frame within memory) and still matches eager."""
    from hrnet_mm.fast import quantize
    seen = []
    real = quantize.batched

    def spy(samples, *args, **kwargs):
        seen.extend(tuple(a.shape) for a in samples)
        return real(samples, *args, **kwargs)
    monkeypatch.setattr(quantize, 'MAX_CALIBRATION_PIXELS', 64 * 96 // 2)
    monkeypatch.setattr(quantize, 'batched', spy)
    model, inputs, calibration = small
    fast = optimize(model, 'int8', backend='onnxruntime', threads=1, calibration=calibration)
    assert seen and all(s == (1, 3, 32, 96) for s in seen), seen
    _check(model, fast, inputs, 'int8')


@pytest.mark.parametrize('dtype', ['fp32', 'bf16', torch.float32, torch.bfloat16])
def test_eager_backend_dtype_spellings(small, dtype):
    model, inputs, _ = small
    name = 'bf16' if dtype in ('bf16', torch.bfloat16) else 'fp32'
    _check(model, optimize(model, dtype, backend='eager'), inputs, name)


@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
def test_inductor_backend_matches_eager(dtype):
    """backend='inductor' compiles (a tiny conv net: compiling HRNet takes minutes on one
    core; tests/test_fast.py compiles W18-small); a new shape recompiles."""
    model = randomize_(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                     nn.ReLU(), nn.Conv2d(8, 4, 1))).eval()
    g = torch.Generator().manual_seed(2)
    inputs = [torch.randn(1, 3, 32, 32, generator=g), torch.randn(2, 3, 37, 29, generator=g)]
    fast = optimize(model, dtype, backend='inductor', threads=1)
    for x in inputs:
        with torch.no_grad():
            expected = model(x)
        got = fast(x)
        assert got.dtype == torch.float32 and got.shape == expected.shape
        if dtype == 'fp32':
            assert max_abs_diff([expected], [got]) <= FP32_ATOL
        else:
            assert _rel_l2([expected], [got]) <= REL_TOL['bf16']


def test_lite_hrnet_with_neck_on_openvino():
    """Lite-HRNet (+ HRNetV2 neck) through the export path: the static-pooling graph for a size
    divisible by 32, the general one at 97x75."""
    pytest.importorskip('openvino')
    backbone = LiteHRNet('lite18', out_streams='all')
    model = randomize_(nn.Sequential(backbone, HRNetV2Neck(list(backbone.out_channels)))).eval()
    g = torch.Generator().manual_seed(3)
    fast = optimize(model, backend='openvino', threads=1)
    for x in (torch.randn(1, 3, 64, 96, generator=g), torch.randn(ODD, generator=g)):
        with torch.no_grad():
            assert max_abs_diff(model(x), fast(x)) <= FP32_ATOL
    assert sorted(fast._graphs) == ['general', 'static']


class _Structured(nn.Module):
    """Returns a dict holding a list and a tensor, to check the output structure."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return {'maps': [y, y.relu()], 'pooled': y.mean(dim=(2, 3))}


def test_runtime_keeps_output_structure():
    model = randomize_(_Structured()).eval()
    x = torch.randn(ODD)
    fast = optimize(model, backend='onnxruntime', threads=1, example_input=SIZE)
    got = fast(x)
    with torch.no_grad():
        expected = model(x)
    assert set(got) == {'maps', 'pooled'} and isinstance(got['maps'], list)
    assert max_abs_diff(expected['maps'], got['maps']) <= 1e-5
    assert max_abs_diff([expected['pooled']], [got['pooled']]) <= 1e-5


def test_whole_pose_model_on_onnxruntime():
    """An mmpose TopdownPoseEstimator runs as its _forward (heatmaps) on a runtime."""
    from mmpose.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(dict(
            type='TopdownPoseEstimator',
            backbone=dict(type='hrnet_mm.HRNet', arch='w18_small_v1', multiscale_output=False),
            head=dict(type='HeatmapHead', in_channels=16, out_channels=17,
                      deconv_out_channels=None, loss=dict(type='KeypointMSELoss'),
                      decoder=dict(type='MSRAHeatmap', input_size=(48, 64),
                                   heatmap_size=(12, 16), sigma=2))))
    model = randomize_(model).eval()
    x = torch.randn(ODD)
    fast = optimize(model, backend='onnxruntime', threads=1)
    with torch.no_grad():
        expected = model._forward(x)
    got = fast(x)
    assert got[0].shape == (2, 17, 25, 19)
    assert max_abs_diff(expected, got) <= FP32_ATOL


def test_rewrites_are_per_backend():
    assert rewrites_for('eager').merge_exchange and rewrites_for('eager').channels_last
    for backend in ('onnxruntime', 'openvino'):
        assert rewrites_for(backend).fold_bn and not rewrites_for(backend).channels_last


def test_bad_arguments(small):
    model, _, calibration = small
    with pytest.raises(ValueError, match='backend must be one of'):
        optimize(model, backend='tensorrt')
    with pytest.raises(ValueError, match='dtype must be one of'):
        optimize(model, dtype='fp16')
    with pytest.raises(ValueError, match='allowed backend/dtype pairs') as info:
        optimize(model, dtype='bf16', backend='onnxruntime')
    assert allowed_pairs() in str(info.value) and 'openvino: fp32/bf16/int8' in str(info.value)
    with pytest.raises(ValueError, match='allowed backend/dtype pairs'):
        optimize(model, dtype='int8', backend='eager', calibration=calibration)
    with pytest.raises(ValueError, match='calibration'):
        optimize(model, dtype='int8', backend='onnxruntime')
    with pytest.raises(ValueError, match='calibration'):
        optimize(model, dtype='int8', backend='onnxruntime', calibration=[])
    with pytest.raises(ValueError, match='compile=True'):
        optimize(model, compile=True, backend='openvino')
    with pytest.raises(ValueError, match='threads'):
        optimize(model, backend='onnxruntime', threads=0)
    assert check_backend_dtype('openvino', torch.bfloat16) == ('openvino', 'bf16')


@pytest.mark.parametrize('backend,command', [
    ('openvino', "pip install 'hrnet_mm[deploy]'"),  # the deploy extra (setup.py)
    ('onnxruntime', 'pip install onnxruntime')])
def test_missing_package_names_the_install_command(small, monkeypatch, backend, command):
    monkeypatch.setitem(sys.modules, backend, None)  # `import backend` raises ImportError
    with pytest.raises(BackendUnavailableError, match=re.escape(command)):
        optimize(small[0], backend=backend)


def test_missing_nncf_for_openvino_int8(small, monkeypatch):
    pytest.importorskip('openvino')
    monkeypatch.setitem(sys.modules, 'nncf', None)
    with pytest.raises(BackendUnavailableError,
                       match=re.escape("pip install 'hrnet_mm[deploy]'")):
        optimize(small[0], 'int8', backend='openvino', calibration=small[2])


def test_missing_openvino_for_ir_export_names_the_deploy_extra(monkeypatch):
    from hrnet_mm.export import verify_openvino
    monkeypatch.setitem(sys.modules, 'openvino', None)
    with pytest.raises(ImportError, match=re.escape("pip install 'hrnet_mm[deploy]'")):
        verify_openvino('model.xml', torch.nn.Identity(), [(1, 3, 32, 32)])


def test_explicit_threads_reach_the_runtimes(small):
    model = small[0]
    fast = optimize(model, backend='onnxruntime', threads=2, example_input=SIZE)
    assert fast._run.session.get_session_options().intra_op_num_threads == 2
    assert fast._run.session.get_session_options().inter_op_num_threads == 1
    if _have('openvino'):
        fast = optimize(model, backend='openvino', threads=2, example_input=SIZE)
        fast(torch.randn(SIZE))
        request = next(iter(fast._run.compiled.values()))
        compiled = request.get_compiled_model()
        assert int(compiled.get_property('INFERENCE_NUM_THREADS')) == 2
        assert str(compiled.get_property('PERFORMANCE_HINT')) in ('LATENCY',
                                                                   'PerformanceMode.LATENCY')


def test_int8_lite_hrnet_gets_mixed_preset_no_unshuffle_and_a_warning(small, monkeypatch):
    """int8 Lite-HRNet on OpenVINO: NNCF's MIXED preset (asymmetric activations), the shuffles
    kept (the rewrite cost accuracy), and a warning naming the doubled stream 0; HRNet keeps
    PERFORMANCE and gets no warning."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    import warnings

    from hrnet_mm.fast import lite_unshuffle, quantize
    assert rewrites_for('openvino', 'int8').unshuffle_lite is False
    assert rewrites_for('openvino', 'bf16').unshuffle_lite is True
    presets, unshuffled = [], []
    real_quantize = quantize.quantize_openvino_model
    monkeypatch.setattr(quantize, 'quantize_openvino_model', lambda m, c, preset: (
        presets.append(preset), real_quantize(m, c, preset=preset))[1])
    real_unshuffle = lite_unshuffle.unshuffle_lite_hrnet
    monkeypatch.setattr(lite_unshuffle, 'unshuffle_lite_hrnet', lambda m: (
        unshuffled.append(m), real_unshuffle(m))[1])
    calibration = small[2][:1]
    with pytest.warns(UserWarning, match='official fusion.*stream 0.*bf16'):
        optimize(LiteHRNet('lite18').eval(), 'int8', backend='openvino', threads=1,
                 calibration=calibration)
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        optimize(small[0], 'int8', backend='openvino', threads=1, calibration=calibration)
    assert presets == ['mixed', 'performance'] and unshuffled == []
    with pytest.raises(ValueError, match='preset must be one of'):
        quantize.quantize_openvino_model(None, calibration, preset='accuracy')


def test_onnxruntime_runs_one_static_session_per_input_shape(small, monkeypatch):
    """Each input shape gets its own session with the free dimensions fixed (static shapes plan
    better in ONNX Runtime), the same outputs as eager, the oldest dropped past MAX_SESSIONS."""
    from hrnet_mm.fast import ort_backend
    model, inputs, _ = small
    monkeypatch.setattr(ort_backend, 'MAX_SESSIONS', 2)
    fast = optimize(model, backend='onnxruntime', threads=1, example_input=SIZE)
    run = fast._run
    assert sorted(run.free_dims.values()) == ['batch', 'height', 'width']
    shapes = [(1, 3, 64, 96), (2, 3, 64, 96), (1, 3, 64, 96), (3, 3, 64, 96)]
    g = torch.Generator().manual_seed(5)
    for shape in shapes:
        x = torch.randn(shape, generator=g)
        with torch.no_grad():
            assert max_abs_diff(model(x), fast(x)) <= FP32_ATOL
        assert run.session.get_inputs()[0].shape == list(shape)
    assert list(run.sessions) == [(1, 3, 64, 96), (3, 3, 64, 96)]


def test_bf16_on_a_cpu_without_bf16_warns_once(monkeypatch):
    """bf16 is emulated (slower than fp32) without AVX512-BF16 / AMX: asking for it there
    warns once per process, naming the CPU; a CPU with either, an unknown CPU and fp32 get
    no warning. The detection is stubbed; the real one agrees with the benchmark's record."""
    import warnings as _warnings

    from hrnet_mm.benchmark.report import machine_info
    from hrnet_mm.fast import backends
    real = backends.cpu_bf16()
    info = machine_info(1)
    assert (real.avx512_bf16, real.amx) == (info['avx512_bf16'], info['amx'])

    monkeypatch.setattr(backends, 'cpu_bf16', lambda: backends.CpuBf16('Old CPU', False, False))
    monkeypatch.setattr(backends, '_warned_slow_bf16', False)
    model = HRNet('w18_small_v1').eval()
    with pytest.warns(backends.SlowDtypeWarning, match='Old CPU.*neither AVX512-BF16 nor AMX'):
        optimize(model, dtype='bf16')
    with _warnings.catch_warnings():
        _warnings.simplefilter('error', backends.SlowDtypeWarning)
        optimize(model, dtype='bf16')  # once per process
        monkeypatch.setattr(backends, '_warned_slow_bf16', False)
        optimize(model, dtype='fp32')
        for cpu in (backends.CpuBf16('x', True, False), backends.CpuBf16('x', False, True),
                    backends.CpuBf16('x', None, None)):
            monkeypatch.setattr(backends, 'cpu_bf16', lambda cpu=cpu: cpu)
            assert not backends.warn_if_bf16_is_slow('bf16')
