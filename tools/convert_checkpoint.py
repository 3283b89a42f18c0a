"""Convert an HRNet checkpoint from the official repos, timm, mmpose, mmseg, mmdet or
mmpretrain into the hrnet_mm layout (``backbone.*``, ``neck.*``, heads), written atomically;
or import a PP-TinyPose deploy graph (OpenVINO ``.xml`` / ncnn ``.param``, BN folded) as an
mmpose checkpoint for ``configs/pose/td-hm_pp-tinypose-*`` (docs/real_model.md).

    python tools/convert_checkpoint.py SRC DST [--source official_cls] [--backbone-only]
    python tools/convert_checkpoint.py pp_tinypose/openvino_256x192/model.xml pp_tinypose.pth \\
        [--config configs/pose/td-hm_pp-tinypose-256x192_coco.py]
"""
import argparse
import os
import sys

from hrnet_mm.checkpoint import (SOURCES, CheckpointError, convert_state_dict,
                                 describe_variant, detect_source, read_checkpoint,
                                 split_state_dict)
from hrnet_mm.checkpoint_deploy import DEPLOY_SUFFIXES, convert_deploy_graph
from hrnet_mm.fileio import atomic_save


def convert_deploy(args) -> int:
    input_size = None
    if args.config:
        from hrnet_mm.apis import load_config
        input_size = tuple(load_config(args.config).codec['input_size'])
    try:
        sd = convert_deploy_graph(args.src, args.dst, weights=args.weights,
                                  input_size=input_size)
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'{args.src} (PP-TinyPose deploy graph) -> {args.dst}: {len(sd)} tensors')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='input checkpoint (.pth), or a deploy graph (.xml / .param)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--source', choices=SOURCES, help='codebase of SRC (default: detect)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='write only the backbone weights, without the prefix')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='torch.load with weights_only=False (only for files you trust)')
    parser.add_argument('--weights', help='deploy graph: its .bin (default: beside SRC)')
    parser.add_argument('--config', help='deploy graph: the config the checkpoint is for; a '
                        'graph exported for another input size is refused')
    args = parser.parse_args(argv)
    if os.path.splitext(args.src)[1].lower() in DEPLOY_SUFFIXES:
        return convert_deploy(args)
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
