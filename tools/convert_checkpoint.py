"""Convert an HRNet checkpoint from the official repos, timm, mmpose, mmseg, mmdet or
mmpretrain into the hrnet_mm layout (``backbone.*``, ``neck.*``, heads), written atomically.

    python tools/convert_checkpoint.py SRC DST [--source official_cls] [--backbone-only]
"""
import argparse
import sys

from hrnet_mm.checkpoint import (SOURCES, CheckpointError, convert_state_dict,
                                 describe_variant, detect_source, read_checkpoint,
                                 split_state_dict)
from hrnet_mm.fileio import atomic_save


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='input checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--source', choices=SOURCES, help='codebase of SRC (default: detect)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='write only the backbone weights, without the prefix')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='torch.load with weights_only=False (only for files you trust)')
    args = parser.parse_args(argv)
    try:
        sd = read_checkpoint(args.src, weights_only=not args.unsafe_load)
        source = args.source or detect_source(sd)
        out = convert_state_dict(sd, source)
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if args.backbone_only:
        out = split_state_dict(out, 'backbone.')
    atomic_save({'state_dict': out, 'meta': {'hrnet_mm_source': source}}, args.dst)
    print(f'{args.src} ({source}, {describe_variant(out)}) -> {args.dst}: {len(out)} tensors')
    return 0


if __name__ == '__main__':
    sys.exit(main())
