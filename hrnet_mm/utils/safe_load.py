"""Load checkpoints written by mmengine's Runner under ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``: it unpickles tensors and a
small allowlist of Python types only. A Runner checkpoint also holds the ``meta`` (dataset
metainfo with numpy arrays, numpy scalars from metrics) and the ``message_hub`` (mmengine
``HistoryBuffer`` objects), so ``--resume`` and ``tools/test.py <ckpt>`` fail with
``UnpicklingError`` on mmengine 0.10.7, which calls ``torch.load`` without ``weights_only``.

:func:`allow_mm_checkpoint_globals` adds exactly the globals such checkpoints reference (found
with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on pose, segmentation and
detection checkpoints written by the Runner) instead of turning the safe loader off. The one
builtins they need are replaced by restricted stand-ins: ``getattr`` (pickle's spelling of
``HistoryBuffer.min`` and friends) by :func:`history_buffer_getattr`, which resolves only the
public methods of ``HistoryBuffer``, and ``bytes`` (protocol 2's spelling of ``b''``, from empty
numpy arrays) by :func:`empty_bytes`.
"""
from typing import Any, List, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

try:  # numpy 2 renamed numpy.core to numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the public methods of mmengine's ``HistoryBuffer``.

    Pickle writes the statistics methods a ``HistoryBuffer`` stores (``min``, ``max``,
    ``mean``, ``current`` and any registered with ``register_statistics``) as
    ``getattr(HistoryBuffer, 'min')``; nothing else in a Runner checkpoint uses ``getattr``.

    Example:
        >>> history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
        True
    """
    if obj is not HistoryBuffer or name.startswith('_'):
        raise torch.serialization.pickle.UnpicklingError(
            f'checkpoint asks for getattr({obj!r}, {name!r}); only public methods of '
            'mmengine.logging.HistoryBuffer are allowed')
    value = getattr(HistoryBuffer, name)
    if not callable(value):
        raise torch.serialization.pickle.UnpicklingError(
            f'HistoryBuffer.{name} is not a method')
    return value


def empty_bytes(*args: Any) -> bytes:
    """``bytes()`` for pickle protocol 2's spelling of ``b''`` (the data of an empty numpy array,
    e.g. the skeleton of a face data set in the checkpoint's dataset meta); anything else is
    refused (non-empty bytes come through ``_codecs.encode``, which torch already allows).

    Example:
        >>> empty_bytes()
        b''
    """
    if args:
        raise torch.serialization.pickle.UnpicklingError(
            f'checkpoint asks for bytes{args!r}; only the empty bytes() is allowed')
    return b''


def mm_checkpoint_globals() -> List[Tuple[Any, str]]:
    """The ``(object, pickled name)`` pairs a Runner checkpoint needs beyond torch's defaults."""
    pairs = [
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (history_buffer_getattr, 'builtins.getattr'),
        (empty_bytes, 'builtins.bytes'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
    ]
    # numpy pickles arrays and scalars through these two; the module part of the name is
    # whatever the writing numpy called it, so register both spellings.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        pairs.append((_multiarray._reconstruct, f'{module}._reconstruct'))
        pairs.append((_multiarray.scalar, f'{module}.scalar'))
    # numpy >= 1.25 pickles dtypes of arrays as e.g. numpy.dtypes.Float64DType
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            cls = getattr(dtypes, name)
            if isinstance(cls, type) and issubclass(cls, np.dtype):
                pairs.append((cls, f'numpy.dtypes.{name}'))
    return pairs


def allow_mm_checkpoint_globals() -> None:
    """Let ``torch.load(weights_only=True)`` read checkpoints written by mmengine's Runner.

    Idempotent; affects this process only (call it in every worker of a distributed run).

    Example:
        >>> import io, torch
        >>> from mmengine.logging import MessageHub
        >>> allow_mm_checkpoint_globals()
        >>> hub = MessageHub.get_instance('doctest')
        >>> hub.update_scalar('train/loss', 0.5)
        >>> buf = io.BytesIO()
        >>> torch.save(dict(message_hub=hub.state_dict(),
        ...                 meta=dict(sigmas=np.array([0.026]), ap=np.float64(0.9))), buf)
        >>> _ = buf.seek(0)
        >>> ckpt = torch.load(buf)
        >>> float(ckpt['message_hub']['log_scalars']['train/loss'].current())
        0.5
    """
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mm_checkpoint_globals())


__all__ = ['allow_mm_checkpoint_globals', 'empty_bytes', 'history_buffer_getattr',
           'mm_checkpoint_globals']
