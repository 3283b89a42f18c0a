"""An installed (non-editable) hrnet_mm finds its configs, as ``mim`` expects of a toolbox.

The wheel is built from this checkout (``pip wheel --no-deps --no-build-isolation``) and
installed with ``--no-deps`` into a fresh virtual environment that sees this environment's
packages (torch, mmengine, mmpose) only through a ``.pth`` line placed after its own
site-packages, so ``import hrnet_mm`` there is the wheel's copy, never the checkout. It then
reads configs by name: through ``hrnet_mm.apis.load_config``, through mmengine's
``get_config('hrnet_mm::...')``, which reads ``hrnet_mm/.mim/model-index.yml`` like ``mim``,
and as the ``_base_`` of a config of one's own.
"""
import json
import os.path as osp
import shutil
import site
import subprocess
import sys
import textwrap
import venv
import zipfile

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
POSE = 'td-hm_hrnet-w32_8xb64-210e_coco-256x192'
SEG = 'fcn_hr18s_4xb2-40k_cityscapes-512x1024'  # its _base_ has a relative part (seg/_base_)


# What a build reads; copied, so that no earlier build/ folder or editable .mim link in the
# checkout can leak into the wheel.
SOURCES = ('setup.py', 'MANIFEST.in', 'README.md', 'LICENSE', 'model-index.yml',
           'requirements', 'hrnet_mm', 'configs', 'tools')


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    src, out = tmp_path_factory.mktemp('src'), tmp_path_factory.mktemp('wheel')
    for name in SOURCES:
        path = osp.join(REPO_ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, src / name,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.mim'))
        else:
            shutil.copyfile(path, src / name)
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '--disable-pip-version-check', '-q', '-w', str(out), str(src)],
                   check=True, capture_output=True, timeout=600)
    (path,) = out.glob('hrnet_mm-*.whl')
    return path


def test_wheel_carries_configs_tools_and_model_index(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert 'hrnet_mm/.mim/model-index.yml' in names
    assert f'hrnet_mm/.mim/configs/pose/{POSE}.py' in names
    assert 'hrnet_mm/.mim/configs/pose/metafile.yml' in names
    assert 'hrnet_mm/.mim/tools/train.py' in names
    assert any(n.endswith('/LICENSE') for n in names)
    assert not any('__pycache__' in n for n in names)


def test_installed_wheel_reads_configs_by_name(wheel, tmp_path):
    env_dir = tmp_path / 'venv'
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = str(env_dir / 'bin' / 'python')
    subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps',
                    '--disable-pip-version-check', '-q', str(wheel)],
                   check=True, capture_output=True, timeout=300)
    purelib = subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
        check=True, capture_output=True, text=True).stdout.strip()
    # This environment's packages after the venv's own (a .pth path line is appended to sys.path).
    with open(osp.join(purelib, 'zz_test_parent_env.pth'), 'w') as f:
        f.write('\n'.join(site.getsitepackages()) + '\n')
    script = textwrap.dedent(f'''
        import json
        import hrnet_mm
        from hrnet_mm.apis.config import CONFIGS_DIR, load_config
        from mmengine.hub import get_config
        pose = load_config({POSE!r})
        seg = load_config('seg/{SEG}.py')
        hub = get_config('hrnet_mm::pose/{POSE}.py')
        from mmengine.config import Config
        with open('mine.py', 'w') as f:  # a user's config over ours, as over a toolbox's
            f.write("_base_ = 'hrnet_mm::seg/{SEG}.py'\\n")
        mine = Config.fromfile('mine.py')
        print(json.dumps(dict(package=hrnet_mm.__file__, configs=CONFIGS_DIR,
                              pose=pose.model.backbone.type, seg=seg.model.backbone.type,
                              hub=hub.model.backbone.type, hub_file=hub.filename,
                              mine=mine.model.backbone.type)))
    ''')
    out = subprocess.run([python, '-c', script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found['package'].startswith(purelib), found  # the wheel's copy, not the checkout
    assert found['configs'] == osp.join(purelib, 'hrnet_mm', '.mim', 'configs')
    assert found['pose'] == found['hub'] == 'hrnet_mm.HRNet'
    assert found['seg'] == found['mine'] == 'hrnet_mm.HRNet'
    assert found['hub_file'].startswith(purelib)


def test_config_path_finds_a_config_by_name_or_path():
    from hrnet_mm.apis.config import CONFIGS_DIR, config_path
    expected = osp.join(CONFIGS_DIR, 'pose', f'{POSE}.py')
    assert CONFIGS_DIR == osp.join(REPO_ROOT, 'configs')  # the checkout's, in a checkout
    for name in (POSE, f'{POSE}.py', f'pose/{POSE}.py', f'hrnet_mm::pose/{POSE}.py', expected):
        assert config_path(name) == expected
    with pytest.raises(FileNotFoundError, match='td-hm_hrnet-w99'):
        config_path('td-hm_hrnet-w99')
