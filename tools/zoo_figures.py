"""Params and GFLOPs of every config into the configs' READMEs and metafiles.

One definition (conv + linear multiply-adds / 2^30; all parameters) and one generator
(:mod:`hrnet_mm.apis.zoo_figures`); this file is its command line.

    python tools/zoo_figures.py             # rewrite the params / GFLOPs cells and metafile fields
    python tools/zoo_figures.py --check     # only list what differs (exit 1 if anything does)
    python tools/zoo_figures.py --task seg  # one task folder
"""
import argparse
import difflib
import os.path as osp
import sys

from hrnet_mm.apis.zoo_figures import TASKS, measure_all, page_updates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='write nothing; print the differences and exit 1 if any')
    parser.add_argument('--task', choices=TASKS, help='only this task folder')
    args = parser.parse_args()
    figures = measure_all(args.task)
    changed = []
    for path, (text, new) in page_updates(figures).items():
        if text == new:
            continue
        changed.append(path)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), new.splitlines(keepends=True), path, path, n=0))
        else:
            with open(path, 'w') as f:
                f.write(new)
    verb = 'differ' if args.check else 'rewritten'
    print(f'{len(figures)} configs measured; {len(changed)} pages {verb}'
          + ''.join(f'\n  {osp.relpath(p)}' for p in changed))
    return 1 if args.check and changed else 0


if __name__ == '__main__':
    sys.exit(main())
