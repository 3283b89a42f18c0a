"""model-index.yml and the metafiles: every config is listed, every listed path exists.

``model-index.yml`` at the repo root imports one ``metafile.yml`` per config folder, in the
OpenMMLab format ``mim`` reads (``Collections`` / ``Models`` with ``Name``, ``Config``,
``Metadata``, ``Results``, ``Weights``). The checks here are about completeness and paths; the
numbers were copied from the toolboxes' own metafiles.
"""
import ast
import glob
import os.path as osp

import pytest

yaml = pytest.importorskip('yaml')

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Configs that reproduce no zoo model and so have no metafile entry (no zoo weights, no zoo
# numbers): the quickstart and the segmentation learning check on the bundled sample.
NOT_ZOO = {'configs/pose/td-hm_hrnet-w18-small_1xb16-40e_coco-sample-128x96.py',
           'configs/seg/fcn_hr18s-v1_1xb4-150i_coco-sample-224x320.py'}
# Results and Weights are the zoo's; a config of our own recipe (no zoo model) may lack them.
MODEL_KEYS = {'Name', 'In Collection', 'Config', 'Metadata'}


def _load(rel):
    with open(osp.join(REPO_ROOT, rel)) as f:
        return yaml.safe_load(f)


def _bases(config: str) -> list:
    """The ``_base_`` entries of a config file (without executing it)."""
    tree = ast.parse(open(osp.join(REPO_ROOT, config)).read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            base = ast.literal_eval(node.value)
            return [base] if isinstance(base, str) else list(base)
    return []


def _metafiles():
    return _load('model-index.yml')['Import']


def _models():
    return [(meta, m) for meta in _metafiles() for m in _load(meta).get('Models', [])]


def test_every_metafile_is_imported():
    imported = _metafiles()
    assert len(imported) == len(set(imported)), 'model-index.yml imports a metafile twice'
    for rel in imported:
        assert osp.isfile(osp.join(REPO_ROOT, rel)), f'model-index.yml: {rel} does not exist'
    on_disk = sorted(osp.relpath(p, REPO_ROOT)
                     for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'metafile.yml')))
    assert sorted(imported) == on_disk


def test_every_config_is_listed_once():
    listed = [m['Config'] for _, m in _models()]
    assert len(listed) == len(set(listed)), 'a config is listed twice'
    configs = {osp.relpath(p, REPO_ROOT)
               for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))}
    assert NOT_ZOO <= configs, 'a NOT_ZOO config is gone: update the list'
    assert sorted(configs - NOT_ZOO - set(listed)) == []
    assert not set(listed) & NOT_ZOO


def test_listed_entries_are_complete():
    collections = {}
    for meta in _metafiles():
        for c in _load(meta).get('Collections', []):
            collections[c['Name']] = c
    names = [m['Name'] for _, m in _models()]
    assert len(names) == len(set(names)), 'two models share a Name'
    for meta, m in _models():
        where = f'{meta}: {m.get("Name")}'
        assert MODEL_KEYS <= set(m), f'{where} lacks {sorted(MODEL_KEYS - set(m))}'
        assert osp.isfile(osp.join(REPO_ROOT, m['Config'])), f'{where}: no {m["Config"]}'
        # the folder's own configs only, named like the config file (the mm zoo name)
        assert osp.dirname(m['Config']) == osp.dirname(meta), where
        assert osp.basename(m['Config']) == m['Name'] + '.py', where
        assert m['In Collection'] in collections, f'{where}: unknown collection'
        if 'Zoo Config' in m['Metadata']:  # a zoo twin carries the zoo's weights and numbers
            assert 'Weights' in m and m.get('Results'), f'{where}: zoo Weights / Results missing'
            assert m['Metadata']['Zoo Config'] in _bases(m['Config']), \
                f'{where}: Zoo Config is not the config\'s _base_'
        if 'Weights' in m:
            assert m['Weights'].startswith('https://'), f'{where}: Weights is not a URL'
        for r in m.get('Results', []):
            assert r['Dataset'] and r['Task'] and r['Metrics'], where
