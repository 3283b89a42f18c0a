"""Shared test fixtures: paths to the real sample data beside the repository."""
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
COCO_SAMPLE = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'coco_sample')


@pytest.fixture
def coco_sample() -> str:
    """The real COCO sample folder (../shared/data/coco_sample); skip when absent."""
    if not osp.isdir(COCO_SAMPLE):
        pytest.skip(f'real sample data not found at {COCO_SAMPLE}')
    return COCO_SAMPLE


@pytest.fixture(autouse=True)
def _isolate_mm_default_scope():
    """Tests that call ``init_default_scope`` must not leak that scope into later tests
    (HRNet built from an ``extra=`` dict follows the active scope's defaults)."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
