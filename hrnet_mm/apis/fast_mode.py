"""Fast inference where mm users run models: configs (a Runner hook), tools and Inferencers.

Everything here goes through :func:`optimize_mm_model`, which turns a whole mmpose / mmseg / mmdet
model into an inference copy: the backbone and the neck become one :func:`hrnet_mm.fast.optimize`
module (BN folded, exchange units merged, channels-last, the requested dtype and backend), the
heads get their conv -> batch-norm pairs folded (mmcv ``ConvModule``: FCN head, keypoint heads,
RPN / RoI conv heads) and stay fp32 eager. Whatever cannot be optimised is named in one warning
line (:class:`FastModeWarning`); nothing is skipped silently.

* In a config: ``custom_hooks = [dict(type='hrnet_mm.FastInferenceHook', dtype='bf16')]``
  (:class:`FastInferenceHook`): validation and testing run the optimised copy; training keeps
  the original weights.
* On the command line: ``tools/test.py CONFIG CKPT --fast --dtype bf16`` (:func:`add_fast_args`,
  :func:`apply_fast_args`).
* With an Inferencer: ``optimize_inferencer(MMPoseInferencer(...), dtype='bf16')``.
"""
import copy
import itertools
import random
import warnings
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import Registry

from ..fast import MergedExchangeHRModule, fold_batch_norms, optimize
from ..fast.backends import BACKENDS, DTYPES, check_backend_dtype
from ..models import HRNet, LiteHRNet

FAST_DTYPES = DTYPES  # 'fp32', 'bf16', 'int8'
FAST_BACKENDS = BACKENDS  # 'eager', 'inductor', 'onnxruntime', 'openvino'
DEFAULT_CALIBRATION_BATCHES = 8


def default_backend(dtype: str) -> str:
    """The backend a dtype gets when none is named: OpenVINO for int8 (the PyTorch backends
    have no int8), eager PyTorch otherwise."""
    return 'openvino' if dtype == 'int8' else 'eager'

# Heads of the toolbox models, by the attribute name the three toolboxes give them.
HEAD_NAMES = ('head', 'decode_head', 'auxiliary_head', 'rpn_head', 'roi_head', 'bbox_head',
              'mask_head')


class FastModeWarning(UserWarning):
    """A part of a model stays unoptimised (the message names it)."""


def _hooks_registry() -> Registry:
    """The ``hrnet_mm`` child of mmengine's ``HOOKS``: ``type='hrnet_mm.FastInferenceHook'``
    then resolves from the mmpose, mmseg and mmdet scopes alike."""
    existing = MMENGINE_HOOKS._children.get('hrnet_mm')
    if existing is not None:  # this module imported twice (e.g. loaded by file path)
        return existing
    return Registry('hook', parent=MMENGINE_HOOKS, scope='hrnet_mm',
                    locations=['hrnet_mm.apis.fast_mode'])


HOOKS = _hooks_registry()


# --------------------------------------------------------------------------- arguments

def check_fast_args(dtype: str, backend: str, calibration=None, owner: str = 'fast mode') -> None:
    """Raise ``ValueError`` naming the field for an unknown dtype / backend, a pair the backend
    does not run (listing the allowed pairs), or int8 without calibration data
    (``calibration`` may be ``'dataloader'`` when the caller brings it)."""
    if dtype not in FAST_DTYPES:
        raise ValueError(f'{owner}: dtype must be one of {FAST_DTYPES}, got {dtype!r}')
    if backend not in FAST_BACKENDS:
        raise ValueError(f'{owner}: backend must be one of {FAST_BACKENDS}, got {backend!r}')
    try:
        check_backend_dtype(backend, dtype)
    except ValueError as e:
        raise ValueError(f'{owner}: {e}') from None
    if dtype == 'int8' and calibration is None:
        raise ValueError(f'{owner}: dtype int8 needs calibration data: pass calibration= '
                         f'(input tensors, e.g. calibration_inputs(model, dataloader))')


def _optimize(module: nn.Module, dtype: str, backend: str, calibration=None):
    """:func:`hrnet_mm.fast.optimize` of ``module`` (``calibration`` only when given)."""
    kwargs = dict(dtype=dtype, backend=backend)
    if calibration is not None:
        kwargs['calibration'] = list(calibration)
    return optimize(module, **kwargs)


# --------------------------------------------------------------------------- whole models

class BackboneNeck(nn.Module):
    """``neck(backbone(x))`` as one module taking a tensor (what every backend can run).

    Args:
        backbone (nn.Module): The backbone.
        neck (nn.Module, optional): The neck; None for none.
    """

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module] = None):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        last = neck if neck is not None else backbone
        for attr in ('out_channels', 'out_strides'):
            if hasattr(last, attr):
                setattr(self, attr, getattr(last, attr))

    def forward(self, x: torch.Tensor):
        feats = self.backbone(x)
        return feats if self.neck is None else self.neck(feats)


def _norms(module: nn.Module, prefix: str = '') -> List[str]:
    return [f'{prefix}{name}' for name, m in module.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _inspectable(optimized) -> Optional[nn.Module]:
    """The eager module inside an optimised callable, when there is one to look into."""
    inner = getattr(optimized, 'module', None)
    inner = getattr(inner, '_orig_mod', inner)  # torch.compile's wrapper
    return inner if isinstance(inner, nn.Module) else None


def _names(items: Sequence[str], limit: int = 3) -> str:
    shown = ', '.join(items[:limit])
    return shown + (f' and {len(items) - limit} more' if len(items) > limit else '')


def optimize_mm_model(model: nn.Module, dtype: str = 'fp32', backend: Optional[str] = None,
                      calibration: Optional[Iterable[torch.Tensor]] = None) -> nn.Module:
    """An inference copy of an mmpose / mmseg / mmdet model; ``model`` is never changed.

    The backbone and the neck become one :func:`hrnet_mm.fast.optimize` module (which returns
    fp32 features), the neck is removed (``with_neck`` turns False, so the toolbox's
    ``extract_feat`` takes the optimised features directly) and every head gets its
    conv -> batch-norm pairs folded (fp32, eager). ``test_step`` / ``val_step`` /
    ``predict`` work as on the original. Parts that stay unoptimised are named in one
    :class:`FastModeWarning` line each: a backbone that is not hrnet_mm's (its norms are still
    folded, the exchange-unit merge does not apply), norms that cannot be folded, a model
    without a backbone.

    Args:
        model (nn.Module): An mm ``BaseModel`` (``TopdownPoseEstimator``,
            ``EncoderDecoder``, ``TwoStageDetector`` ...), maybe in a model wrapper.
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` (needs ``calibration``).
        backend (str, optional): ``'eager'``, ``'inductor'`` (``torch.compile``),
            ``'onnxruntime'`` or ``'openvino'``; default :func:`default_backend` (eager, or
            OpenVINO for int8).
        calibration (iterable of Tensor, optional): int8 only: preprocessed input batches
            (:func:`calibration_inputs` takes them from a dataloader).

    Returns:
        nn.Module: the optimised copy, in eval mode, with a ``fast_report`` attribute (list of
        one-line descriptions of what was optimised and what was not).

    Example:
        >>> import torch
        >>> from mmengine.model import BaseModel
        >>> from hrnet_mm.models import HRNet
        >>> class Net(BaseModel):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.backbone = HRNet('w18_small_v1')
        ...     def forward(self, x, data_samples=None, mode='tensor'):
        ...         return self.backbone(x)
        >>> net = Net().eval()
        >>> fast = optimize_mm_model(net)
        >>> x = torch.rand(1, 3, 64, 64)
        >>> max((a - b).abs().max().item() for a, b in zip(net(x), fast(x))) < 1e-4
        True
    """
    backend = backend or default_backend(dtype)
    check_fast_args(dtype, backend, calibration)
    if is_model_wrapper(model):
        model = model.module
    name = type(model).__name__
    backbone = getattr(model, 'backbone', None)
    neck = getattr(model, 'neck', None) if getattr(model, 'with_neck', True) else None
    if not isinstance(neck, nn.Module):
        neck = None
    # Copy everything but the backbone and the neck: optimize() makes its own copy of those.
    shared = {id(m): m for m in (backbone, neck) if isinstance(m, nn.Module)}
    fast = copy.deepcopy(model, memo=dict(shared))  # still holds the original backbone/neck
    report: List[str] = []

    def warn(message: str) -> None:
        warnings.warn(f'{name} fast mode: {message}', FastModeWarning, stacklevel=3)
        report.append(f'not optimised: {message}')

    if not isinstance(backbone, nn.Module):
        warn('no backbone attribute, so nothing is optimised but its batch norms are folded')
        fast.eval()
        fold_batch_norms(fast)
        fast.fast_report = report
        return fast

    body = BackboneNeck(backbone, neck)  # optimize() copies it and puts the copy in eval mode
    before = _norms(body)
    optimized = _optimize(body, dtype, backend, calibration)
    fast.backbone = optimized
    if neck is not None:
        fast.neck = None
    fast.eval()  # only now: before, it would have switched the original backbone and neck
    parts = 'backbone + neck' if neck is not None else 'backbone'
    inner = _inspectable(optimized)
    detail = ''
    if inner is not None:
        left = _norms(inner)
        merged = sum(isinstance(m, MergedExchangeHRModule) for m in inner.modules())
        detail = f' ({len(before) - len(left)} norms folded, {merged} exchange units merged)'
        if left:
            warn(f'{len(left)} batch norms of the {parts} stay unfolded: {_names(left)}')
    report.append(f'{parts}: {backend} {dtype}{detail}')
    if not isinstance(backbone, (HRNet, LiteHRNet)):
        warn(f'backbone {type(backbone).__name__} is not an hrnet_mm backbone: only generic '
             f'optimisation (BN folding, layout, dtype), no exchange-unit merge')

    for head_name in HEAD_NAMES:
        head = getattr(fast, head_name, None)
        if not isinstance(head, nn.Module):
            continue
        head.eval()
        folded = fold_batch_norms(head)
        left = _norms(head, f'{head_name}.')
        report.append(f'{head_name}: fp32 eager, {folded} norms folded')
        if left:
            warn(f'{len(left)} batch norms of {head_name} stay unfolded (not after a conv): '
                 f'{_names(left)}')
    fast.eval()  # the folded norms' nn.Identity stand-ins too
    fast.fast_report = report
    return fast


def calibration_inputs(model: nn.Module, dataloader: Iterable,
                       num_batches: int = DEFAULT_CALIBRATION_BATCHES) -> List[torch.Tensor]:
    """The first ``num_batches`` batches of ``dataloader``, preprocessed by the model's
    ``data_preprocessor`` exactly as in testing: the input tensors int8 calibrates on.

    Args:
        model (nn.Module): An mm ``BaseModel`` (maybe wrapped).
        dataloader (iterable): A dataloader yielding mm data batches (dicts).
        num_batches (int): How many batches to take (fewer when the loader is shorter).
    """
    if not isinstance(num_batches, int) or num_batches < 1:
        raise ValueError(f'calibration batches must be a positive int, got {num_batches!r}')
    if is_model_wrapper(model):
        model = model.module
    inputs = []
    with torch.no_grad(), _preserved_rng():
        for batch in itertools.islice(dataloader, num_batches):
            inputs.append(model.data_preprocessor(batch, False)['inputs'])
    if not inputs:
        raise ValueError('calibration: the dataloader yielded no batch')
    return inputs


@contextmanager
def _preserved_rng() -> Iterator[None]:
    """Leave torch's, numpy's and Python's global random state as it was (iterating a
    dataloader draws a seed; training must not see a different stream because of it)."""
    state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(state[0])
        np.random.set_state(state[1])
        random.setstate(state[2])


# --------------------------------------------------------------------------- Runner hook

@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Run validation and testing on an optimised copy of the model (:func:`optimize_mm_model`).

    Before each validation / test epoch the Runner's model is replaced by an optimised copy of
    its current weights (so the copy follows training from one validation to the next) and put
    back right after it. The copy is built again only when the weights changed since it was
    built (compared exactly with a snapshot, so that weights swapped in through ``.data``, as
    ``EMAHook`` does, count): repeated ``runner.test()`` calls pay for int8 calibration or a
    compilation once; training never runs on the copy and its weights, gradients, optimizer
    state and random stream are untouched. The hook runs at ``LOW`` priority: after hooks that
    swap weights in for validation (mmengine's ``EMAHook``), and before the checkpoint hook
    saves a best checkpoint (of the original model).

    Args:
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'int8'``.
        backend (str, optional): ``'eager'``, ``'inductor'``, ``'onnxruntime'`` or
            ``'openvino'``; default eager (OpenVINO for int8).
        calibration_batches (int): int8 only: calibrate on the first this many batches of the
            validation / test dataloader.
        val (bool): Optimise validation.
        test (bool): Optimise testing.

    Example (in a config)::

        custom_hooks = [dict(type='hrnet_mm.FastInferenceHook', dtype='bf16')]
    """
    priority = 'LOW'

    def __init__(self, dtype: str = 'fp32', backend: Optional[str] = None,
                 calibration_batches: int = DEFAULT_CALIBRATION_BATCHES, val: bool = True,
                 test: bool = True):
        backend = backend or default_backend(dtype)
        check_fast_args(dtype, backend, 'dataloader', owner='FastInferenceHook')
        if not isinstance(calibration_batches, int) or calibration_batches < 1:
            raise ValueError(f'FastInferenceHook: calibration_batches must be a positive int, '
                             f'got {calibration_batches!r}')
        self.dtype = dtype
        self.backend = backend
        self.calibration_batches = calibration_batches
        self.enabled = dict(val=val, test=test)
        self._original = None
        self._built = None  # (key, model, weights snapshot, optimised copy)

    def _reusable(self, key, model: nn.Module):
        """The copy built last, if it was built for ``key`` from ``model`` with the weights
        ``model`` has now (else None)."""
        if self._built is None:
            return None
        built_key, built_model, snapshot, fast = self._built
        if built_key != key or built_model is not model:
            return None
        state = model.state_dict()
        if state.keys() != snapshot.keys() or not all(
                torch.equal(state[k], snapshot[k]) for k in snapshot):
            return None
        return fast

    def _swap_in(self, runner, mode: str) -> None:
        if not self.enabled[mode] or self._original is not None:
            return
        # int8 calibrates on the loop's own dataloader: one copy per loop
        key = mode if self.dtype == 'int8' else None
        fast = self._reusable(key, runner.model)
        if fast is not None:
            print_log(f'FastInferenceHook ({mode}): weights unchanged since the last '
                      f'optimisation, reusing the optimised copy', logger='current')
        else:
            self._built = None  # release the old copy before building the new one
            fast = self._build(runner, mode)
            snapshot = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
            self._built = (key, runner.model, snapshot, fast)
        self._original = runner.model
        runner.model = fast

    def _build(self, runner, mode: str):
        """An optimised copy of the runner's model (int8: calibrated on the loop's
        dataloader)."""
        calibration = None
        with _preserved_rng():
            if self.dtype == 'int8':
                loader = getattr(runner, f'{mode}_loop').dataloader
                print_log(f'FastInferenceHook: int8 calibration on the first '
                          f'{self.calibration_batches} batches of the {mode} dataloader',
                          logger='current')
                calibration = calibration_inputs(runner.model, loader, self.calibration_batches)
            fast = optimize_mm_model(runner.model, self.dtype, self.backend, calibration)
        print_log(f'FastInferenceHook ({mode}): ' + '; '.join(fast.fast_report),
                  logger='current')
        return fast

    def _swap_out(self, runner) -> None:
        if self._original is not None:
            runner.model = self._original
            self._original = None

    def before_val_epoch(self, runner) -> None:
        self._swap_in(runner, 'val')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._swap_out(runner)

    def before_test_epoch(self, runner) -> None:
        self._swap_in(runner, 'test')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._swap_out(runner)


def add_fast_hook(cfg, dtype: str = 'fp32', backend: Optional[str] = None,
                  calibration_batches: int = DEFAULT_CALIBRATION_BATCHES) -> None:
    """Append a :class:`FastInferenceHook` to ``cfg.custom_hooks`` (replacing one already
    there)."""
    backend = backend or default_backend(dtype)
    check_fast_args(dtype, backend, 'dataloader')
    hooks = [h for h in cfg.get('custom_hooks', None) or []
             if h.get('type') not in ('hrnet_mm.FastInferenceHook', 'FastInferenceHook',
                                      FastInferenceHook)]
    hooks.append(dict(type='hrnet_mm.FastInferenceHook', dtype=dtype, backend=backend,
                      calibration_batches=calibration_batches))
    cfg.custom_hooks = hooks


# --------------------------------------------------------------------------- command lines

def add_fast_args(parser) -> None:
    """``--fast``, ``--dtype``, ``--backend``, ``--calibration-batches`` (tools/test.py,
    tools/demo.py)."""
    group = parser.add_argument_group('fast inference (hrnet_mm.apis.fast_mode)')
    group.add_argument('--fast', action='store_true',
                       help='run an optimised copy of the model (BN folded, exchange units '
                       'merged, channels-last; see docs/fast.md)')
    group.add_argument('--dtype', choices=FAST_DTYPES, default=None,
                       help='with --fast: compute dtype (default fp32; int8 calibrates on the '
                       'first --calibration-batches batches of the test dataloader)')
    group.add_argument('--backend', choices=FAST_BACKENDS, default=None,
                       help='with --fast: runtime (default eager; openvino for int8)')
    group.add_argument('--calibration-batches', type=int, default=None,
                       help=f'with --fast --dtype int8: batches of the test dataloader to '
                       f'calibrate on (default {DEFAULT_CALIBRATION_BATCHES})')


def fast_args(args) -> Optional[dict]:
    """``dict(dtype=, backend=, calibration_batches=)`` from the parsed flags, or None without
    ``--fast``; ``--dtype`` / ``--backend`` without ``--fast`` raise ``SystemExit``."""
    given = [f'--{n.replace("_", "-")}' for n in ('dtype', 'backend', 'calibration_batches')
             if getattr(args, n, None) is not None]
    if not args.fast:
        if given:
            raise SystemExit(f'{", ".join(given)} only apply with --fast')
        return None
    dtype = args.dtype or 'fp32'
    return dict(dtype=dtype, backend=args.backend or default_backend(dtype),
                calibration_batches=args.calibration_batches or DEFAULT_CALIBRATION_BATCHES)


def apply_fast_args(cfg, args) -> Optional[dict]:
    """tools/test.py: with ``--fast``, add the :class:`FastInferenceHook` to ``cfg``; returns
    its settings (None without ``--fast``)."""
    settings = fast_args(args)
    if settings is not None:
        add_fast_hook(cfg, **settings)
    return settings


# --------------------------------------------------------------------------- Inferencers

def optimize_inferencer(inferencer, dtype: str = 'fp32', backend: Optional[str] = None,
                        calibration: Optional[Iterable[torch.Tensor]] = None):
    """Make an mm Inferencer predict with an optimised copy of its model (in place).

    Works with mmpose's ``MMPoseInferencer`` (its 2D pose model; a person detector it carries
    is left as it is), mmseg's ``MMSegInferencer`` and mmdet's ``DetInferencer``, or any
    ``BaseInferencer`` with a ``model``.

    Args:
        inferencer: The Inferencer.
        dtype (str): ``'fp32'`` (default, as everywhere in the fast mode: the same outputs),
            ``'bf16'`` (fast only on CPUs with AVX512-BF16 or AMX; docs/fast.md) or
            ``'int8'`` (needs ``calibration``).
        backend (str, optional): ``'eager'``, ``'inductor'``, ``'onnxruntime'`` or
            ``'openvino'``; default eager (OpenVINO for int8).
        calibration (iterable of Tensor, optional): int8 only: preprocessed input batches.

    Returns:
        The same inferencer.

    Example::

        from mmpose.apis import MMPoseInferencer
        inferencer = optimize_inferencer(MMPoseInferencer(pose2d=CONFIG,
                                         pose2d_weights=CKPT, det_model='whole_image'))
    """
    backend = backend or default_backend(dtype)
    check_fast_args(dtype, backend, calibration, owner='optimize_inferencer')
    target = getattr(inferencer, 'inferencer', inferencer)  # MMPoseInferencer wraps one
    model = getattr(target, 'model', None)
    if not isinstance(model, nn.Module):
        raise ValueError(f'optimize_inferencer: {type(inferencer).__name__} has no model to '
                         f'optimise (expected an mm Inferencer with a .model)')
    target.model = optimize_mm_model(model, dtype, backend, calibration)
    return inferencer


# Builders run_demo and the toolboxes' own demos use, per default_scope.
_MODEL_BUILDERS = {'mmpose': ('mmpose.apis', 'init_model'), 'mmseg': ('mmseg.apis', 'init_model'),
                   'mmdet': ('mmdet.apis', 'init_detector')}


@contextmanager
def fast_model_builders(scope: str, dtype: str = 'fp32', backend: Optional[str] = None,
                        calibration: Optional[Iterable[torch.Tensor]] = None) -> Iterator[None]:
    """Inside the block, the toolbox's model builder (``mmpose.apis.init_model``,
    ``mmseg.apis.init_model``, ``mmdet.apis.init_detector``) returns optimised copies
    (:func:`optimize_mm_model`); how ``tools/demo.py --fast`` runs :func:`run_demo` unchanged.

    Args:
        scope (str): The config's ``default_scope`` (``'mmpose'``, ``'mmseg'``, ``'mmdet'``).
        dtype (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` (needs ``calibration``).
        backend (str, optional): ``'eager'``, ``'inductor'``, ``'onnxruntime'`` or
            ``'openvino'``; default eager (OpenVINO for int8).
        calibration (iterable of Tensor, optional): int8 only: preprocessed input batches.
    """
    if scope not in _MODEL_BUILDERS:
        raise ValueError(f'fast mode: scope must be one of {sorted(_MODEL_BUILDERS)}, '
                         f'got {scope!r}')
    backend = backend or default_backend(dtype)
    check_fast_args(dtype, backend, calibration)
    import importlib
    module_name, attr = _MODEL_BUILDERS[scope]
    module = importlib.import_module(module_name)
    build = getattr(module, attr)

    def build_fast(*args, **kwargs):
        model = build(*args, **kwargs)
        fast = optimize_mm_model(model, dtype, backend, calibration)
        print_log(f'fast mode: {"; ".join(fast.fast_report)}', logger='current')
        return fast

    setattr(module, attr, build_fast)
    try:
        yield
    finally:
        setattr(module, attr, build)
