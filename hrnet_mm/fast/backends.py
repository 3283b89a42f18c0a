"""The backends behind :func:`hrnet_mm.fast.optimize`: which dtypes each one runs, which graph
rewrites it gets, and the clear errors for a bad choice or a missing package.

Example:
    >>> allowed_dtypes('onnxruntime')
    ('fp32', 'int8')
    >>> check_backend_dtype('openvino', 'bf16')
    ('openvino', 'bf16')
    >>> rewrites_for('onnxruntime').merge_exchange
    False
"""
import functools
import importlib
import re
import warnings
from dataclasses import dataclass, replace
from typing import Dict, Optional, Tuple, Union

import torch

#: Backend name -> the dtypes it runs. ONNX Runtime's CPU provider has no bf16 kernels for
#: convolutions (only a few contrib ops), so ``('onnxruntime', 'bf16')`` is refused.
BACKEND_DTYPES: Dict[str, Tuple[str, ...]] = {
    'eager': ('fp32', 'bf16'),
    'inductor': ('fp32', 'bf16'),
    'onnxruntime': ('fp32', 'int8'),
    'openvino': ('fp32', 'bf16', 'int8'),
}
BACKENDS: Tuple[str, ...] = tuple(BACKEND_DTYPES)
DTYPES: Tuple[str, ...] = ('fp32', 'bf16', 'int8')

#: The pip command that installs what a backend (or int8 on it) needs. OpenVINO and NNCF are
#: the ``deploy`` extra of setup.py (requirements/deploy.txt, pinned like the set-up pins them).
DEPLOY_INSTALL = "pip install 'hrnet_mm[deploy]'"
INSTALL_COMMANDS: Dict[str, str] = {
    'onnx': 'pip install onnx',
    'onnxruntime': 'pip install onnxruntime',
    'openvino': DEPLOY_INSTALL,
    'nncf': DEPLOY_INSTALL,
}

_DTYPE_ALIASES = {
    'fp32': 'fp32', 'float32': 'fp32', 'float': 'fp32', torch.float32: 'fp32',
    'bf16': 'bf16', 'bfloat16': 'bf16', torch.bfloat16: 'bf16',
    'int8': 'int8', torch.qint8: 'int8', torch.int8: 'int8',
}


class BackendUnavailableError(ImportError):
    """A backend's Python package is not installed; the message names the install command."""


def normalize_dtype(dtype: Union[str, torch.dtype]) -> str:
    """``'fp32'``, ``'bf16'`` or ``'int8'`` for any accepted spelling (``torch.float32``,
    ``'bfloat16'`` ...); ``ValueError`` naming ``dtype`` and the allowed values otherwise."""
    try:
        return _DTYPE_ALIASES[dtype]
    except (KeyError, TypeError):
        raise ValueError(f'dtype must be one of {DTYPES} (or torch.float32 / torch.bfloat16), '
                         f'got {dtype!r}') from None


def allowed_pairs() -> str:
    """Every allowed backend/dtype pair, as text for error messages."""
    return ', '.join(f'{b}: {"/".join(d)}' for b, d in BACKEND_DTYPES.items())


def allowed_dtypes(backend: str) -> Tuple[str, ...]:
    """The dtypes ``backend`` runs; ``ValueError`` listing the backends if it is unknown."""
    if backend not in BACKEND_DTYPES:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r} (allowed '
                         f'backend/dtype pairs: {allowed_pairs()})')
    return BACKEND_DTYPES[backend]


def check_backend_dtype(backend: str, dtype: Union[str, torch.dtype]) -> Tuple[str, str]:
    """``(backend, dtype)`` normalised; ``ValueError`` listing the allowed pairs otherwise."""
    dtypes = allowed_dtypes(backend)
    name = normalize_dtype(dtype)
    if name not in dtypes:
        raise ValueError(f'dtype {name!r} is not supported by backend {backend!r}; allowed '
                         f'backend/dtype pairs: {allowed_pairs()}')
    return backend, name


def require(package: str, purpose: Optional[str] = None):
    """Import ``package`` or raise :class:`BackendUnavailableError` naming the install
    command (``purpose`` says what needed it)."""
    try:
        return importlib.import_module(package)
    except ImportError as e:
        what = purpose or f'backend {package!r}'
        command = INSTALL_COMMANDS.get(package, f'pip install {package}')
        setup = 'bash tools/setup_env.sh' + (' without --no-deploy'
                                             if command == DEPLOY_INSTALL else '')
        raise BackendUnavailableError(
            f'{what} needs the {package!r} package, which is not installed: {command} '
            f'(or {setup})') from e


@dataclass(frozen=True)
class Rewrites:
    """Graph rewrites applied to the PyTorch module before a backend runs (or exports) it.

    Attributes:
        fold_bn (bool): Fold batch norms into the convolutions (:func:`fold_batch_norms`).
        merge_exchange (bool): Merge the exchange units (:class:`MergedExchangeHRModule`).
        channels_last (bool): Channels-last weights and activations (PyTorch backends only;
            the runtimes choose their own layouts).
        fixed_ratios (bool): Runtimes: for inputs divisible by 32, a second graph traced with
            fixed resampling ratios (``Resize`` with constant scales, Lite-HRNet's pooling as
            a fixed ``AveragePool``; :func:`hrnet_mm.export.fixed_ratio_resampling`); other
            sizes run the general graph. PyTorch needs no such thing.
        unshuffle_lite (bool): Lite-HRNet without channel shuffles, splits and concatenations
            (:func:`hrnet_mm.fast.lite_unshuffle.unshuffle_lite_hrnet`; needs ``fold_bn``).
    """
    fold_bn: bool = True
    merge_exchange: bool = False
    channels_last: bool = False
    fixed_ratios: bool = False
    unshuffle_lite: bool = False


#: Chosen by measurement (docs/notes/fast_engineering.md, "Backends"): the merged exchange
#: units help oneDNN in eager/inductor but not the runtimes (ORT on the merged export is
#: slower, issue 12), so the runtimes get the plain exchange units. BN folding changes nothing
#: for the runtimes (the ONNX exporter folds eval-mode BN itself: identical graphs) and is
#: kept for smaller copies. Fixed ratios: ONNX Runtime keeps HRNet-W32 in its blocked layout
#: (1 layout reorder instead of 173, the adds and ReLUs fused into the convolutions); OpenVINO
#: Lite-HRNet-18 ~2.7x faster. Lite-HRNet without shuffles: OpenVINO 1.3-1.7x faster in fp32,
#: bf16 and int8; ONNX Runtime 1.3-2x slower with it (measured), so off there; off for
#: OpenVINO int8 too, whose accuracy it lowers (fitted Lite-HRNet-18: argmax within 1 px
#: 99.0% -> 98.5%).
REWRITES: Dict[str, Rewrites] = {
    'eager': Rewrites(fold_bn=True, merge_exchange=True, channels_last=True),
    'inductor': Rewrites(fold_bn=True, merge_exchange=True, channels_last=True),
    'onnxruntime': Rewrites(fold_bn=True, merge_exchange=False, fixed_ratios=True),
    'openvino': Rewrites(fold_bn=True, merge_exchange=False, fixed_ratios=True,
                         unshuffle_lite=True),
}


def rewrites_for(backend: str, dtype: Union[str, torch.dtype] = 'fp32') -> Rewrites:
    """The rewrites :func:`~hrnet_mm.fast.optimize` applies for ``backend`` (and ``dtype``)."""
    backend, dtype = check_backend_dtype(backend, dtype)
    if dtype == 'int8':
        return replace(REWRITES[backend], unshuffle_lite=False)
    return REWRITES[backend]


# --------------------------------------------------------------------------- bf16 and the CPU

class SlowDtypeWarning(UserWarning):
    """The dtype asked for has no hardware support on this CPU (bf16 without AVX512-BF16 /
    AMX): it runs, but emulated, and is slower than fp32."""


@dataclass(frozen=True)
class CpuBf16:
    """What this CPU offers bf16: ``avx512_bf16`` / ``amx`` None when unknown."""
    model: str
    avx512_bf16: Optional[bool]
    amx: Optional[bool]

    @property
    def native(self) -> Optional[bool]:
        """True with AVX512-BF16 or AMX, False with neither, None when unknown."""
        if self.avx512_bf16 or self.amx:
            return True
        if self.avx512_bf16 is None and self.amx is None:
            return None
        return False


@functools.lru_cache(maxsize=None)
def cpu_bf16() -> CpuBf16:
    """This CPU's bf16 support, read once: the flags of ``/proc/cpuinfo`` (Linux), else what
    PyTorch reports (``torch._C._cpu``, where it has it), else unknown.

    Example:
        >>> cpu_bf16().native in (True, False, None)
        True
    """
    try:
        with open('/proc/cpuinfo') as f:
            text = f.read()
        flags = set(re.search(r'^flags\s*:\s*(.*)$', text, re.M).group(1).split())
        found = re.search(r'^model name\s*:\s*(.*)$', text, re.M)
        return CpuBf16(found.group(1).strip() if found else 'this CPU',
                       'avx512_bf16' in flags, 'amx_bf16' in flags)
    except (OSError, AttributeError):
        pass
    cpu = getattr(torch._C, '_cpu', None)

    def ask(name: str) -> Optional[bool]:
        fn = getattr(cpu, name, None)
        return bool(fn()) if fn is not None else None
    return CpuBf16('this CPU', ask('_is_avx512_bf16_supported'), ask('_is_amx_tile_supported'))


_warned_slow_bf16 = False


def warn_if_bf16_is_slow(dtype: str) -> bool:
    """For ``dtype == 'bf16'`` on a CPU known to lack AVX512-BF16 and AMX, warn (once per
    process, :class:`SlowDtypeWarning`) that bf16 will be slower than fp32; returns whether
    it warned. An unknown CPU gets no warning."""
    global _warned_slow_bf16
    if dtype != 'bf16' or _warned_slow_bf16:
        return False
    cpu = cpu_bf16()
    if cpu.native is not False:
        return False
    _warned_slow_bf16 = True
    warnings.warn(f"dtype='bf16' on {cpu.model}, which has neither AVX512-BF16 nor AMX: bf16 "
                  f"is emulated there and runs slower than fp32 (the speed-ups in "
                  f"docs/fast.md need one of the two). Use dtype='fp32', or int8 on "
                  f"OpenVINO / ONNX Runtime.", SlowDtypeWarning, stacklevel=3)
    return True


__all__ = ['BACKEND_DTYPES', 'BACKENDS', 'DEPLOY_INSTALL', 'DTYPES', 'INSTALL_COMMANDS',
           'BackendUnavailableError', 'CpuBf16', 'Rewrites', 'REWRITES', 'SlowDtypeWarning',
           'allowed_dtypes', 'allowed_pairs', 'check_backend_dtype', 'cpu_bf16',
           'normalize_dtype', 'require', 'rewrites_for', 'warn_if_bf16_is_slow']
