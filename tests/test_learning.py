"""Learning works: small HRNets fit the 4 real COCO images in a few CPU minutes.

* pose: the README's quickstart (``tools/quickstart.py``: HRNet-W18-small-v1, 128x96, 40 short
  epochs from scratch) reaches COCO keypoint AP >= 0.9 on the 12 people it trained on, and
  draws their skeletons;
* segmentation: FCN on HRNetV2-W18-small-v1 (``configs/seg/fcn_hr18s-v1_1xb4-150i_...``,
  150 iterations from scratch) reaches person/background mIoU >= 0.9 on the same images.

Both train on the images they are evaluated on: they show the whole chain (data, model, loss,
optimiser, decoding, metric) works, not how well the models generalise. Both run through the
tools in a subprocess, with one torch thread (see ``test_tools_e2e.py``).
"""
import json
import os
import os.path as osp

import pytest
from helpers import run_python

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO_ROOT, 'tools')
SEG_CFG = osp.join(REPO_ROOT, 'configs', 'seg', 'fcn_hr18s-v1_1xb4-150i_coco-sample-224x320.py')

for _module in ('mmpose.models', 'mmseg.models'):
    pytest.importorskip(_module)


@pytest.mark.slow
def test_quickstart_pose_fits_the_sample(tmp_path, coco_sample):
    out = run_python([osp.join(TOOLS, 'quickstart.py'), '--work-dir', str(tmp_path / 'qs'),
                      '--source', coco_sample], cwd=tmp_path, timeout=1200)
    summary = json.load(open(tmp_path / 'qs' / 'quickstart.json'))
    assert summary['data']['source'] == 'real'
    assert summary['metrics']['coco/AP'] >= 0.9, summary['metrics']
    assert len(summary['pictures']) == 4
    assert all(osp.getsize(p) > 10000 for p in summary['pictures'])
    assert osp.isfile(summary['checkpoint'])
    assert 'Epoch(train) [40]' in out and 'COCO keypoint AP' in out  # mmengine's progress


@pytest.mark.slow
def test_seg_fits_the_sample(tmp_path, coco_sample):
    from hrnet_mm.apis import write_tiny_datasets
    roots = write_tiny_datasets(str(tmp_path), coco_sample)
    root = roots['cityscapes'] + '/'
    wd = tmp_path / 'seg'
    run_python([osp.join(TOOLS, 'train.py'), SEG_CFG, '--work-dir', str(wd), '--cfg-options',
                f'train_dataloader.dataset.data_root={root}',
                f'val_dataloader.dataset.data_root={root}',
                f'test_dataloader.dataset.data_root={root}'], cwd=tmp_path, timeout=1200)
    run_dir = sorted(d for d in os.listdir(wd) if d.startswith('2'))[-1]
    lines = [json.loads(x) for x in open(wd / run_dir / 'vis_data' / 'scalars.json')]
    metrics = [x for x in lines if 'mIoU' in x][-1]
    assert metrics['mIoU'] >= 90.0, metrics
