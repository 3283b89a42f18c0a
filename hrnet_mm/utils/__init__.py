"""Helpers at the edge of hrnet_mm: checkpoint loading for the mm tools."""
from .safe_load import allow_mm_checkpoint_globals

__all__ = ['allow_mm_checkpoint_globals']
