"""Environment check: ``python -m hrnet_mm.env``.

Prints the versions of torch, mmengine, mmcv, mmdet, mmseg, mmpose and hrnet_mm, and proves
that mmcv's compiled ops run (``nms`` and ``roi_align`` on small CPU tensors). Exits 1 with a
message naming the fix when something is missing. The optional deployment packages (openvino,
nncf: the ``'openvino'`` backend of ``hrnet_mm.fast``, its int8, OpenVINO IR export) are
reported with the command that installs them, and never fail the check.
"""
import importlib
import importlib.metadata
import importlib.util
import sys
from typing import Callable, List, Tuple

FIX_SETUP = 'run `bash tools/setup_env.sh` (see README, "Set-up")'
PACKAGES = (('torch', 'torch'), ('mmengine', 'mmengine'), ('mmcv', 'mmcv'),
            ('mmdet', 'mmdet'), ('mmseg', 'mmsegmentation'), ('mmpose', 'mmpose'),
            ('hrnet_mm', 'hrnet_mm'))
REQUIRED_MMCV = '2.1.0'
# Optional: the ``deploy`` extra of setup.py (tools/setup_env.sh installs it unless --no-deploy).
OPTIONAL_PACKAGES = (('openvino', 'openvino'), ('nncf', 'nncf'))
DEPLOY_INSTALL = "pip install 'hrnet_mm[deploy]'"


def _version(module: str) -> str:
    return getattr(importlib.import_module(module), '__version__', 'unknown')


def _distribution_version(dist: str) -> str:
    """The installed version without importing the package (openvino's import takes seconds)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def _check_ops() -> str:
    import torch
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'nms returned {keep.tolist()}, expected [0, 2]')
    feat = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 3., 3.]])
    out = roi_align(feat, rois, (2, 2), 1.0, 2, 'avg', True)
    if out.shape != (1, 1, 2, 2):
        raise RuntimeError(f'roi_align returned shape {tuple(out.shape)}')
    return 'nms, roi_align OK'


def _check_toolboxes() -> str:
    for module in ('mmdet.models', 'mmseg.models', 'mmpose.models'):
        importlib.import_module(module)
    return 'mmdet.models, mmseg.models, mmpose.models import'


def run_checks() -> List[Tuple[str, bool, str]]:
    """Return ``(name, ok, detail)`` for each check; never raises."""
    results = []
    for module, dist in PACKAGES:
        try:
            results.append((dist, True, _version(module)))
        except Exception as e:  # ImportError, or a broken install raising anything
            results.append((dist, False, f'{type(e).__name__}: {e}. Fix: {FIX_SETUP}'))
    for module, dist in OPTIONAL_PACKAGES:
        if importlib.util.find_spec(module) is None:
            results.append((dist, True, f'not installed (optional, for the openvino backend, '
                            f'int8 and IR export: {DEPLOY_INSTALL})'))
        else:
            results.append((dist, True, _distribution_version(dist)))
    checks: List[Tuple[str, Callable[[], str], str]] = [
        ('mmcv ops', _check_ops,
         f'mmcv must be {REQUIRED_MMCV} built with MMCV_WITH_OPS=1; {FIX_SETUP} (it compiles '
         'mmcv from source and caches the wheel)'),
        ('toolboxes', _check_toolboxes, FIX_SETUP),
    ]
    for name, fn, fix in checks:
        try:
            results.append((name, True, fn()))
        except Exception as e:
            results.append((name, False, f'{type(e).__name__}: {e}. Fix: {fix}'))
    mmcv = dict((n, d) for n, ok, d in results if ok).get('mmcv')
    if mmcv is not None and mmcv != REQUIRED_MMCV:
        results.append(('mmcv version', False, f'mmcv {mmcv} is installed; mmdet 3.3.0 and '
                        f'mmseg 1.2.2 need mmcv {REQUIRED_MMCV}. Fix: {FIX_SETUP}'))
    return results


def main() -> int:
    results = run_checks()
    width = max(len(name) for name, _, _ in results)
    for name, ok, detail in results:
        print(f'{name:<{width}}  {"ok  " if ok else "FAIL"}  {detail}')
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        print(f'\nenvironment check FAILED: {", ".join(failed)}', file=sys.stderr)
        return 1
    print('\nenvironment check passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
