"""The command line of the benchmark (``tools/benchmark.py``, ``python -m hrnet_mm.benchmark``).

    python tools/benchmark.py                     # everything (about 30 min on 2 cores)
    python tools/benchmark.py --quick             # smoke test: tiny sizes, a few minutes
    python tools/benchmark.py --models pose_w32,pose_lite18 --out work_dirs/bench
    python tools/benchmark.py --only scaling,memory   # re-measure two sections, merge, render
    python tools/benchmark.py --only e2e --e2e-tasks det   # one e2e task, merged
    python tools/benchmark.py --docs --render     # re-render docs/benchmark.md from its JSON

Results: ``<out>/benchmark.json``, ``<out>/benchmark.md``, ``<out>/benchmark_scaling.png``;
``<out>`` is ``work_dirs/benchmark/`` unless ``--out`` or ``--docs`` (the tracked ``docs/``,
the project's record) says otherwise.
"""
import argparse
import json
from typing import List, Optional

from .e2e import TASKS as E2E_TASKS
from .e2e import e2e_task_names
from .memory import probe
from .run import run
from .sections import load_sections, select_sections
from .specs import QUICK_MODELS, SPECS
from .timing import pin_threads


def _sections_help(table: dict) -> str:
    return '; '.join(f'{s.name}: {s.help}' for s in table.values())


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line; fill in the defaults that depend on ``--quick``.

    ``args.repeats_for(spec)`` is the number of timed forward rounds of a model.
    """
    table = load_sections()
    p = argparse.ArgumentParser(
        prog='tools/benchmark.py',
        description='Benchmark hrnet_mm against the mm model zoo: same recipe, same weights, '
        'side by side.')
    p.add_argument('--quick', action='store_true',
                   help=f'smoke test: tiny inputs, 1-2 repeats, models {",".join(QUICK_MODELS)}')
    p.add_argument('--models', help=f'comma-separated subset of {",".join(SPECS)}')
    p.add_argument('--only', metavar='SECTION[,SECTION]',
                   help='run just these sections and merge their results into the existing '
                   'benchmark.json of the output folder, then re-render benchmark.md from it. '
                   'Sections: ' + _sections_help(table))
    p.add_argument('--out', help='output folder (default work_dirs/benchmark, or '
                   'work_dirs/benchmark_quick with --quick)')
    p.add_argument('--docs', action='store_true',
                   help='write into docs/ (the tracked benchmark.json / .md: the project\'s '
                   'record), not work_dirs/')
    p.add_argument('--render', action='store_true',
                   help='measure nothing: re-render benchmark.md from the output folder\'s '
                   'benchmark.json')
    p.add_argument('--threads', type=int,
                   help='torch threads, fixed for the run (default 2; 1 with --quick, where '
                   'a busy machine would otherwise stall OpenMP barriers)')
    p.add_argument('--repeats', type=int, help='timed forward rounds (default 5, seg/det 3)')
    p.add_argument('--train-repeats', type=int, help='timed training steps (default 3)')
    p.add_argument('--e2e-tasks', metavar='TASK[,TASK]',
                   help='the e2e section\'s tasks to run (default all: '
                   f'{",".join(E2E_TASKS)}); the stored results of the others stay when they '
                   'were measured on this machine class with the same threads')
    p.add_argument('--train-iters', type=int, default=400,
                   help='iterations of the W32 fit to the sample for the bf16 keypoint check')
    p.add_argument('--compile', dest='compile', action='store_true', default=None,
                   help='run the torch.compile variants (default: yes, not with --quick)')
    p.add_argument('--no-compile', dest='compile', action='store_false',
                   help='skip the torch.compile variants')
    p.add_argument('--compile-all', action='store_true',
                   help='compile the segmentation and detection models too (by default only '
                   'the pose models: each compilation takes minutes on 2 cores)')
    p.add_argument('--no-train', action='store_true', help='skip the training-step timing')
    p.add_argument('--no-memory', action='store_true', help='skip the memory probes')
    p.add_argument('--no-flops', action='store_true', help='skip mmengine\'s FlopAnalyzer')
    p.add_argument('--no-accuracy', action='store_true',
                   help='skip the bf16 keypoint and label checks on fitted models')
    p.add_argument('--no-scaling', action='store_true', help='skip the scaling sweep')
    p.add_argument('--wait-load', type=float, default=0,
                   help='wait (up to --max-wait min) until the 1-min load average is below this')
    p.add_argument('--max-wait', type=float, default=25)
    p.add_argument('--max-wait-model', type=float, default=5,
                   help='before each model of a full run, wait up to this many minutes while '
                   'other jobs use more than half a core')
    p.add_argument('--probe', nargs='+', help=argparse.SUPPRESS)  # see memory.run_probe
    args = p.parse_args(argv)
    try:
        select_sections(args.only)
    except ValueError as e:
        p.error(str(e))
    try:
        e2e_task_names(args.e2e_tasks)
    except ValueError as e:
        p.error(str(e))
    if args.docs and args.out:
        p.error('--docs and --out both name the output folder: give one')
    if args.docs and args.quick:
        p.error('--docs holds the full run: a --quick run goes to work_dirs/ (or --out)')
    unknown = [n for n in (args.models.split(',') if args.models else []) if n not in SPECS]
    if unknown:
        p.error(f'--models: unknown models {unknown}; choose from {list(SPECS)}')
    if args.compile is None:
        args.compile = not args.quick
    if args.threads is None:
        args.threads = 1 if args.quick else 2
    args.train_repeats = args.train_repeats or (1 if args.quick else 3)

    def repeats_for(spec) -> int:
        if args.repeats:
            return args.repeats
        if args.quick:
            return 2
        return 3 if spec.task in ('seg', 'det') else 5

    args.repeats_for = repeats_for
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the benchmark (or, with the hidden ``--probe``, one memory probe process)."""
    args = parse_args(argv)
    pin_threads(args.threads)
    if args.probe:  # memory, in a process of its own (see memory.run_probe)
        res = probe(args.probe, args.quick)
        print('PROBE ' + json.dumps(res), flush=True)
        return res
    return run(args, argv)

