"""Benchmark hrnet_mm against the mm model zoo (:mod:`hrnet_mm.benchmark`).

    python tools/benchmark.py                     # everything (about 30 min on 2 cores)
    python tools/benchmark.py --quick             # smoke test: tiny sizes
    python tools/benchmark.py --models pose_w32,pose_lite18 --out work_dirs/bench
    python tools/benchmark.py --only scaling      # re-measure one section, merge, re-render
    python tools/benchmark.py --docs --render     # re-render docs/benchmark.md from its JSON

Results: ``<out>/benchmark.json``, ``<out>/benchmark.md``, ``<out>/benchmark_scaling.png``
(``<out>``: ``work_dirs/benchmark/``; ``--docs``: the tracked ``docs/``).
"""
from hrnet_mm.benchmark.cli import main

if __name__ == '__main__':
    main()
