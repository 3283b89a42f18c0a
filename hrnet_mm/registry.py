"""The ``hrnet_mm`` model registry.

Its parent is mmengine's root ``MODELS`` registry, which is also the parent of the mmpose,
mmseg and mmdet registries. A config can therefore write ``type='hrnet_mm.HRNet'`` inside any of
the three toolboxes: the scope prefix sends the lookup to this registry, and ``locations``
imports :mod:`hrnet_mm.models` on demand, so it works even without ``custom_imports``.

``import hrnet_mm`` also adds hrnet_mm to mmengine's table of config packages, so
``'hrnet_mm::pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'`` names one of our configs, as
``'mmpose::...'`` names mmpose's: in a ``_base_`` and in ``mmengine.hub.get_config``, read from
``hrnet_mm/.mim/`` (setup.py puts the configs there, as the toolboxes do).
"""
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODULE2PACKAGE.setdefault('hrnet_mm', 'hrnet_mm')  # module name -> pip package name

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='hrnet_mm', locations=['hrnet_mm.models'])
