"""Package metadata of hrnet_mm. The full environment is set up by tools/setup_env.sh.

Like the OpenMMLab toolboxes, the package carries ``configs/``, ``tools/`` and
``model-index.yml`` in ``hrnet_mm/.mim/``: what ``mim`` and
``mmengine.hub.get_config('hrnet_mm::pose/....py')`` read, and where an installed hrnet_mm finds
its configs (``hrnet_mm.apis.config_path``). A wheel (or sdist) build copies them into the build
directory; an editable install links them from the checkout (``.gitignore`` keeps the links out
of git).

    pip install .                      # hrnet_mm only; the mm stack: tools/setup_env.sh
    pip install -e . --no-deps         # into an existing mm stack (docs/install.md)
    pip install '.[deploy]'            # + openvino / nncf (the fast mode's openvino backend)
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(ROOT, 'hrnet_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    """The requirement lines of ``requirements/<name>`` (comments dropped)."""
    with open(osp.join(ROOT, 'requirements', name)) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


class BuildPyWithMim(build_py):
    """build_py that also puts configs/, tools/ and model-index.yml into ``hrnet_mm/.mim``:
    copies in the build directory for a wheel, links in the checkout for an editable install
    (so they never go stale there)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            self._mim(osp.join(ROOT, 'hrnet_mm', '.mim'), link=True)
        else:
            self._mim(osp.join(self.build_lib, 'hrnet_mm', '.mim'), link=False)

    @staticmethod
    def _mim(target: str, link: bool) -> None:
        os.makedirs(target, exist_ok=True)
        for name in MIM_FILES:
            src, dst = osp.join(ROOT, name), osp.join(target, name)
            if not osp.exists(src):
                continue
            if osp.islink(dst) or osp.isfile(dst):
                os.remove(dst)
            elif osp.isdir(dst):
                shutil.rmtree(dst)
            if link:
                os.symlink(osp.relpath(src, target), dst)
            elif osp.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                shutil.copyfile(src, dst)


EXPORT = ['onnx', 'onnxruntime']  # ONNX export and the onnxruntime backend (also in runtime.txt)

setup(
    name='hrnet_mm',
    version=read_version(),
    description='One verified implementation of the HRNet family for mmpose, mmseg and mmdet',
    long_description=open(osp.join(ROOT, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['hrnet_mm', 'hrnet_mm.*']),
    cmdclass={'build_py': BuildPyWithMim},
    # tools/setup_env.sh refuses other versions (the pinned mm stack needs numpy<2, which has no
    # wheels for Python 3.13, and the environment is tested on 3.11).
    python_requires='>=3.11',
    install_requires=['torch>=2.0', 'mmengine>=0.10.0,<1.0'],
    extras_require={
        'mm': ['mmcv==2.1.0', 'mmdet==3.3.0', 'mmsegmentation==1.2.2', 'mmpose==1.3.2'],
        'tests': read_requirements('tests.txt'),
        'export': EXPORT,
        # the openvino backend of hrnet_mm.fast, its int8 (NNCF), OpenVINO IR export
        'deploy': EXPORT + read_requirements('deploy.txt'),
    },
    license='Apache-2.0',
    license_files=['LICENSE'],
)
