"""ONNX and OpenVINO IR export of hrnet_mm backbones, necks and whole pose / segmentation
models, verified against PyTorch (with onnxruntime / OpenVINO) before the files are written.

The TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) is used: torch 2.9+
defaults to the ``torch.export``-based one, which needs ``onnxscript`` (not a dependency of the
mm stack). Height, width and batch can be dynamic; :func:`export_onnx` then also verifies at a
size the trace did not see (not divisible by 32), so a size frozen into the graph is caught at
export time, not in deployment.

What goes in is the preprocessed image tensor ``(N, C, H, W)`` (mean/std normalised, in the
channel order the model was trained with), as for the model's ``_forward``; decoding
(heatmap argmax, segmentation argmax) stays outside the graph.

Example:
    >>> import os, tempfile
    >>> from hrnet_mm.models import HRNet
    >>> path = os.path.join(tempfile.mkdtemp(), 'hrnet.onnx')
    >>> result = export_onnx(HRNet('w18_small_v1'), path, input_shape=(1, 3, 64, 48))
    >>> result.output_names
    ('feat0', 'feat1', 'feat2', 'feat3')
    >>> sorted(result.max_abs_diff)
    [(1, 3, 64, 48), (2, 3, 97, 73)]
    >>> max(result.max_abs_diff.values()) <= 1e-4
    True
"""
import contextlib
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fileio import atomic_path
from .guards import check_finite

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Resize with exact output sizes, Split/ReduceMean with inputs
DYNAMIC_AXES = ('batch', 'height', 'width')
_AXIS_INDEX = {'batch': 0, 'height': 2, 'width': 3}
DEFAULT_ATOL = 1e-4
FIXED_RATIO_MULTIPLE = 32  # input sizes for which every stream-size ratio is an exact power of 2
_TRACE_LOCK = threading.Lock()

Shape = Tuple[int, int, int, int]


class ExportError(RuntimeError):
    """The export failed, or the exported graph does not reproduce the PyTorch outputs."""


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and measured.

    Attributes:
        path (str): The ONNX file.
        opset (int): ONNX opset version.
        input_name (str): Name of the graph input.
        output_names (tuple[str]): Names of the graph outputs, in order.
        dynamic (tuple[str]): Dynamic axes among ``batch``, ``height``, ``width``.
        max_abs_diff (dict): Input shape -> max abs difference onnxruntime vs PyTorch over all
            outputs (empty when not verified).
        export_seconds (float): Time spent tracing and converting.
        tracer_warnings (list[str]): Distinct TracerWarnings of the trace (values the trace
            treats as constants); harmless when verification at other sizes passed.
        weights_path (str, optional): OpenVINO IR only: the ``.bin`` beside ``path`` (the
            ``.xml``).
        fixed_ratios (bool): Whether resampling was traced with fixed ratios (the graph then
            serves input sizes divisible by 32 only; :func:`fixed_ratio_resampling`).
    """
    path: str
    opset: int
    input_name: str
    output_names: Tuple[str, ...]
    dynamic: Tuple[str, ...]
    max_abs_diff: Dict[Shape, float] = field(default_factory=dict)
    export_seconds: float = 0.0
    tracer_warnings: List[str] = field(default_factory=list)
    weights_path: Optional[str] = None
    fixed_ratios: bool = False


class BackboneWithNeck(nn.Module):
    """A backbone and an optional neck as one module returning a tuple of feature maps.

    Args:
        backbone (nn.Module): ``HRNet``, ``LiteHRNet`` or any module returning feature maps.
        neck (nn.Module, optional): ``HRNetV2Neck``, ``HRNetV2pNeck`` ...
    """

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module] = None):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.output_prefix = 'feat'

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
        return tuple(feats) if isinstance(feats, (list, tuple)) else (feats,)


class MMModelForExport(nn.Module):
    """An mm model (mmpose ``TopdownPoseEstimator``, mmseg ``EncoderDecoder``) as a plain
    tensor-in, tensors-out module: its ``_forward``, i.e. backbone, neck and head without
    data preprocessing and without decoding.

    Args:
        model (nn.Module): An mmengine ``BaseModel`` with ``_forward(inputs)``.
        resize_to_input (bool): Segmentation only: resize the logits (1/4 resolution) to the
            input size as mmseg's ``predict`` does (bilinear, the decode head's
            ``align_corners``).
    """

    def __init__(self, model: nn.Module, resize_to_input: bool = False):
        super().__init__()
        if not hasattr(model, '_forward'):
            raise ValueError(f'model must be an mmengine BaseModel with _forward(), got '
                             f'{type(model).__name__}')
        if resize_to_input and not hasattr(model, 'decode_head'):
            raise ValueError('resize_to_input is for segmentation models (with a decode_head)')
        self.model = model
        self.resize_to_input = resize_to_input
        if hasattr(model, 'decode_head'):
            self.output_prefix = 'seg_logits'
        elif hasattr(model, 'head'):
            self.output_prefix = 'heatmaps'
        else:
            self.output_prefix = 'output'

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.model._forward(x)
        outs = tuple(out) if isinstance(out, (list, tuple)) else (out,)
        if not all(isinstance(o, torch.Tensor) for o in outs):
            raise ExportError(f'{type(self.model).__name__}._forward returned '
                              f'{[type(o).__name__ for o in outs]}; only tensors export')
        if self.resize_to_input:
            align = bool(getattr(self.model.decode_head, 'align_corners', False))
            outs = tuple(F.interpolate(o, size=x.shape[-2:], mode='bilinear',
                                       align_corners=align) for o in outs)
        return outs


def prepare_for_export(model: nn.Module, neck: Optional[nn.Module] = None,
                       resize_to_input: bool = False) -> nn.Module:
    """Wrap ``model`` so that it maps one image tensor to a tuple of tensors, in eval mode,
    with ``SyncBN`` reverted to ``BN``.

    mm models (anything with ``_forward``) become :class:`MMModelForExport`; backbones
    (anything else) become :class:`BackboneWithNeck` with the optional ``neck``.
    """
    from mmengine.model import revert_sync_batchnorm
    if isinstance(model, (BackboneWithNeck, MMModelForExport)):
        wrapped = model
    elif hasattr(model, '_forward') and hasattr(model, 'extract_feat'):
        if neck is not None:
            raise ValueError('neck is for bare backbones; an mm model has its own')
        wrapped = MMModelForExport(model, resize_to_input)
    else:
        if resize_to_input:
            raise ValueError('resize_to_input is for segmentation models (with a decode_head)')
        wrapped = BackboneWithNeck(model, neck)
    return revert_sync_batchnorm(wrapped).eval()


def build_model(config, checkpoint: Optional[str] = None,
                cfg_options: Optional[Mapping] = None) -> nn.Module:
    """Build the model of an mm config (mmpose / mmseg / mmdet, picked by ``default_scope``)
    with the toolbox's registry, and load ``checkpoint`` (whole-model keys) into it.

    Args:
        config (str | Config | dict): A config file or an mmengine ``Config``.
        checkpoint (str, optional): A checkpoint of the whole model (an mm Runner checkpoint,
            a zoo checkpoint, or any layout :mod:`hrnet_mm.checkpoint` converts). Runner
            checkpoints need :func:`hrnet_mm.utils.allow_mm_checkpoint_globals` first.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        The model, in eval mode, on the CPU. Weights not covered by ``checkpoint`` keep
        their initialisation (``init_weights`` is not called: no pretrained download).

    Raises:
        ValueError: when ``default_scope`` is not one of mmpose, mmseg, mmdet.
        hrnet_mm.checkpoint.CheckpointError: when the checkpoint does not fit the model.
    """
    import importlib

    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import hrnet_mm  # noqa: F401  (registers the hrnet_mm scope)
    from .checkpoint import load_checkpoint

    cfg = Config.fromfile(config) if isinstance(config, (str, os.PathLike)) else \
        Config(dict(config)) if not isinstance(config, Config) else config
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    scope = cfg.get('default_scope')
    if scope not in ('mmpose', 'mmseg', 'mmdet'):
        raise ValueError(f'default_scope must be one of mmpose, mmseg, mmdet (it picks the '
                         f'toolbox), got {scope!r}')
    # The toolbox registry imports its models package on first use (registry locations);
    # register_all_modules() would also import mmpose's visualizers, which need torchvision.
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, prefix='')
    return model.eval()


def _fixed_pool_to_size(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    h, w = int(x.shape[-2]), int(x.shape[-1])
    out_h, out_w = int(size[0]), int(size[1])
    if h % out_h or w % out_w:
        raise ValueError(f'fixed ratios need input sizes divisible by {FIXED_RATIO_MULTIPLE}: '
                         f'a {h}x{w} stream does not pool to {out_h}x{out_w} exactly')
    kernel = (h // out_h, w // out_w)
    return x if kernel == (1, 1) else F.avg_pool2d(x, kernel, kernel)


@contextlib.contextmanager
def fixed_ratio_resampling() -> Iterator[None]:
    """While tracing: resample between streams by fixed integer ratios instead of to the
    symbolic size of the target stream.

    * ``F.interpolate(x, size=...)`` whose traced size is an exact integer multiple of the
      input's becomes ``F.interpolate(x, scale_factor=...)``: an ONNX ``Resize`` with constant
      scales, which ONNX Runtime runs in its blocked (NCHWc) layout together with the
      surrounding convolutions, adds and ReLUs (with symbolic sizes it reorders the layout
      around every ``Resize``: 74 + 99 reorder nodes in HRNet-W32);
    * Lite-HRNet's cross-resolution pooling becomes a fixed ``AveragePool`` (kernel = the
      traced size ratio) instead of the two averaging-matrix products that serve any size.

    The graph is then exact for every input whose height and width are divisible by 32 (the
    ratios are the same powers of 2 there, as in the toolboxes' own exports, which use
    ``scale_factor``) and wrong or failing for other sizes. Tracing only: the patch is
    process-wide while it lasts (under a lock), so nothing else should run models meanwhile.
    """
    from .models import lite_hrnet
    original_interpolate = F.interpolate
    original_pool = lite_hrnet.pool_to_size

    def interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=None,
                    recompute_scale_factor=None, antialias=False):
        if size is not None and scale_factor is None and input.dim() == 4:
            out = (size, size) if isinstance(size, int) else tuple(size)
            h, w = int(input.shape[-2]), int(input.shape[-1])
            out_h, out_w = int(out[0]), int(out[1])
            if out_h % h == 0 and out_w % w == 0:
                if (out_h, out_w) == (h, w):
                    return input
                return original_interpolate(input, scale_factor=(float(out_h // h),
                                                                 float(out_w // w)),
                                            mode=mode, align_corners=align_corners)
        return original_interpolate(input, size, scale_factor, mode, align_corners,
                                    recompute_scale_factor, antialias)

    F.interpolate = interpolate
    lite_hrnet.pool_to_size = _fixed_pool_to_size
    try:
        yield
    finally:
        F.interpolate = original_interpolate
        lite_hrnet.pool_to_size = original_pool


def divisible_for_fixed_ratios(shape: Sequence[int]) -> bool:
    """Whether a fixed-ratio graph (:func:`fixed_ratio_resampling`) is exact for ``shape``."""
    return shape[-2] % FIXED_RATIO_MULTIPLE == 0 and shape[-1] % FIXED_RATIO_MULTIPLE == 0


def _resolve_fixed_ratios(fixed_ratios: Optional[bool], input_shape: Shape,
                          dynamic: Sequence[str]) -> bool:
    if fixed_ratios is None:  # auto: only where it cannot change what the graph accepts
        return not ({'height', 'width'} & set(dynamic)) and divisible_for_fixed_ratios(
            input_shape)
    if not isinstance(fixed_ratios, bool):
        raise ValueError(f'fixed_ratios must be True, False or None, got {fixed_ratios!r}')
    if fixed_ratios and not divisible_for_fixed_ratios(input_shape):
        raise ValueError(f'fixed_ratios=True needs an input_shape whose height and width are '
                         f'divisible by {FIXED_RATIO_MULTIPLE}, got {tuple(input_shape)}')
    return fixed_ratios


def traced(module: nn.Module, x: torch.Tensor, path: str, opset: int, input_name: str,
           output_names: Sequence[str], dynamic_axes: Mapping,
           fixed_ratios: bool = False) -> List[str]:
    """Trace ``module`` at ``x`` to the ONNX file ``path`` (optionally with
    :func:`fixed_ratio_resampling`); returns the distinct TracerWarnings."""
    with _TRACE_LOCK, (fixed_ratio_resampling() if fixed_ratios else contextlib.nullcontext()):
        return _export(module, x, path, opset, input_name, output_names, dynamic_axes)


def _check_args(input_shape, dynamic, opset) -> Tuple[Shape, Tuple[str, ...]]:
    if (len(input_shape) != 4 or not all(isinstance(v, int) and v > 0 for v in input_shape)):
        raise ValueError(f'input_shape must be 4 positive ints (N, C, H, W), got '
                         f'{tuple(input_shape)}')
    if dynamic is True:
        dynamic = DYNAMIC_AXES
    elif dynamic is False or dynamic is None:
        dynamic = ()
    elif isinstance(dynamic, str):
        dynamic = (dynamic,)
    dynamic = tuple(dynamic)
    unknown = [d for d in dynamic if d not in DYNAMIC_AXES]
    if unknown:
        raise ValueError(f'dynamic must be True, False or a subset of {DYNAMIC_AXES}, got '
                         f'{unknown}')
    from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET as max_opset
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= max_opset:
        raise ValueError(f'opset must be an int in [{MIN_OPSET}, {max_opset}], got {opset!r}')
    return tuple(input_shape), tuple(d for d in DYNAMIC_AXES if d in dynamic)


def unseen_shape(shape: Shape, dynamic: Sequence[str], fixed_ratios: bool = False) -> Shape:
    """A second verification shape along the dynamic axes: one more image, and 1.5x + 1 in
    height / width, which is not divisible by 32 (ceil-rounding at every stride-2 step); with
    ``fixed_ratios`` (graphs for sizes divisible by 32) 32 more instead.

    Example:
        >>> unseen_shape((1, 3, 256, 192), ('batch', 'height', 'width'))
        (2, 3, 385, 289)
        >>> unseen_shape((1, 3, 256, 192), ('batch', 'height', 'width'), fixed_ratios=True)
        (2, 3, 288, 224)
    """
    n, c, h, w = shape

    def grow(v):
        return v + FIXED_RATIO_MULTIPLE if fixed_ratios else v + v // 2 + 1
    return (n + 1 if 'batch' in dynamic else n, c,
            grow(h) if 'height' in dynamic else h,
            grow(w) if 'width' in dynamic else w)


def _ort_session(path: str, num_threads: Optional[int] = None):
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError('verifying an export needs onnxruntime: pip install onnxruntime '
                          '(or hrnet_mm[export])') from e
    options = ort.SessionOptions()
    # onnxruntime's spinning thread pool starves when other processes share the cores
    options.intra_op_num_threads = num_threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    options.log_severity_level = 4  # failures are reported by verify_onnx, not logged twice
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def verify_onnx(path: str, model: nn.Module, shapes: Sequence[Shape], *,
                atol: float = DEFAULT_ATOL, seed: int = 0,
                num_threads: Optional[int] = None) -> Dict[Shape, float]:
    """Run the ONNX file with onnxruntime (CPU) and ``model`` with PyTorch on the same random
    inputs of each shape, and compare every output.

    Args:
        path: The ONNX file.
        model: The module that was exported (as returned by :func:`prepare_for_export`).
        shapes: Input shapes to check.
        atol: Largest allowed absolute difference.
        seed: Seed of the random inputs (standard normal, like normalised images).
        num_threads: onnxruntime intra-op threads (default: ``torch.get_num_threads()``).

    Returns:
        Input shape -> max abs difference over all outputs.

    Raises:
        ExportError: on a different number or shape of outputs, a non-finite output, or a
            difference above ``atol``.
    """
    session = _ort_session(path, num_threads)
    input_name = session.get_inputs()[0].name
    generator = torch.Generator().manual_seed(seed)
    diffs: Dict[Shape, float] = {}
    for shape in shapes:
        shape = tuple(int(v) for v in shape)
        x = torch.randn(shape, generator=generator)
        with torch.no_grad():
            expected = model(x)
        expected = tuple(expected) if isinstance(expected, (list, tuple)) else (expected,)
        try:
            got = session.run(None, {input_name: x.numpy()})
        except Exception as e:  # onnxruntime raises its own Fail / InvalidArgument types
            raise ExportError(f'onnxruntime failed on input shape {shape} (a size frozen into '
                              f'the graph?): {type(e).__name__}: {str(e)[:500]}') from e
        if len(got) != len(expected):
            raise ExportError(f'{path}: {len(got)} ONNX outputs vs {len(expected)} PyTorch '
                              f'outputs at input shape {shape}')
        worst = 0.0
        for i, (g, e) in enumerate(zip(got, expected)):
            if tuple(g.shape) != tuple(e.shape):
                raise ExportError(f'{path}: output {i} has shape {tuple(g.shape)} in '
                                  f'onnxruntime vs {tuple(e.shape)} in PyTorch at input '
                                  f'shape {shape}')
            check_finite(g, f'ONNX output {i} at input shape {shape}')
            worst = max(worst, float((torch.from_numpy(g) - e).abs().max()))
        diffs[shape] = worst
        if worst > atol:
            raise ExportError(f'{path}: onnxruntime differs from PyTorch by {worst:.3g} '
                              f'(> atol {atol:g}) at input shape {shape}')
    return diffs


def export_onnx(model: nn.Module, path: str, input_shape: Sequence[int] = (1, 3, 256, 192),
                *, neck: Optional[nn.Module] = None,
                dynamic: Union[bool, str, Sequence[str]] = True,
                opset: int = DEFAULT_OPSET, input_name: str = 'input',
                output_names: Optional[Sequence[str]] = None,
                verify: bool = True, verify_shapes: Optional[Sequence[Shape]] = None,
                atol: float = DEFAULT_ATOL, resize_to_input: bool = False,
                seed: int = 0, fixed_ratios: Optional[bool] = None) -> ExportResult:
    """Export ``model`` (+ ``neck``) to ONNX and verify it with onnxruntime before writing.

    The file is written atomically: when tracing, the ONNX checker or the verification fails,
    nothing appears at ``path`` (an existing file there is left as it was).

    Args:
        model: An hrnet_mm backbone (``HRNet``, ``LiteHRNet``), any module returning tensors,
            or an mm model (``TopdownPoseEstimator``: heatmaps; ``EncoderDecoder``: logits),
            e.g. from :func:`build_model`. It is put in eval mode for the export and its
            train/eval mode restored afterwards.
        path: Destination ``.onnx`` file.
        input_shape: Example input ``(N, C, H, W)`` traced.
        neck: Optional neck after a bare backbone.
        dynamic: ``True`` (batch, height and width), ``False`` (static) or a subset of
            ``('batch', 'height', 'width')``.
        opset: ONNX opset, 13 to 20.
        input_name: Name of the graph input.
        output_names: Names of the outputs (default ``feat0..``, ``heatmaps`` or
            ``seg_logits``).
        verify: Compare onnxruntime with PyTorch before writing the file.
        verify_shapes: Input shapes to verify; default the traced shape plus, when some axis
            is dynamic, :func:`unseen_shape` (a size not divisible by 32).
        atol: Largest allowed absolute difference.
        resize_to_input: Segmentation models: logits at the input size (as mmseg predicts).
        seed: Seed of the random example and verification inputs.
        fixed_ratios: Trace the resampling between streams with fixed ratios
            (:func:`fixed_ratio_resampling`): faster in onnxruntime (HRNet-W32: the whole graph
            in the blocked layout), exact only for heights and widths divisible by 32, like the
            toolboxes' own exports. ``None`` (default): on when height and width are static
            and divisible by 32, off otherwise (any size works).

    Returns:
        :class:`ExportResult`.

    Raises:
        ValueError: for bad arguments (naming the argument).
        ExportError: when tracing fails or the exported graph does not match PyTorch.
    """
    input_shape, dynamic = _check_args(input_shape, dynamic, opset)
    fixed_ratios = _resolve_fixed_ratios(fixed_ratios, input_shape, dynamic)
    try:
        import onnx
    except ImportError as e:
        raise ImportError('ONNX export needs onnx: pip install onnx onnxruntime '
                          '(or hrnet_mm[export])') from e
    was_training = model.training
    module = prepare_for_export(model, neck, resize_to_input)
    try:
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            outputs = module(x)
        check_finite(outputs, f'PyTorch outputs of {type(model).__name__} on the example input')
        if output_names is None:
            prefix = getattr(module, 'output_prefix', 'output')
            output_names = ([prefix] if len(outputs) == 1 and prefix != 'feat'
                            else [f'{prefix}{i}' for i in range(len(outputs))])
        output_names = tuple(output_names)
        if len(output_names) != len(outputs):
            raise ValueError(f'output_names has {len(output_names)} names but the model has '
                             f'{len(outputs)} outputs')
        axes = {input_name: {_AXIS_INDEX[d]: d for d in dynamic}}
        for name, out in zip(output_names, outputs):
            out_axes = {}
            if 'batch' in dynamic:
                out_axes[0] = 'batch'
            if out.dim() == 4:  # spatial outputs follow the input size
                for d in ('height', 'width'):
                    if d in dynamic:
                        out_axes[_AXIS_INDEX[d]] = f'{name}_{d}'
            axes[name] = out_axes
        if verify_shapes is None:
            verify_shapes = [input_shape] + ([unseen_shape(input_shape, dynamic, fixed_ratios)]
                                             if dynamic else [])

        with atomic_path(path) as tmp:
            start = time.perf_counter()
            tracer_warnings = traced(module, x, tmp, opset, input_name, output_names,
                                     {k: v for k, v in axes.items() if v}, fixed_ratios)
            seconds = time.perf_counter() - start
            onnx.checker.check_model(tmp)
            diffs = verify_onnx(tmp, module, verify_shapes, atol=atol,
                                seed=seed + 1) if verify else {}
        return ExportResult(path=path, opset=opset, input_name=input_name,
                            output_names=output_names, dynamic=dynamic, max_abs_diff=diffs,
                            export_seconds=seconds, tracer_warnings=tracer_warnings,
                            fixed_ratios=fixed_ratios)
    finally:
        model.train(was_training)


def _export(module: nn.Module, x: torch.Tensor, path: str, opset: int, input_name: str,
            output_names: Sequence[str], dynamic_axes: Mapping) -> List[str]:
    """``torch.onnx.export`` with the TorchScript exporter; returns the distinct
    TracerWarnings and re-issues any other warning."""
    kwargs = dict(opset_version=opset, input_names=[input_name],
                  output_names=list(output_names), dynamic_axes=dict(dynamic_axes) or None,
                  do_constant_folding=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            try:
                torch.onnx.export(module, (x,), path, dynamo=False, **kwargs)
            except TypeError as e:
                if 'dynamo' not in str(e):
                    raise
                torch.onnx.export(module, (x,), path, **kwargs)  # torch < 2.5
        except Exception as e:
            raise ExportError(f'ONNX export of {type(module).__name__} failed: '
                              f'{type(e).__name__}: {e}') from e
    tracer: List[str] = []
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, torch.jit.TracerWarning):
            if text not in tracer:
                tracer.append(text)
        elif 'legacy TorchScript-based ONNX export' in text or \
                'feature will be removed' in text:
            continue  # we ask for the TorchScript exporter on purpose (see module docstring)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return tracer


# --------------------------------------------------------------------------- OpenVINO IR

def _openvino():
    try:
        import openvino
    except ImportError as e:
        raise ImportError("OpenVINO IR export needs the 'openvino' package, which is not "
                          "installed: pip install 'hrnet_mm[deploy]' (or bash "
                          "tools/setup_env.sh, which installs it unless --no-deploy)") from e
    return openvino


def verify_openvino(path: str, model: nn.Module, shapes: Sequence[Shape], *,
                    atol: float = DEFAULT_ATOL, seed: int = 0,
                    num_threads: Optional[int] = None) -> Dict[Shape, float]:
    """Run an OpenVINO IR (``.xml``) or ONNX file with OpenVINO (CPU, fp32 inference
    precision) and ``model`` with PyTorch on the same random inputs of each shape, and compare
    every output; like :func:`verify_onnx`.

    Raises:
        ExportError: on a different number or shape of outputs, a non-finite output, or a
            difference above ``atol``.
    """
    ov = _openvino()
    core = ov.Core()
    ov_model = core.read_model(path)
    config = {'INFERENCE_NUM_THREADS': int(num_threads or torch.get_num_threads()),
              'INFERENCE_PRECISION_HINT': 'f32', 'PERFORMANCE_HINT': 'LATENCY',
              'NUM_STREAMS': 1}
    generator = torch.Generator().manual_seed(seed)
    diffs: Dict[Shape, float] = {}
    for shape in shapes:
        shape = tuple(int(v) for v in shape)
        x = torch.randn(shape, generator=generator)
        with torch.no_grad():
            expected = model(x)
        expected = tuple(expected) if isinstance(expected, (list, tuple)) else (expected,)
        try:
            reshaped = ov_model.clone()
            reshaped.reshape({reshaped.inputs[0].get_any_name(): list(shape)})
            compiled = core.compile_model(reshaped, 'CPU', config)
            result = compiled(x.numpy())
            got = [result[o] for o in compiled.outputs]
        except Exception as e:  # OpenVINO raises RuntimeError / its own types
            raise ExportError(f'OpenVINO failed on input shape {shape} (a size frozen into '
                              f'the graph?): {type(e).__name__}: {str(e)[:500]}') from e
        if len(got) != len(expected):
            raise ExportError(f'{path}: {len(got)} OpenVINO outputs vs {len(expected)} '
                              f'PyTorch outputs at input shape {shape}')
        worst = 0.0
        for i, (g, e) in enumerate(zip(got, expected)):
            if tuple(g.shape) != tuple(e.shape):
                raise ExportError(f'{path}: output {i} has shape {tuple(g.shape)} in OpenVINO '
                                  f'vs {tuple(e.shape)} in PyTorch at input shape {shape}')
            check_finite(g, f'OpenVINO output {i} at input shape {shape}')
            worst = max(worst, float((torch.from_numpy(g) - e).abs().max()))
        diffs[shape] = worst
        if worst > atol:
            raise ExportError(f'{path}: OpenVINO differs from PyTorch by {worst:.3g} '
                              f'(> atol {atol:g}) at input shape {shape}')
    return diffs


def export_openvino(model: nn.Module, path: str,
                    input_shape: Sequence[int] = (1, 3, 256, 192), *,
                    neck: Optional[nn.Module] = None,
                    dynamic: Union[bool, str, Sequence[str]] = True,
                    opset: int = DEFAULT_OPSET, input_name: str = 'input',
                    output_names: Optional[Sequence[str]] = None,
                    verify: bool = True, verify_shapes: Optional[Sequence[Shape]] = None,
                    atol: float = DEFAULT_ATOL, resize_to_input: bool = False,
                    seed: int = 0, compress_to_fp16: bool = False,
                    fixed_ratios: Optional[bool] = None) -> ExportResult:
    """Export ``model`` (+ ``neck``) to OpenVINO IR (``path`` = ``.xml``, weights in the
    ``.bin`` beside it) and verify it with OpenVINO against PyTorch before writing.

    The graph is the one :func:`export_onnx` traces (same arguments, same dynamic axes),
    converted with ``openvino.convert_model``. Both files are written under temporary names
    and renamed into place only after verification passed, the ``.bin`` first, so an
    ``.xml`` never appears without its weights; on failure nothing appears (existing files are
    left as they were).

    Args:
        model, input_shape, neck, dynamic, opset, input_name, output_names, verify_shapes,
        atol, resize_to_input, seed, fixed_ratios: as for :func:`export_onnx`.
        path: Destination ``.xml`` file.
        verify: Compare OpenVINO (fp32 inference precision) with PyTorch before writing.
        compress_to_fp16: Store the weights in fp16 (half the ``.bin``; outputs then differ
            by about 1e-3, so raise ``atol`` for the check).

    Returns:
        :class:`ExportResult` with ``path`` (the ``.xml``) and ``weights_path`` (the ``.bin``).

    Raises:
        ValueError: for bad arguments (naming the argument).
        ExportError: when tracing or conversion fails or OpenVINO does not match PyTorch.

    Example:
        >>> import os, tempfile
        >>> from hrnet_mm.models import HRNet
        >>> path = os.path.join(tempfile.mkdtemp(), 'hrnet.xml')
        >>> result = export_openvino(HRNet('w18_small_v1'), path, input_shape=(1, 3, 64, 48))
        >>> os.path.basename(result.weights_path), max(result.max_abs_diff.values()) <= 1e-4
        ('hrnet.bin', True)
    """
    import shutil
    import tempfile

    if not str(path).endswith('.xml'):
        raise ValueError(f'path must end with .xml (the weights go to the .bin beside it), '
                         f'got {path!r}')
    input_shape, dynamic_axes = _check_args(input_shape, dynamic, opset)
    ov = _openvino()
    weights = str(path)[:-len('.xml')] + '.bin'
    was_training = model.training
    module = prepare_for_export(model, neck, resize_to_input)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        onnx_result = export_onnx(module, os.path.join(tmp, 'model.onnx'), input_shape,
                                  dynamic=dynamic_axes, opset=opset, input_name=input_name,
                                  output_names=output_names, verify=False, seed=seed,
                                  fixed_ratios=fixed_ratios)
        start = time.perf_counter()
        try:
            ov_model = ov.convert_model(onnx_result.path)
            tmp_xml = os.path.join(tmp, 'model.xml')
            ov.save_model(ov_model, tmp_xml, compress_to_fp16=compress_to_fp16)
        except Exception as e:
            raise ExportError(f'OpenVINO conversion of {type(model).__name__} failed: '
                              f'{type(e).__name__}: {e}') from e
        seconds = onnx_result.export_seconds + time.perf_counter() - start
        if verify_shapes is None:
            verify_shapes = [input_shape] + (
                [unseen_shape(input_shape, dynamic_axes, onnx_result.fixed_ratios)]
                if dynamic_axes else [])
        try:
            diffs = verify_openvino(tmp_xml, module, verify_shapes, atol=atol,
                                    seed=seed + 1) if verify else {}
        except ExportError as e:  # name the destination, not the temporary file
            raise ExportError(str(e).replace(tmp_xml, str(path))) from e
        for src, dst in ((os.path.join(tmp, 'model.bin'), weights), (tmp_xml, str(path))):
            with open(src, 'rb') as f:
                os.fsync(f.fileno())
            os.replace(src, dst)
        return ExportResult(path=str(path), opset=opset, input_name=input_name,
                            output_names=onnx_result.output_names, dynamic=dynamic_axes,
                            max_abs_diff=diffs, export_seconds=seconds,
                            tracer_warnings=onnx_result.tracer_warnings,
                            weights_path=weights, fixed_ratios=onnx_result.fixed_ratios)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        model.train(was_training)


__all__ = ['DEFAULT_OPSET', 'MIN_OPSET', 'DYNAMIC_AXES', 'ExportError', 'ExportResult',
           'BackboneWithNeck', 'MMModelForExport', 'prepare_for_export', 'build_model',
           'unseen_shape', 'verify_onnx', 'export_onnx', 'verify_openvino', 'export_openvino',
           'fixed_ratio_resampling', 'divisible_for_fixed_ratios', 'FIXED_RATIO_MULTIPLE',
           'check_finite']
