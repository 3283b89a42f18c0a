"""The params / GFLOPs in the configs' READMEs and metafiles are those of the one generator.

:mod:`hrnet_mm.apis.zoo_figures` measures every config (conv + linear multiply-adds / 2^30,
all parameters, on a meta-device copy); ``python tools/zoo_figures.py`` writes them. Here the
pages are re-rendered from fresh counts and must come out unchanged, and every config file has
exactly one row in its folder's README table.
"""
import difflib
import glob
import os.path as osp
import re

import pytest

pytest.importorskip('mmpose')
pytest.importorskip('mmseg')
pytest.importorskip('mmdet')

from hrnet_mm.apis.config import config_path  # noqa: E402
from hrnet_mm.apis.zoo_figures import (TASKS, Figures, measure, measure_all,  # noqa: E402
                                       page_updates, update_metafile, update_readme)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.slow  # every config built and counted: a few minutes on 2 cores
def test_pages_agree_with_the_generator():
    figures = measure_all()
    stale = []
    for path, (text, new) in page_updates(figures).items():
        if text != new:
            stale.append(''.join(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True),
                osp.relpath(path, REPO_ROOT), 'generated', n=0)))
    assert not stale, ('figures differ from the generator; run python tools/zoo_figures.py\n'
                       + '\n'.join(stale))


def test_papers_figures():
    """The definition is the HRNet papers' (W32 256x192: 28.5M / 7.1 GFLOPs; W48 63.6M /
    14.6; seg HRNetV2-W48 at 1024x2048: 696.2), and the pages' 2^30 unit."""
    w32 = measure(config_path('td-hm_hrnet-w32_8xb64-210e_coco-256x192'))
    assert w32.params == 28_536_113 and round(w32.gflops, 1) == 7.1
    assert w32.gflops_text() == '7.12'
    seg48 = measure(config_path('fcn_hr48_4xb2-40k_cityscapes-512x1024'))
    assert seg48.gflops_text() == '696.18' and seg48.input_hw == (1024, 2048)
    w48 = measure(config_path('td-hm_hrnet-w48_8xb32-210e_coco-256x192'))
    assert round(w48.params / 1e6, 1) == 63.6 and round(w48.gflops, 1) == 14.6


@pytest.mark.parametrize('task', TASKS)
def test_every_config_has_one_readme_row(task):
    with open(osp.join(REPO_ROOT, 'configs', task, 'README.md')) as f:
        rows = re.findall(r'^\| \[([\w.-]+)\]\(\1\.py\) \|', f.read(), re.M)
    names = sorted(osp.splitext(osp.basename(p))[0]
                   for p in glob.glob(osp.join(REPO_ROOT, 'configs', task, '*.py')))
    assert sorted(set(rows)) == sorted(rows), 'a config has two rows'
    assert sorted(rows) == names, (f'configs/{task}/README.md: missing rows '
                                   f'{sorted(set(names) - set(rows))}, rows without a file '
                                   f'{sorted(set(rows) - set(names))}')


def test_update_functions_touch_only_the_figures():
    fig = Figures(params=1_234_567, macs=3 * 2 ** 30, input_hw=(64, 48))
    readme = ('| config | reproduces | params | GFLOPs at its input size '
              '| published params / GFLOPs |\n|---|---|---:|---:|---|\n'
              '| [a](a.py) | AP 1 | 9.99M | 9.99 | 1.2M / 3 |\n')
    assert update_readme(readme, {'a': fig}).splitlines()[-1] == \
        '| [a](a.py) | AP 1 | 1.23M | 3.00 | 1.2M / 3 |'
    meta = ('Models:\n- Name: a\n  Config: configs/pose/a.py\n  Metadata:\n'
            '    Training Data: COCO\n    FLOPs: 1.0\n')
    assert update_metafile(meta, {'a': fig}) == (  # replaced in place, inserted if missing
        'Models:\n- Name: a\n  Config: configs/pose/a.py\n  Metadata:\n'
        '    Parameters: 1234567\n    Training Data: COCO\n    FLOPs: 3.00\n')
    bare = 'Models:\n- Name: a\n  Config: configs/seg/a.py\n  Metadata:\n    Batch Size: 8\n'
    assert update_metafile(bare, {'a': fig}) == (
        'Models:\n- Name: a\n  Config: configs/seg/a.py\n  Metadata:\n'
        '    Parameters: 1234567\n    FLOPs: 3.00\n    Batch Size: 8\n')


# docs/models.md rows that are configs of ours: (row label, config at each listed size).
MODELS_MD_ROWS = {
    'pose W32 + 17-kp 1x1 head, 256x192 / 384x288': (
        'td-hm_hrnet-w32_8xb64-210e_coco-256x192', 'td-hm_hrnet-w32_8xb64-210e_coco-384x288'),
    'pose W48, 256x192 / 384x288': (
        'td-hm_hrnet-w48_8xb32-210e_coco-256x192', 'td-hm_hrnet-w48_8xb32-210e_coco-384x288'),
}


@pytest.mark.parametrize('label', sorted(MODELS_MD_ROWS))
def test_models_md_agrees_with_the_generator(label):
    """docs/models.md's pose rows: params exactly, GFLOPs at the precision the page prints."""
    with open(osp.join(REPO_ROOT, 'docs', 'models.md')) as f:
        row = next(line for line in f if line.startswith(f'| {label} |'))
    params, flops = [c.strip() for c in row.strip().strip('|').split('|')][1:3]
    figures = [measure(config_path(name)) for name in MODELS_MD_ROWS[label]]
    assert int(params.replace(',', '')) == figures[0].params == figures[1].params
    for text, fig in zip(flops.split(' / '), figures):
        decimals = len(text.split('.')[1]) if '.' in text else 0
        assert f'{fig.gflops:.{decimals}f}' == text, (label, text, fig.gflops)
