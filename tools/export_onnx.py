"""Export an hrnet_mm backbone (+ neck) or the whole model of a config to ONNX or OpenVINO IR,
verified against PyTorch (onnxruntime / OpenVINO) before the files are written (atomically).

    # a backbone preset, all four streams, dynamic batch / height / width
    python tools/export_onnx.py --backbone w32 hrnet_w32.onnx
    python tools/export_onnx.py --backbone lite18 --neck v2 --input-size 256 256 lite18_v2.onnx
    # the whole pose (heatmaps) or segmentation (logits) model of a config
    python tools/export_onnx.py --config configs/pose/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py \\
        --checkpoint work_dirs/x/best.pth pose_w32.onnx
    python tools/export_onnx.py --config configs/seg/fcn_hr18_4xb2-40k_cityscapes-512x1024.py \\
        --resize-to-input --dynamic batch seg_hr18.onnx
    # OpenVINO IR: an .xml output (weights in the .bin beside it), or --format openvino
    python tools/export_onnx.py --backbone w32 --out-streams first hrnet_w32.xml

The graph input is the preprocessed image (normalised, in the model's channel order); heatmap
and segmentation decoding stay outside. Exit status 1 with one line on stderr when the
checkpoint does not fit or the exported graph does not reproduce PyTorch (max abs diff > atol).
"""
import argparse
import sys
from typing import Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from hrnet_mm.checkpoint import CheckpointError, load_checkpoint
from hrnet_mm.export import (DEFAULT_ATOL, DEFAULT_OPSET, DYNAMIC_AXES, ExportError,
                             build_model, export_onnx, export_openvino)
from hrnet_mm.guards import NonFiniteError
from hrnet_mm.models import ARCH_PRESETS, HRNet, HRNetV2Neck, HRNetV2pNeck, LiteHRNet
from hrnet_mm.models.lite_arch import LITE_ARCH_PRESETS

UPSAMPLE = {'nearest': 'nearest', 'bilinear': dict(mode='bilinear', align_corners=False),
            'mmseg': dict(mode='bilinear', align_corners=False, scale_first=True)}
DEFAULT_SIZE = (256, 192)
FORMATS = ('onnx', 'openvino')


def _dynamic_axes(text: str) -> Tuple[str, ...]:
    if text == 'all':
        return DYNAMIC_AXES
    if text == 'none':
        return ()
    axes = tuple(a.strip() for a in text.split(','))
    if not set(axes) <= set(DYNAMIC_AXES):
        raise argparse.ArgumentTypeError(f'expected "all", "none" or a comma-separated subset '
                                         f'of {",".join(DYNAMIC_AXES)}, got {text!r}')
    return axes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('out', help='output file: .onnx (ONNX) or .xml (OpenVINO IR, weights '
                        'in the .bin beside it)')
    parser.add_argument('--format', choices=FORMATS, help='output format (default: from the '
                        'extension of out: .xml is openvino, anything else onnx)')
    parser.add_argument('--fixed-ratios', choices=['auto', 'on', 'off'], default='auto',
                        help='trace resampling with fixed ratios (constant Resize scales, fixed '
                        'Lite-HRNet pooling): as fast in onnxruntime as the toolboxes\' own '
                        'exports, exact for sizes divisible by 32 only; auto (default): on for '
                        'static height/width divisible by 32')
    parser.add_argument('--fp16-weights', action='store_true',
                        help='openvino: store the weights in fp16 (half the .bin; check with a '
                        'larger --atol, e.g. 1e-2)')
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument('--config', help='an mm config: export its whole model')
    what.add_argument('--backbone', choices=sorted(ARCH_PRESETS) + sorted(LITE_ARCH_PRESETS),
                      help='a backbone preset (HRNet or Lite-HRNet)')
    parser.add_argument('--checkpoint', help='weights: whole-model keys with --config, a '
                        'backbone (any layout hrnet_mm.checkpoint converts) with --backbone')
    parser.add_argument('--neck', choices=['v2', 'v2p'], help='--backbone: add HRNetV2Neck '
                        '(concatenation) or HRNetV2pNeck (5-level pyramid, 256 channels)')
    parser.add_argument('--out-streams', choices=['all', 'first'], default='all',
                        help='--backbone: all four streams, or stream 0 only (pose V1)')
    parser.add_argument('--upsample', choices=sorted(UPSAMPLE), default='nearest',
                        help='--backbone HRNet: exchange-unit upsampling')
    parser.add_argument('--input-size', nargs=2, type=int, metavar=('H', 'W'),
                        help='traced input size (default: the config\'s input / crop size, '
                        f'else {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]})')
    parser.add_argument('--batch', type=int, default=1, help='traced batch size')
    parser.add_argument('--dynamic', type=_dynamic_axes, default=DYNAMIC_AXES,
                        metavar='AXES', help='dynamic axes: "all" (default), "none", or a '
                        'comma-separated subset of batch,height,width')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset (13-20)')
    parser.add_argument('--resize-to-input', action='store_true',
                        help='segmentation: logits resized to the input size, as mmseg predicts')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the onnxruntime comparison (not recommended)')
    parser.add_argument('--verify-size', nargs=2, type=int, action='append', metavar=('H', 'W'),
                        help='verify at this size too (repeatable; default: the traced size '
                        'and one not divisible by 32 when height/width are dynamic)')
    parser.add_argument('--atol', type=float, default=DEFAULT_ATOL,
                        help='largest allowed |onnxruntime - PyTorch|')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='--config: override settings (nested keys with dots)')
    return parser.parse_args(argv)


def config_input_size(cfg) -> Optional[Tuple[int, int]]:
    """(H, W) the config trains at: mmpose ``codec.input_size`` (W, H) or mmseg ``crop_size``."""
    codec = cfg.get('codec')
    if isinstance(codec, dict) and 'input_size' in codec:
        w, h = codec['input_size']
        return int(h), int(w)
    if cfg.get('crop_size') is not None:
        h, w = cfg['crop_size']
        return int(h), int(w)
    return None


def _build(args: argparse.Namespace):
    """(model, neck, default input size)."""
    if args.config:
        from hrnet_mm.utils import allow_mm_checkpoint_globals
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        # Runner checkpoints hold numpy / mmengine objects beside the weights: allow exactly
        # those types, keeping torch.load(weights_only=True) (docs/robustness.md).
        allow_mm_checkpoint_globals()
        return build_model(cfg, args.checkpoint), None, config_input_size(cfg)
    if args.backbone in LITE_ARCH_PRESETS:
        model = LiteHRNet(args.backbone, out_streams=args.out_streams)
    else:
        model = HRNet(args.backbone, multiscale_output=args.out_streams == 'all',
                      upsample=UPSAMPLE[args.upsample])
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint)
    neck = None
    if args.neck:
        if args.out_streams != 'all':
            raise ValueError('--neck needs --out-streams all')
        neck_type = HRNetV2Neck if args.neck == 'v2' else HRNetV2pNeck
        neck = neck_type(list(model.out_channels))
    return model, neck, None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        model, neck, size = _build(args)
        h, w = args.input_size or size or DEFAULT_SIZE
        shape = (args.batch, 3, h, w)
        verify_shapes = None
        if args.verify_size:
            verify_shapes = [shape] + [(args.batch, 3, vh, vw) for vh, vw in args.verify_size]
        fmt = args.format or ('openvino' if args.out.endswith('.xml') else 'onnx')
        kwargs = dict(neck=neck, dynamic=args.dynamic, opset=args.opset,
                      verify=not args.no_verify, verify_shapes=verify_shapes, atol=args.atol,
                      resize_to_input=args.resize_to_input,
                      fixed_ratios={'auto': None, 'on': True, 'off': False}[args.fixed_ratios])
        if fmt == 'openvino':
            result = export_openvino(model, args.out, shape, compress_to_fp16=args.fp16_weights,
                                     **kwargs)
        else:
            if args.fp16_weights:
                raise ValueError('--fp16-weights is for --format openvino')
            result = export_onnx(model, args.out, shape, **kwargs)
    except (CheckpointError, ExportError, NonFiniteError, ValueError, ImportError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    files = result.path + (f' + {result.weights_path}' if result.weights_path else '')
    print(f'exported {files} (opset {result.opset}, input {shape}, dynamic '
          f'{list(result.dynamic) or "none"}, outputs {list(result.output_names)}) in '
          f'{result.export_seconds:.1f}s')
    if result.fixed_ratios:
        print('  fixed resampling ratios: for input sizes divisible by 32')
    runtime = 'OpenVINO' if fmt == 'openvino' else 'onnxruntime'
    for s, diff in result.max_abs_diff.items():
        print(f'  {runtime} vs PyTorch at input {s}: max abs diff {diff:.2e}')
    if not result.max_abs_diff:
        print('  not verified (--no-verify)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
