"""Checkpoint key mapping: official / timm / mmpose / mmseg / mmdet / mmpretrain -> hrnet_mm.

Our layout is a whole-model state dict whose backbone keys are the official HRNet keys under
``backbone.`` (which the mm copies share), necks under ``neck.`` and heads under the toolbox's
own names (``head.`` for pose and classification, ``decode_head.`` for segmentation,
``rpn_head.`` / ``roi_head.`` for detection). :func:`convert_state_dict` is a pure function;
:func:`load_checkpoint` reads a file safely, converts it and loads it into a model, reporting
anything that does not match by name.
"""
import os
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

import torch

from .models.arch import ARCH_PRESETS, HRNetArch, StageSpec

SOURCES = ('official_cls', 'timm', 'official_pose', 'official_seg', 'official_det',
           'official_lite', 'mmpose', 'mmseg', 'mmdet', 'mmpretrain', 'hrnet_mm')

# HRNet (official layout) and Lite-HRNet (mmpose / official Lite-HRNet layout) backbone keys.
BACKBONE_KEY = re.compile(r'^(conv[12]|bn[12]|gn[12]|layer1|transition[0123]|stage[01234]'
                          r'|stem|head_layer)\.')
CLS_HEAD_KEY = re.compile(r'^(incre_modules|downsamp_modules|final_layer|classifier)\.')
# Wrappers around a whole model in training scripts (DataParallel, the seg repo's FullModel).
WRAPPER_PREFIXES = ('module.', 'model.')
# Keys that hold training state, not weights (the official seg repo's loss weights).
TRAINING_ONLY = re.compile(r'^loss\.')
MM_TOP_LEVEL = ('backbone.', 'neck.', 'head.', 'decode_head.', 'auxiliary_head.', 'rpn_head.',
                'roi_head.', 'bbox_head.', 'mask_head.', 'data_preprocessor.')


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message names what did not match."""


def _strip_wrappers(sd: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    out = dict(sd)
    changed = True
    while changed and out:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix):]: v for k, v in out.items()}
                changed = True
    return out


def _group(keys: Iterable[str], depth: int = 3, limit: int = 10) -> List[str]:
    """Summarise keys by their first ``depth`` components with counts (for error messages);
    coarser when that gives more than ``limit`` groups."""
    keys = list(keys)
    counts: Dict[str, int] = OrderedDict()
    for k in keys:
        g = '.'.join(k.split('.')[:depth])
        counts[g] = counts.get(g, 0) + 1
    if len(counts) > limit and depth > 1:
        return _group(keys, depth - 1, limit)
    groups = [f'{g}.* ({n})' if n > 1 else g for g, n in counts.items()]
    return groups[:limit] + ([f'... {len(groups) - limit} more'] if len(groups) > limit else [])


def detect_source(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Guess which codebase wrote ``state_dict`` from its keys.

    Example:
        >>> detect_source({'backbone.conv1.weight': None, 'head.final_layer.weight': None})
        'mmpose'
        >>> detect_source({'conv1.weight': None, 'incre_modules.0.0.conv1.weight': None})
        'official_cls'
    """
    sd = _strip_wrappers(state_dict)
    keys = list(sd)
    if not keys:
        raise CheckpointError('the state dict is empty')
    if any(k.startswith('backbone.') for k in keys):
        if any(k.startswith('neck.increase_layers') for k in keys):
            return 'mmpretrain'
        if any(k.startswith(('decode_head.', 'auxiliary_head.')) for k in keys):
            return 'mmseg'
        if any(k.startswith(('rpn_head.', 'roi_head.')) for k in keys):
            return 'mmdet'
        if any(k.startswith(('bbox_head.', 'mask_head.')) for k in keys):
            return 'official_det'
        if any(k.startswith('head.incre_modules') for k in keys):
            return 'hrnet_mm'
        if any(k.startswith('neck.') for k in keys):
            return 'mmdet'
        return 'mmpose'
    if any(k.startswith('last_layer.') for k in keys):
        return 'official_seg'
    if any(CLS_HEAD_KEY.match(k) and not k.startswith('final_layer.') for k in keys):
        return 'official_cls'
    if 'final_layer.weight' in sd:
        return 'official_pose'
    if any(k.startswith('stem.') for k in keys):
        return 'official_lite'  # a bare Lite-HRNet backbone
    if any(BACKBONE_KEY.match(k) for k in keys):
        return 'official_cls'  # a bare backbone (e.g. timm features, ImageNet pretrain)
    raise CheckpointError('cannot tell which codebase wrote this checkpoint: no HRNet keys '
                          f'found; key groups: {_group(keys, 1)[:20]}')


def _fold_bias_into_bn(out: Dict[str, torch.Tensor], bias: torch.Tensor, bn_prefix: str) -> None:
    """``bn(conv(x) + b) == bn'(conv(x))`` with ``running_mean' = running_mean - b`` (eval)."""
    out[f'{bn_prefix}.running_mean'] = out[f'{bn_prefix}.running_mean'] - bias


def convert_state_dict(state_dict: Mapping[str, torch.Tensor],
                       source: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """Convert an HRNet state dict from any known codebase into the hrnet_mm layout.

    Args:
        state_dict: The weights (a ``state_dict`` or the ``state_dict`` entry of a checkpoint).
        source: One of :data:`SOURCES`; detected from the keys when None.

    Returns:
        An ordered dict with ``backbone.*`` in the official key layout, and ``neck.*``,
        ``head.*``, ``decode_head.*`` ... for what the checkpoint holds beyond the backbone.

    Raises:
        CheckpointError: when ``source`` is unknown, or keys cannot be mapped (listed by name).

    Example:
        >>> import torch
        >>> sd = {'conv1.weight': torch.zeros(1), 'final_layer.weight': torch.zeros(1)}
        >>> list(convert_state_dict(sd))
        ['backbone.conv1.weight', 'head.final_layer.weight']
    """
    if source is None:
        source = detect_source(state_dict)
    if source not in SOURCES:
        raise CheckpointError(f'source must be one of {SOURCES}, got {source!r}')
    sd = _strip_wrappers(state_dict)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unmatched: List[str] = []

    if source in ('mmpose', 'mmseg', 'mmdet', 'hrnet_mm'):
        for k, v in sd.items():
            if k.startswith('keypoint_head.'):  # mmpose 0.x and the official Lite-HRNet repo
                out['head.' + k[len('keypoint_head.'):]] = v
            elif k.startswith(MM_TOP_LEVEL):
                out[k] = v
            else:
                unmatched.append(k)
    elif source == 'official_det':  # mmdet 1.x layout: heads at the top level
        for k, v in sd.items():
            if k.startswith(('bbox_head.', 'mask_head.')):
                out[f'roi_head.{k}'] = v
            elif k.startswith(MM_TOP_LEVEL):
                out[k] = v
            else:
                unmatched.append(k)
    elif source == 'mmpretrain':
        _convert_mmpretrain(sd, out, unmatched)
    else:  # official_*, timm: backbone keys at the top level
        head = 'decode_head' if source == 'official_seg' else 'head'
        for k, v in sd.items():
            if TRAINING_ONLY.match(k):
                continue
            if BACKBONE_KEY.match(k):
                out[f'backbone.{k}'] = v
            elif source == 'official_seg' and k.startswith('last_layer.'):
                continue  # handled below
            elif CLS_HEAD_KEY.match(k) and source != 'official_seg':
                out[f'{head}.{k}'] = v
            else:
                unmatched.append(k)
        if source == 'official_seg' and 'last_layer.0.weight' in sd:
            # last_layer = conv1x1(bias) -> BN -> ReLU -> conv1x1(bias): mmseg's FCNHead with
            # kernel_size=1, num_convs=1 has a bias-free ConvModule, so fold the bias into BN.
            out['decode_head.convs.0.conv.weight'] = sd['last_layer.0.weight']
            for name in ('weight', 'bias', 'running_mean', 'running_var',
                         'num_batches_tracked'):
                if f'last_layer.1.{name}' in sd:
                    out[f'decode_head.convs.0.bn.{name}'] = sd[f'last_layer.1.{name}']
            if 'last_layer.0.bias' in sd:
                _fold_bias_into_bn(out, sd['last_layer.0.bias'], 'decode_head.convs.0.bn')
            out['decode_head.conv_seg.weight'] = sd['last_layer.3.weight']
            out['decode_head.conv_seg.bias'] = sd['last_layer.3.bias']
    if unmatched:
        raise CheckpointError(
            f'{len(unmatched)} keys of this {source} checkpoint do not map onto hrnet_mm: '
            f'{_group(unmatched)}; first keys: {unmatched[:5]}')
    return out


def _convert_mmpretrain(sd: Mapping[str, torch.Tensor], out: Dict[str, torch.Tensor],
                        unmatched: List[str]) -> None:
    """mmpretrain: backbone + ``HRFuseScales`` neck (bias-free ConvModules) + linear head."""
    for k, v in sd.items():
        if k.startswith('backbone.'):
            out[k] = v
        elif k.startswith('neck.increase_layers.'):
            out['head.incre_modules.' + k[len('neck.increase_layers.'):]] = v
        elif k.startswith(('neck.downsample_layers.', 'neck.final_layer.')):
            m = re.match(r'neck\.(downsample_layers\.(\d+)|final_layer)\.(conv|bn)\.(.+)', k)
            if m is None:
                unmatched.append(k)
                continue
            target = (f'head.downsamp_modules.{m.group(2)}' if m.group(2) is not None
                      else 'head.final_layer')
            index = '0' if m.group(3) == 'conv' else '1'
            out[f'{target}.{index}.{m.group(4)}'] = v
            if m.group(3) == 'conv':  # our convs have a bias (official layout): zero it
                out[f'{target}.0.bias'] = v.new_zeros(v.shape[0])
        elif k.startswith('head.fc.'):
            out['head.classifier.' + k[len('head.fc.'):]] = v
        elif k.startswith('data_preprocessor.'):
            continue
        else:
            unmatched.append(k)


def split_state_dict(converted: Mapping[str, torch.Tensor],
                     prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    """The entries of ``converted`` under ``prefix`` (e.g. ``'backbone.'``), prefix removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in converted.items() if k.startswith(prefix))


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> Optional[HRNetArch]:
    """Rebuild the :class:`HRNetArch` of a backbone state dict from its keys (None if not HRNet)."""
    sd = {k[len('backbone.'):] if k.startswith('backbone.') else k: v
          for k, v in state_dict.items()}
    if 'layer1.0.conv1.weight' not in sd:
        return None
    layer1 = {int(k.split('.')[1]) for k in sd if k.startswith('layer1.')}
    stages = [StageSpec(1, 1, 'BOTTLENECK', (len(layer1),),
                        (sd['layer1.0.conv1.weight'].shape[0],))]
    for k in (2, 3, 4):
        pat = re.compile(rf'^stage{k}\.(\d+)\.branches\.(\d+)\.(\d+)\.conv1\.weight$')
        found = [tuple(map(int, m.groups())) for m in map(pat.match, sd) if m]
        if not found:
            return None
        modules = max(f[0] for f in found) + 1
        branches = max(f[1] for f in found) + 1
        blocks = tuple(max(f[2] for f in found if f[0] == 0 and f[1] == b) + 1
                       for b in range(branches))
        widths = tuple(sd[f'stage{k}.0.branches.{b}.0.conv1.weight'].shape[0]
                       for b in range(branches))
        stages.append(StageSpec(modules, branches, 'BASIC', blocks, widths))
    return HRNetArch(tuple(stages))


def describe_variant(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A short description (``'HRNet w32 (BN, 4 output streams)'``) of a backbone state dict."""
    keys = [k[len('backbone.'):] if k.startswith('backbone.') else k for k in state_dict]
    if any(k.startswith(('stem.', 'stages.')) for k in keys):
        return 'Lite-HRNet'
    if any(CLS_HEAD_KEY.match(k) and not k.startswith('final_layer.') for k in keys) and \
            not any(BACKBONE_KEY.match(k) for k in keys):
        return 'an HRNet-C classification head without backbone'
    arch = infer_arch(state_dict)
    if arch is None:
        return f'not an HRNet backbone (key groups {_group(keys, 1)[:6]})'
    name = next((n for n, a in ARCH_PRESETS.items() if a == arch), f'custom W{arch.width}')
    norm = 'GN' if any('.gn1.' in k for k in keys) else 'BN'
    # the last stage-4 module decides: V1 (pose) models fuse into stream 0 only there
    last = max(int(k.split('.')[1]) for k in keys if k.startswith('stage4.'))
    streams = 4 if any(k.startswith(f'stage4.{last}.fuse_layers.3.') for k in keys) else 1
    return f'HRNet {name} ({norm}, {streams} output stream{"s" * (streams > 1)})'


def _is_torch_file(filename: str) -> bool:
    """A zip archive (``torch.save`` since 1.6) or a legacy file starting with torch's magic
    number pickled with protocol 2."""
    import zipfile
    if zipfile.is_zipfile(filename):
        return True
    with open(filename, 'rb') as f:
        return f.read(4) == b'\x80\x02\x8a\x0a'


def read_checkpoint(filename: str, weights_only: bool = True) -> Dict[str, torch.Tensor]:
    """Read a checkpoint file and return its state dict, with a clear error when it is broken.

    Uses ``torch.load(weights_only=True)``; mm Runner checkpoints that also hold training
    state need :func:`hrnet_mm.utils.safe_load.allow_mm_checkpoint_globals` first (an explicit,
    documented opt-in) or ``weights_only=False`` for a file you trust.
    """
    if not os.path.isfile(filename):
        raise CheckpointError(f'checkpoint file not found: {filename}')
    try:
        ckpt = torch.load(filename, map_location='cpu', weights_only=weights_only)
    except Exception as e:  # truncated zip, wrong format, disallowed pickle globals
        size = os.path.getsize(filename)
        # Only a well-formed torch file can hold disallowed globals; the legacy pickle reader
        # raises UnpicklingError on any other bytes too (random data, HTML error pages).
        unsafe = _is_torch_file(filename) and ('weights_only' in str(e)
                                               or 'Unpickl' in type(e).__name__)
        hint = ('it holds Python objects beyond weights: call '
                'hrnet_mm.utils.safe_load.allow_mm_checkpoint_globals() for an mm Runner '
                'checkpoint, or pass weights_only=False for a file you trust'
                if unsafe else
                'the file is truncated or corrupted (or not a PyTorch checkpoint)')
        raise CheckpointError(f'cannot read checkpoint {filename} ({size} bytes): {hint}. '
                              f'Original error: {type(e).__name__}: {str(e)[:300]}') from e
    if isinstance(ckpt, Mapping) and 'state_dict' in ckpt:
        ckpt = ckpt['state_dict']
    elif isinstance(ckpt, Mapping) and 'model' in ckpt and isinstance(ckpt['model'], Mapping):
        ckpt = ckpt['model']
    if not isinstance(ckpt, Mapping) or not all(isinstance(v, torch.Tensor) for v in
                                                 ckpt.values()):
        raise CheckpointError(f'{filename} does not hold a state dict of tensors')
    return dict(ckpt)


def load_checkpoint(model: torch.nn.Module,
                    checkpoint: Union[str, Mapping[str, torch.Tensor]],
                    prefix: str = 'backbone.',
                    source: Optional[str] = None,
                    strict: bool = True) -> Tuple[List[str], List[str]]:
    """Load any known HRNet checkpoint into ``model`` (by default into a bare backbone).

    Args:
        model: The module to load into.
        checkpoint: A file path or a state dict.
        prefix: Which part of the converted checkpoint to load (``'backbone.'`` for a backbone,
            ``''`` for a whole model).
        source: The checkpoint's codebase; detected when None.
        strict: Raise when keys or shapes do not match (default). With ``strict=False`` the
            missing and unexpected keys are returned instead.

    Returns:
        ``(missing_keys, unexpected_keys)``.

    Raises:
        CheckpointError: naming the file, the variant found and expected, and the key groups
            that did not match.
    """
    name = checkpoint if isinstance(checkpoint, str) else '<state dict>'
    sd = read_checkpoint(checkpoint) if isinstance(checkpoint, str) else dict(checkpoint)
    converted = convert_state_dict(sd, source)
    part = split_state_dict(converted, prefix) if prefix else converted
    if not part:
        raise CheckpointError(f'{name} has no "{prefix}" weights; it holds '
                              f'{_group(converted, 1)}')
    own = model.state_dict()
    missing = [k for k in own if k not in part]
    unexpected = [k for k in part if k not in own]
    shape_mismatch = [k for k in part if k in own and part[k].shape != own[k].shape]
    if strict and (missing or unexpected or shape_mismatch):
        found, expected = describe_variant(part), describe_variant(own)
        lines = [f'checkpoint {name} does not fit {type(model).__name__}: found {found}, '
                 f'expected {expected}.']
        if shape_mismatch:
            k = shape_mismatch[0]
            lines.append(f'{len(shape_mismatch)} shape mismatches in {_group(shape_mismatch)} '
                         f'(e.g. {k}: checkpoint {tuple(part[k].shape)} vs model '
                         f'{tuple(own[k].shape)})')
        if missing:
            lines.append(f'{len(missing)} missing keys in {_group(missing)}')
        if unexpected:
            lines.append(f'{len(unexpected)} unexpected keys in {_group(unexpected)}')
        raise CheckpointError(' '.join(lines))
    loadable = {k: v for k, v in part.items() if k in own and k not in shape_mismatch}
    model.load_state_dict(loadable, strict=False)
    return missing, unexpected + shape_mismatch
