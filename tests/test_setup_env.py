"""tools/setup_env.sh refuses before installing anything: a Python other than 3.11 / 3.12, and
``--current`` without ``--yes`` (it lists what it would change in the active environment).

Each run uses a stand-in interpreter, so no test here installs, downloads or creates anything
outside ``tmp_path``; the wrapper logs every call, which shows that pip was never run.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'setup_env.sh')


def _executable(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    return str(path)


def _run(args, env, cwd):
    return subprocess.run(['bash', SCRIPT, *args], env={**os.environ, **env}, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_syntax():
    subprocess.run(['bash', '-n', SCRIPT], check=True)


@pytest.mark.parametrize('mode', ['venv', 'current'])
def test_python_other_than_311_312_is_refused_with_the_reason(tmp_path, mode):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    # A "Python 3.10" that answers the version query and nothing else.
    fake = _executable(bin_dir / 'python', '#!/bin/sh\necho "$@" >> "$0.log"\necho 3.10\n')
    venv = tmp_path / 'venv'
    if mode == 'venv':
        out = _run([], {'PYTHON': fake, 'HRNET_MM_VENV': str(venv)}, tmp_path)
    else:
        out = _run(['--current', '--yes'],
                   {'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}'}, tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert 'is Python 3.10' in out.stderr and 'needs Python 3.11 or 3.12' in out.stderr
    assert 'numpy<2' in out.stderr  # the reason
    assert not venv.exists()
    calls = open(f'{fake}.log').read().splitlines()
    assert calls == ['-c import sys; print("%d.%d" % sys.version_info[:2])'], calls


def test_current_without_yes_lists_the_changes_and_installs_nothing(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    log = tmp_path / 'calls.log'
    _executable(bin_dir / 'python',
                f'#!/bin/sh\necho "$@" >> {log}\nexec {sys.executable} "$@"\n')
    # The "active environment" has mmengine 0.9.0 (a distribution found first on sys.path).
    dist = tmp_path / 'site' / 'mmengine-0.9.0.dist-info'
    dist.mkdir(parents=True)
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: mmengine\nVersion: 0.9.0\n')
    env = {'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
           'PYTHONPATH': str(tmp_path / 'site')}
    out = _run(['--current'], env, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'mmengine' in out.stdout and '0.9.0 -> ==0.10.7' in out.stdout
    assert 'Nothing was installed' in out.stdout
    assert 'bash tools/setup_env.sh --current --yes' in out.stdout
    assert not any('pip' in call.split()[:3] for call in log.read_text().splitlines())
    assert '[setup_env' not in out.stdout  # no install step started

    out = _run(['--current', '--no-deploy'], env, tmp_path)
    assert out.returncode == 1 and 'openvino / nncf are left out (--no-deploy)' in out.stdout
    assert '--current --yes --no-deploy' in out.stdout


def test_unknown_argument_is_refused(tmp_path):
    out = _run(['--curent'], {}, tmp_path)
    assert out.returncode == 2 and '--no-deploy' in out.stderr
