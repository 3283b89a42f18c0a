"""The foundation: the toolboxes import, mmcv's compiled ops run, the env check passes."""
import subprocess
import sys

import torch


def test_toolboxes_import():
    import mmdet.models  # noqa: F401
    import mmpose.models  # noqa: F401
    import mmseg.models  # noqa: F401
    import hrnet_mm
    assert hrnet_mm.__version__


def test_mmcv_compiled_ops():
    from mmcv.ops import RoIAlign, batched_nms, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == [0, 2]
    _, keep = batched_nms(boxes, scores, torch.tensor([0, 1, 0]), dict(iou_threshold=0.5))
    assert sorted(keep.tolist()) == [0, 1, 2]
    feat = torch.arange(16.).view(1, 1, 4, 4)
    out = RoIAlign((2, 2), 1.0, 2)(feat, torch.tensor([[0., 0., 0., 3., 3.]]))
    assert out.shape == (1, 1, 2, 2) and torch.isfinite(out).all()


def test_env_check_passes():
    out = subprocess.run([sys.executable, '-m', 'hrnet_mm.env'], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'nms, roi_align OK' in out.stdout
    for name in ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation', 'mmpose', 'hrnet_mm'):
        assert name in out.stdout


def test_env_check_names_the_fix(monkeypatch):
    import hrnet_mm.env as env

    def broken():
        raise ImportError('mmcv._ext not found')
    monkeypatch.setattr(env, '_check_ops', broken)
    results = {name: (ok, detail) for name, ok, detail in env.run_checks()}
    ok, detail = results['mmcv ops']
    assert not ok and 'tools/setup_env.sh' in detail and 'MMCV_WITH_OPS=1' in detail


def test_missing_deploy_packages_are_optional_and_name_the_extra(monkeypatch):
    import hrnet_mm.env as env
    monkeypatch.setitem(sys.modules, 'openvino', None)  # find_spec -> None: "not installed"
    results = {name: (ok, detail) for name, ok, detail in env.run_checks()}
    ok, detail = results['openvino']
    assert ok and "pip install 'hrnet_mm[deploy]'" in detail
