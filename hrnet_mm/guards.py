"""Guards against plausible-looking garbage: NaN / Inf in inputs, outputs and losses.

A network fed a NaN pixel returns NaN heatmaps, and ``argmax`` over NaN heatmaps returns
keypoint 0 at a confident-looking location; a half-precision overflow turns a loss into Inf and
the next step's weights into NaN. :func:`check_finite` stops (or warns about) such values where
they enter or leave a tool, naming the place and counting what was found.
"""
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import torch

ACTIONS = ('raise', 'warn')


class NonFiniteError(ValueError):
    """A tensor that must be finite holds NaN or Inf."""


class NonFiniteWarning(UserWarning):
    """A tensor holds NaN or Inf (``check_finite(..., action='warn')``)."""


def _describe(array: np.ndarray, where: str) -> str:
    nan = int(np.isnan(array).sum())
    posinf = int(np.isposinf(array).sum())
    neginf = int(np.isneginf(array).sum())
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    return (f'non-finite values in {where}: {nan} NaN, {posinf} +Inf, {neginf} -Inf among '
            f'{array.size} values (shape {tuple(array.shape)}, dtype {array.dtype}); first at '
            f'index {first}')


def _leaves(value: Any, where: str):
    """(name, array) for every tensor / array in ``value``, nested containers included."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, np.ndarray):
        yield where, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, f'{where}[{k!r}]')
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        for i, v in enumerate(value):
            yield from _leaves(v, f'{where}[{i}]')
    else:
        raise TypeError(f'check_finite({where}): expected tensors, arrays or containers of '
                        f'them, got {type(value).__name__}')


def check_finite(value: Any, where: str, *, action: str = 'raise') -> bool:
    """Check that every tensor or array in ``value`` is finite.

    Integer and boolean tensors are always finite. Nested lists, tuples and dicts are walked
    and each leaf is named in the message (``'outputs[0]'``, ``"batch['inputs']"``).

    Args:
        value: A tensor, a numpy array, or a (nested) sequence / mapping of them.
        where: What ``value`` is, for the message (``'input image'``, ``'ONNX output'``).
        action: ``'raise'`` raises :class:`NonFiniteError`; ``'warn'`` issues a
            :class:`NonFiniteWarning` and returns False.

    Returns:
        True when everything is finite.

    Raises:
        NonFiniteError: with ``action='raise'``, naming ``where``, the counts of NaN, +Inf and
            -Inf, the shape and the first offending index.
        ValueError: for an unknown ``action``.

    Example:
        >>> check_finite(torch.zeros(2, 3), 'heatmaps')
        True
        >>> check_finite([torch.zeros(1), torch.tensor([1.0, float('nan')])], 'outputs')
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hrnet_mm.guards.NonFiniteError: non-finite values in outputs[1]: 1 NaN, 0 +Inf, ...
    """
    if action not in ACTIONS:
        raise ValueError(f'action must be one of {ACTIONS}, got {action!r}')
    ok = True
    for name, leaf in _leaves(value, where):
        if isinstance(leaf, torch.Tensor):
            if not (leaf.is_floating_point() or leaf.is_complex()):
                continue
            if bool(torch.isfinite(leaf).all()):
                continue
            leaf = leaf.detach().float().cpu().numpy()  # bf16/fp16 have no numpy dtype
        elif not np.issubdtype(leaf.dtype, np.inexact) or np.isfinite(leaf).all():
            continue
        message = _describe(np.asarray(leaf), name)
        if action == 'raise':
            raise NonFiniteError(message)
        warnings.warn(message, NonFiniteWarning, stacklevel=2)
        ok = False
    return ok


__all__ = ['ACTIONS', 'NonFiniteError', 'NonFiniteWarning', 'check_finite']
