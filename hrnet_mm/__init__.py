"""hrnet_mm: one verified implementation of the HRNet family for mmpose, mmseg and mmdet.

Importing the package registers every model under the ``hrnet_mm`` scope.
"""
from .version import __version__
from .registry import MODELS
from . import models  # noqa: F401  (registers the models)

__all__ = ['__version__', 'MODELS']
