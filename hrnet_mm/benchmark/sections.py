"""The benchmark's sections: each one measures one part of the results, registered in a table.

A full run runs every default section in table order; ``--only SECTION[,SECTION]`` runs just
those and merges what they measure into an existing ``benchmark.json``. A section function
gets a :class:`Context` and writes its results into ``ctx.results`` itself, replacing the
fields it measures and leaving every other field as it found it (a section that re-times a
model keeps the model's memory figures, which belong to the ``memory`` section).

Adding a section (e.g. ``peers``): write a module in this package with

.. code-block:: python

    @register_section('peers', help='...', render=peers_markdown, targets=peers_targets)
    def peers_section(ctx: Context) -> None:
        ctx.results['peers'] = ...

and add the module's name to :data:`SECTION_MODULES`. ``render(results) -> [lines]`` adds
the section's markdown after the built-in tables (return ``[]`` when its results are absent);
``targets(results) -> [dict(target, goal, measured, met)]`` adds rows to the targets table.
"""
import argparse
import importlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# Imported (in this order) to fill the table; a full run runs the sections in table order.
SECTION_MODULES = (
    'hrnet_mm.benchmark.compare',   # pose, seg, det, accuracy
    'hrnet_mm.benchmark.scaling',   # scaling
    'hrnet_mm.benchmark.memory',    # memory (after the models and the scaling points)
    'hrnet_mm.benchmark.peers',     # peers (the runtimes deployers use, issue 12)
    'hrnet_mm.benchmark.e2e',       # e2e (whole test loops, stock vs fast mode)
    'hrnet_mm.benchmark.real_model',  # real (PP-TinyPose vs its released IR)
)


@dataclass
class Context:
    """What a section works with.

    Args:
        args: the parsed command line (:func:`hrnet_mm.benchmark.cli.parse_args`).
        results: the results, already holding the merged JSON's with ``--only``.
        names: the models of this run (``--models``, or the run's default list).
        out_dir: where ``benchmark.json`` / ``.md`` / ``_scaling.png`` go.
        loads: the 1-min load average after each part (appended to by the sections).
        others: cores used by other jobs just before each model (full runs).
    """
    args: argparse.Namespace
    results: dict
    names: List[str]
    out_dir: str
    loads: List[float] = field(default_factory=list)
    others: List[float] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """A registered section (see :func:`register_section`)."""
    name: str
    run: Callable[[Context], None]
    help: str
    render: Optional[Callable[[dict], List[str]]] = None
    targets: Optional[Callable[[dict], List[dict]]] = None
    default: bool = True


SECTIONS: Dict[str, Section] = {}  # as registered; load_sections() gives the run order


def register_section(name: str, *, help: str, render: Optional[Callable] = None,
                     targets: Optional[Callable] = None, default: bool = True):
    """Decorator: register ``fn(ctx)`` as the section ``name``.

    Args:
        name: the name ``--only`` takes.
        help: one line for ``--help``.
        render: ``results -> markdown lines`` of the section's own part of the report.
        targets: ``results -> target rows`` the section adds to the targets table.
        default: part of a run without ``--only``.

    Raises:
        ValueError: when ``name`` is registered already.
    """
    def deco(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        if name in SECTIONS:
            raise ValueError(f'section {name!r} is registered already (by '
                             f'{SECTIONS[name].run.__module__})')
        SECTIONS[name] = Section(name, fn, help, render, targets, default)
        return fn
    return deco


def load_sections() -> Dict[str, Section]:
    """Import :data:`SECTION_MODULES` (registering their sections); return the table in run
    order: by the module's place in :data:`SECTION_MODULES`, then by registration (which
    order the modules happen to be imported in does not matter)."""
    for module in SECTION_MODULES:
        importlib.import_module(module)
    rank = {m: i for i, m in enumerate(SECTION_MODULES)}
    names = list(SECTIONS)
    ordered = sorted(names, key=lambda n: (rank.get(SECTIONS[n].run.__module__, len(rank)),
                                           names.index(n)))
    return {n: SECTIONS[n] for n in ordered}


def select_sections(only: Optional[str]) -> List[Section]:
    """The sections to run: every default section, or those named in ``only`` (comma-separated),
    in table order.

    Raises:
        ValueError: naming ``--only``'s unknown values and the allowed ones.
    """
    table = load_sections()
    if not only:
        return [s for s in table.values() if s.default]
    wanted = [n.strip() for n in only.split(',') if n.strip()]
    unknown = [n for n in wanted if n not in table]
    if unknown or not wanted:
        raise ValueError(f'--only must name sections among {list(table)}, got {only!r}')
    return [s for n, s in table.items() if n in wanted]
