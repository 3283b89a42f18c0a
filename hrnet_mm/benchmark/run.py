"""One benchmark run: the sections in order, then the JSON, the markdown and the plot.

Without ``--only`` the run starts from empty results; with it, from the ``benchmark.json``
in the output folder (when there is one), into which the chosen sections merge what they
measure. Either way the targets, the markdown and the plot are derived from the whole JSON.
"""
import datetime
import os
import os.path as osp
import sys
import time
from typing import List, Optional

from .common import REPO_ROOT, log
from .plot import plot_scaling
from .report import (machine_info, read_json, targets_per_machine, versions, write_json,
                     write_markdown)
from .sections import Context, load_sections, select_sections
from .specs import QUICK_MODELS, SPECS
from .timing import gemm_peak, gemm_peak_text, wait_for_quiet


#: The project's own record (``--docs``): the tracked ``docs/benchmark.{json,md}``.
DOCS_DIR = osp.join(REPO_ROOT, 'docs')


def default_out_dir(quick: bool) -> str:
    """``work_dirs/benchmark`` for a full run, ``work_dirs/benchmark_quick`` with ``--quick``:
    benchmarking one's own machine never overwrites the tracked ``docs/`` (``--docs`` does)."""
    return osp.join(REPO_ROOT, 'work_dirs', 'benchmark_quick' if quick else 'benchmark')


def out_dir_of(args) -> str:
    """The output folder: ``--out``, ``docs/`` with ``--docs``, else :func:`default_out_dir`."""
    if getattr(args, 'docs', False):
        return DOCS_DIR
    return args.out or default_out_dir(args.quick)


def render(args) -> dict:
    """``--render``: re-render ``benchmark.md`` (and the targets in the JSON) from the output
    folder's ``benchmark.json``, measuring nothing.

    Raises:
        SystemExit: when the folder has no ``benchmark.json``.
    """
    out_dir = out_dir_of(args)
    json_path = osp.join(out_dir, 'benchmark.json')
    if not osp.isfile(json_path):
        raise SystemExit(f'--render: no {json_path} to render (measure first, or pick '
                         f'--out / --docs)')
    results = read_json(json_path)
    table = list(load_sections().values())
    results['targets'] = targets_per_machine(results, table)
    write_json(results, json_path)
    write_markdown(results, osp.join(out_dir, 'benchmark.md'), table)
    log(f'rendered {out_dir}/benchmark.md from its benchmark.json')
    return results


def model_names(models: Optional[str], quick: bool) -> List[str]:
    """The models of a run: ``--models`` (comma-separated) or the run's default list.

    Raises:
        ValueError: naming the unknown models and the allowed ones.
    """
    names = models.split(',') if models else list(QUICK_MODELS if quick else SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise ValueError(f'--models: unknown models {unknown}; choose from {list(SPECS)}')
    return names


def _fresh_results(args, load: dict, command: str) -> dict:
    return dict(mode='quick' if args.quick else 'full',
                date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                machine=machine_info(args.threads), versions=versions(), load=load,
                command=command, models={}, notes=[])


def _merge_target(path: str, args) -> Optional[dict]:
    """The results to merge into with ``--only`` (None: start afresh)."""
    if not (args.only and osp.isfile(path)):
        return None
    results = read_json(path)
    mode = 'quick' if args.quick else 'full'
    if results.get('mode') != mode:
        raise SystemExit(f'{path} holds a {results.get("mode")!r} run; a {mode!r} run cannot '
                         f'merge into it (add or drop --quick, or pick another --out)')
    threads = results.get('machine', {}).get('torch_threads')
    if threads != args.threads:
        log(f'note: {path} was measured with {threads} threads, this run uses {args.threads}')
    results.setdefault('models', {})
    return results


def run(args, argv: Optional[List[str]] = None) -> dict:
    """Run the sections chosen by ``args`` and write the report.

    Args:
        args: :func:`hrnet_mm.benchmark.cli.parse_args`'s result.
        argv: the command line's arguments, recorded in the results.

    Returns:
        the results as written to ``<out>/benchmark.json``.
    """
    if getattr(args, 'render', False):
        return render(args)
    out_dir = out_dir_of(args)
    os.makedirs(out_dir, exist_ok=True)
    json_path = osp.join(out_dir, 'benchmark.json')
    names = model_names(args.models, args.quick)
    sections = select_sections(args.only)
    command = ' '.join(['tools/benchmark.py'] + list(argv if argv is not None else sys.argv[1:]))
    merged = _merge_target(json_path, args)
    load = wait_for_quiet(args.wait_load, args.max_wait * 60) if args.wait_load else \
        dict(before=os.getloadavg()[0], note='')
    t0 = time.time()
    results = merged if merged is not None else _fresh_results(args, load, command)
    ctx = Context(args=args, results=results, names=names, out_dir=out_dir,
                  loads=[load['before']])
    log(f'{results["machine"]["cpu"]}, {args.threads} threads, load {load["before"]:.2f}; '
        f'models: {", ".join(names)}; sections: {", ".join(s.name for s in sections)}'
        + (f' (merged into {json_path})' if merged is not None else ''))
    if merged is None or 'gemm_peak_gflops' not in results:
        results['gemm_peak_gflops'] = gemm_peak(args.quick)
        log('GEMM peak: ' + gemm_peak_text(results['gemm_peak_gflops']))
    for section in sections:
        section.run(ctx)
    ran = {s.name for s in sections}
    if 'scaling' in results and (merged is None or ran & {'scaling', 'memory'}):
        plot_scaling(results['scaling'], osp.join(out_dir, 'benchmark_scaling.png'))
    if merged is None:
        results['load']['after'] = os.getloadavg()[0]
        results['load']['during'] = ctx.loads
        results['load']['other_jobs_cores_before_each_model'] = ctx.others
    results['disturbed_rounds'] = {
        f'{n}/{part}': t['disturbed_rounds'] for n, r in results['models'].items()
        for part in ('forward', 'train') for t in r.get(part, {}).values()
        if t.get('disturbed_rounds')}
    if merged is None:
        results['gemm_peak_gflops'] = gemm_peak(args.quick, results['gemm_peak_gflops'])
        results['wall_s'] = time.time() - t0
    else:
        results.setdefault('updates', []).append(dict(
            sections=[s.name for s in sections], models=names,
            date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            command=command, wall_s=time.time() - t0, load_before=load['before'],
            load_after=os.getloadavg()[0], versions=versions(),
            machine=machine_info(args.threads)))
    table = list(load_sections().values())
    results['targets'] = targets_per_machine(results, table)
    write_json(results, json_path)
    write_markdown(results, osp.join(out_dir, 'benchmark.md'), table)
    for t in results['targets']:
        log(f'target {"MET" if t["met"] else "NOT MET"}: {t["target"]}: {t["measured"]}')
    log(f'wrote {out_dir}/benchmark.json and benchmark.md ({(time.time() - t0) / 60:.1f} min)')
    return results
