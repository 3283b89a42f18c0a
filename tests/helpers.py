"""Small utilities shared by the tests (imported as ``from helpers import ...``)."""
from hrnet_mm.utils.testing import max_abs_diff, randomize_  # noqa: F401


def zoo_config(name: str):
    """Load a toolbox zoo config by its ``pkg::relative/path.py`` name (mim layout)."""
    import importlib
    import os.path as osp

    from mmengine.config import Config
    pkg, rel = name.split('::', 1)
    root = osp.dirname(importlib.import_module(pkg).__file__)
    return Config.fromfile(osp.join(root, '.mim', 'configs', rel))


def load_tool(name: str):
    """Import ``tools/NAME.py`` as a module (the tools are thin command lines, not a package)."""
    import importlib.util
    import os.path as osp
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'hrnet_mm_tools_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_python(args, cwd, timeout: float = 900) -> str:
    """Run ``python args`` in ``cwd`` with one torch thread (``OMP_NUM_THREADS=1`` unless set);
    fail with the tail of its output. Returns stdout + stderr."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run([sys.executable, *args], cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(args)} failed:\n{out[-6000:]}'
    return out
