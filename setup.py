"""Package metadata of hrnet_mm. The full environment is set up by tools/setup_env.sh."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'hrnet_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='hrnet_mm',
    version=read_version(),
    description='One verified implementation of the HRNet family for mmpose, mmseg and mmdet',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['hrnet_mm', 'hrnet_mm.*']),
    python_requires='>=3.9',
    install_requires=['torch>=2.0', 'mmengine>=0.10.0,<1.0'],
    extras_require={
        'mm': ['mmcv==2.1.0', 'mmdet==3.3.0', 'mmsegmentation==1.2.2', 'mmpose==1.3.2'],
        'tests': ['pytest', 'hypothesis'],
        'export': ['onnx', 'onnxruntime', 'openvino', 'nncf'],
    },
    license='Apache-2.0',
)
