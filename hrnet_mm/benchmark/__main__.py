"""``python -m hrnet_mm.benchmark``: the same command line as ``tools/benchmark.py``."""
from hrnet_mm.benchmark.cli import main

main()
