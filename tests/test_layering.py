"""The package's imports run one way (``docs/design.md``): no cycle, no layer importing above it.

The imports are read from the source with ``ast`` (module level and inside functions alike: a
lazy import is a dependency too), resolved to modules of ``hrnet_mm`` and checked for

* cycles between modules (an import cycle works only by the accident of import order);
* the layers: foundations -> ``models`` -> ``checkpoint`` / ``export`` / ``fast`` /
  ``analysis`` -> ``apis`` -> ``benchmark``; a module may import its own layer or lower ones;
* the core staying framework-light: ``hrnet_mm.models`` imports no toolbox (mmpose, mmseg,
  mmdet, mmcv) and nothing of the layers above it.
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Optional, Set

import pytest

PACKAGE_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'hrnet_mm')
# The first component after ``hrnet_mm.`` -> layer; higher layers may import lower ones.
LAYERS = {
    'version': 0, 'registry': 0, 'fileio': 0, 'guards': 0, 'utils': 0,
    'models': 1,
    'checkpoint': 2, 'checkpoint_deploy': 2, 'export': 2, 'fast': 2, 'analysis': 2, 'env': 2,
    'apis': 3,
    'benchmark': 4,
}
TOOLBOXES = ('mmpose', 'mmseg', 'mmdet', 'mmcv', 'mmpretrain')


def _modules() -> Dict[str, str]:
    """{dotted module name: file} for every module of the package."""
    found = {}
    for root, _, files in os.walk(PACKAGE_DIR):
        for f in files:
            if not f.endswith('.py'):
                continue
            rel = osp.relpath(osp.join(root, f), osp.dirname(PACKAGE_DIR))[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            found['.'.join(parts)] = osp.join(root, f)
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].endswith('__init__.py')


def _imports(name: str) -> List[str]:
    """Absolute names of everything module ``name`` imports (within hrnet_mm or not)."""
    tree = ast.parse(open(MODULES[name]).read(), MODULES[name])
    package = name if _is_package(name) else name.rpartition('.')[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from pkg import submodule` imports the submodule (pkg is already importing)
            subs = [f'{target}.{a.name}' for a in node.names if f'{target}.{a.name}' in MODULES]
            out += subs if len(subs) == len(node.names) else [target] + subs
    return out


def _internal(target: str) -> str:
    """The hrnet_mm module that importing ``target`` runs (the longest known prefix)."""
    parts = target.split('.')
    while parts and '.'.join(parts) not in MODULES:
        parts.pop()
    return '.'.join(parts)


GRAPH: Dict[str, Set[str]] = {
    name: {_internal(t) for t in _imports(name) if t.split('.')[0] == 'hrnet_mm'} - {name, ''}
    for name in MODULES}


def _layer(name: str):
    parts = name.split('.')
    # `import hrnet_mm` runs version, registry and models: the models' layer
    return LAYERS.get(parts[1]) if len(parts) > 1 else LAYERS['models']


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if _layer(m) is None]
    assert not unplaced, f'add these to LAYERS (and docs/design.md): {unplaced}'


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search)."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_the_checker_finds_cycles():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b', 'c'}, 'b': {'c'}, 'c': set()}) is None
    # the relative imports resolve: fast depends on the models, the models not on fast
    assert 'hrnet_mm.models.hrnet' in GRAPH['hrnet_mm.fast.exchange']
    assert 'hrnet_mm.models.checkpointing' in GRAPH['hrnet_mm.models.hrnet']
    assert not any(t.startswith('hrnet_mm.fast') for t in GRAPH['hrnet_mm.models.hrnet'])


@pytest.mark.parametrize('name', sorted(m for m in MODULES if m != 'hrnet_mm'))
def test_imports_go_down_the_layers(name):
    mine = _layer(name)
    above = sorted(t for t in GRAPH[name] if _layer(t) > mine)
    assert not above, f'{name} (layer {mine}) imports a higher layer: {above}'


@pytest.mark.parametrize('name', sorted(m for m in MODULES if m.startswith('hrnet_mm.models')))
def test_models_import_no_toolbox(name):
    toolboxes = sorted({t for t in _imports(name) if t.split('.')[0] in TOOLBOXES})
    assert not toolboxes, f'{name} imports {toolboxes}: the core is torch + mmengine only'
