"""Which machine measured which part of the results, and the results split per machine.

A benchmark JSON grows by merges (``--only SECTION``), and merges may run on other machines
than the first, full run: bf16 is 5x faster with AMX than without, so a table that put rows of
two machines side by side (or a ratio between them) would say nothing. The report therefore
renders one section per machine class, each from :func:`split_by_machine`'s view of the
results, which holds only what that machine measured.

Where a part was measured is read from the JSON itself:

* a peers model records its machine (``peers.models.NAME.measured``);
* any other part was measured by the last merge (``updates``) that ran its section on its
  model, or, when no merge did, by the fresh run (``results['machine']``);
* a merge from before merges recorded their machine (2026-12-04) has none: its parts go to
  a section of their own, "machine not recorded", compared with nothing else.

A registered section keeps its results at ``results[<section name>]`` (as ``e2e`` does) or in
one of the places above; any other top-level key is refused (:func:`parts` raises), since
the report could not say which machine measured it.
"""
import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

#: What makes two machines the same class for the benchmark's figures.
MACHINE_KEYS = ('cpu', 'logical_cores', 'avx512_bf16', 'amx')

#: A model's fields that are metadata, not measurements: copied into every view.
MODEL_META = ('label', 'task', 'toolbox', 'zoo_config', 'our_config', 'input_shape')

#: The run's own top-level fields (the fresh run measured them, or they describe it).
RUN_FIELDS = ('mode', 'date', 'machine', 'versions', 'load', 'command', 'notes',
              'gemm_peak_gflops', 'disturbed_rounds', 'wall_s', 'targets', 'updates')


def machine_key(m: Optional[dict]) -> Optional[Tuple]:
    """The machine class of a :func:`~.report.machine_info` dict (None: not recorded)."""
    return tuple(m.get(k) for k in MACHINE_KEYS) if m else None


def machine_text(m: dict) -> str:
    """A :func:`~.report.machine_info` as text: CPU, cores and the bf16 features."""
    return (f'{m["cpu"]}, {m["logical_cores"]} logical cores, AVX512-BF16 '
            f'{"yes" if m["avx512_bf16"] else "no"}, AMX {"yes" if m["amx"] else "no"}')


@dataclass
class Measured:
    """Where and when one part was measured: ``machine`` None when not recorded."""
    machine: Optional[dict]
    date: str
    run: str  # 'the full run' / 'the quick run' / the merge's command
    versions: Optional[dict] = None


def where(results: dict, section: str, model: Optional[str] = None) -> Measured:
    """Where ``section`` (on ``model``, for per-model sections) was last measured.

    Args:
        results: the benchmark JSON.
        section: a section name (``pose``, ``memory``, ``scaling``, ``e2e`` ...).
        model: the model name for a per-model part; None for a section measured as a whole.
    """
    for u in reversed(results.get('updates', [])):
        if section in u['sections'] and (model is None or model in u['models']):
            return Measured(u.get('machine'), u['date'], f'`{u["command"]}`',
                            u.get('versions'))
    return Measured(results.get('machine'), results.get('date', ''),
                    f'the {results.get("mode", "full")} run', results.get('versions'))


def _peers_where(results: dict, name: str) -> Measured:
    rec = results['peers']['models'][name].get('measured')
    if rec:
        found = where(results, 'peers', name)
        return Measured(rec['machine'], rec['date'], found.run, found.versions)
    return where(results, 'peers', name)


@dataclass
class MachineView:
    """One machine's part of the results (``results`` has the JSON's shape, holding only
    what was measured there) and the runs it came from."""
    machine: Optional[dict]
    results: dict
    #: run -> section -> the models it measured there (empty: a section measured as a whole)
    runs: Dict[str, Dict[str, List[str]]] = field(default_factory=dict)
    versions: List[dict] = field(default_factory=list)  # of its runs, each once

    @property
    def title(self) -> str:
        return machine_text(self.machine) if self.machine else 'Machine not recorded'


def _task_section(model: dict) -> str:
    return model.get('task', 'pose')


Part = Tuple[Measured, str, Optional[str], tuple]


def parts(results: dict, section_names=()) -> List[Part]:
    """Every measured part: ``(where, section, model, path)``; ``model`` None for a section
    measured as a whole; ``path`` addresses the part in the JSON (``('models', name,
    field)``, ``('peers', name)``, ``(top-level key,)``).

    Raises:
        ValueError: naming a top-level key that is neither the run's nor a section's.
    """
    out = []
    for name, r in results.get('models', {}).items():
        for k in r:
            if k in MODEL_META:
                continue
            section = 'memory' if k == 'memory' else _task_section(r)
            out.append((where(results, section, name), section, name, ('models', name, k)))
    if 'pose_accuracy' in results:
        out.append((where(results, 'accuracy', 'pose_w32'), 'accuracy', 'pose_w32',
                    ('pose_accuracy',)))
    if 'scaling' in results:
        out.append((where(results, 'scaling'), 'scaling', None, ('scaling',)))
    for name in results.get('peers', {}).get('models', {}):
        out.append((_peers_where(results, name), 'peers', name, ('peers', name)))
    known = {'models', 'pose_accuracy', 'scaling', 'peers', *RUN_FIELDS}
    for key in results:
        if key in known:
            continue
        if key not in section_names and key != 'e2e':
            raise ValueError(f'benchmark results: top-level key {key!r} belongs to no section '
                             f'(sections: {list(section_names)}); a section stores its results '
                             f'under its own name, so the report knows where they were measured')
        out.append((where(results, key), key, None, (key,)))
    return out


def split_by_machine(results: dict, section_names=()) -> List[MachineView]:
    """The results split per machine class, the fresh run's machine first, then the others
    in the order they were first measured, "machine not recorded" last.

    Args:
        results: the benchmark JSON.
        section_names: the registered sections; a top-level key named after one is that
            section's results (measured as a whole).
    """
    views: Dict[Optional[Tuple], MachineView] = {}
    first: Dict[Optional[Tuple], str] = {}

    def view(m: Optional[dict]) -> MachineView:
        key = machine_key(m)
        if key not in views:
            base = {k: copy.deepcopy(results[k]) for k in ('mode', 'versions', 'notes')
                    if k in results}
            base.update(machine=m, models={})
            views[key] = MachineView(m, base)
        return views[key]

    run_key = machine_key(results.get('machine'))
    scaling_mem = where(results, 'memory') if 'scaling' in results else None
    for measured, section, model, path in parts(results, section_names):
        v = view(measured.machine)
        key = machine_key(measured.machine)
        first[key] = min(first.get(key, measured.date), measured.date)
        models = v.runs.setdefault(f'{measured.run} of {measured.date[:10]}', {}).setdefault(
            section, [])
        if model and model not in models:
            models.append(model)
        if measured.versions and measured.versions not in v.versions:
            v.versions.append(measured.versions)
        r = v.results
        if path[0] == 'models':
            _, name, k = path
            src = results['models'][name]
            dst = r['models'].setdefault(name, {m: src[m] for m in MODEL_META if m in src})
            dst[k] = copy.deepcopy(src[k])
        elif path[0] == 'peers':
            peers = r.setdefault('peers', {k: copy.deepcopy(val) for k, val in
                                           results['peers'].items() if k != 'models'})
            peers.setdefault('models', {})[path[1]] = copy.deepcopy(
                results['peers']['models'][path[1]])
        else:
            r[path[0]] = copy.deepcopy(results[path[0]])
            if path[0] == 'scaling' and machine_key(scaling_mem.machine) != key:
                for point in r['scaling'].values():  # memory from another machine: left out
                    for t in (point.values() if isinstance(point, dict) else ()):
                        if isinstance(t, dict):
                            t.pop('extra_mib', None)
    if run_key in views:  # what describes the fresh run itself
        r = views[run_key].results
        for k in ('date', 'gemm_peak_gflops', 'load', 'wall_s', 'disturbed_rounds'):
            if k in results:
                r[k] = copy.deepcopy(results[k])
    order = sorted(views, key=lambda k: (k is None, k != run_key, first.get(k, '')))
    return [views[k] for k in order]
