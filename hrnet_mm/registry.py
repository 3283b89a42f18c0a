"""The ``hrnet_mm`` model registry.

Its parent is mmengine's root ``MODELS`` registry, which is also the parent of the mmpose,
mmseg and mmdet registries. A config can therefore write ``type='hrnet_mm.HRNet'`` inside any of
the three toolboxes: the scope prefix sends the lookup to this registry, and ``locations``
imports :mod:`hrnet_mm.models` on demand, so it works even without ``custom_imports``.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='hrnet_mm', locations=['hrnet_mm.models'])
