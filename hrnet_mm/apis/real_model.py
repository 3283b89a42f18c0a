"""The real trained model: PP-TinyPose (PaddleDetection's wider naive Lite-HRNet-18) from its
released deploy graphs, and the settings that evaluate it on the bundled COCO sample.

Example::

    from hrnet_mm.apis.real_model import pp_tinypose_checkpoint, coco_sample_test_options
    ckpt = pp_tinypose_checkpoint('256x192')        # converted once into work_dirs/pp_tinypose
    opts = coco_sample_test_options(boxes='det')    # for tools/test.py --cfg-options
"""
import os
import os.path as osp
from typing import Dict, Optional

from ..checkpoint_deploy import convert_deploy_graph
from .config import CONFIGS_DIR, REPO_ROOT

# The real sample data and weights: ../shared/data beside the repository (see its README).
SHARED_DATA = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data')
PP_TINYPOSE_SIZES = ('256x192', '128x96')
DET_BOXES_FILE = 'test_coco_det_AP_H_56.json'


def pp_tinypose_config(size: str = '256x192') -> str:
    """The shipped config of PP-TinyPose at ``size`` (``'256x192'`` or ``'128x96'``)."""
    _check_size(size)
    return osp.join(CONFIGS_DIR, 'pose', f'td-hm_pp-tinypose-{size}_coco.py')


def pp_tinypose_graph(size: str = '256x192', data_dir: str = SHARED_DATA) -> str:
    """The released OpenVINO IR of PP-TinyPose at ``size`` (raises when it is not there)."""
    _check_size(size)
    path = osp.join(data_dir, 'pp_tinypose', f'openvino_{size}', 'model.xml')
    if not osp.isfile(path):
        raise FileNotFoundError(f'PP-TinyPose {size} weights not found: {path} (the real '
                                f'weights live in shared/data/pp_tinypose beside the repo)')
    return path


def pp_tinypose_checkpoint(size: str = '256x192', out_dir: str = 'work_dirs/pp_tinypose',
                           data_dir: str = SHARED_DATA) -> str:
    """Convert the released IR of ``size`` into an mmpose checkpoint in ``out_dir`` (once:
    an existing file newer than the IR is reused) and return its path."""
    graph = pp_tinypose_graph(size, data_dir)
    dst = osp.join(out_dir, f'pp_tinypose_{size}.pth')
    if not (osp.isfile(dst) and osp.getmtime(dst) >= osp.getmtime(graph)):
        os.makedirs(out_dir, exist_ok=True)
        convert_deploy_graph(graph, dst)
    return dst


def coco_sample_test_options(sample_dir: Optional[str] = None, boxes: str = 'gt',
                             flip_test: bool = True) -> Dict[str, object]:
    """``--cfg-options`` that test a COCO top-down config on the bundled COCO sample.

    Args:
        sample_dir (str, optional): The sample folder (default ``shared/data/coco_sample``).
        boxes (str): ``'gt'``: the annotated person boxes; ``'det'``: the sample's detected
            boxes (``test_coco_det_AP_H_56.json``, the detector of the mmpose zoo's numbers).
        flip_test (bool): Average with the horizontally flipped image (the zoo's default).
    """
    if boxes not in ('gt', 'det'):
        raise ValueError(f'boxes must be "gt" or "det", got {boxes!r}')
    root = (sample_dir or osp.join(SHARED_DATA, 'coco_sample')).rstrip('/') + '/'
    ann = root + 'test_coco.json'
    if not osp.isfile(ann):
        raise FileNotFoundError(f'COCO sample not found: {ann}')
    return {
        'test_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.ann_file': 'test_coco.json',
        'test_dataloader.dataset.data_prefix.img': '',
        'test_dataloader.dataset.bbox_file': root + DET_BOXES_FILE if boxes == 'det' else None,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_evaluator.ann_file': ann,
        'model.test_cfg.flip_test': flip_test,
    }


def _check_size(size: str) -> None:
    if size not in PP_TINYPOSE_SIZES:
        raise ValueError(f'PP-TinyPose size must be one of {PP_TINYPOSE_SIZES}, got {size!r}')
