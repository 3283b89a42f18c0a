"""Checks of forward inputs shared by the backbones and necks: clear errors, not shape soup."""
from typing import Sequence

import torch


def check_flag(value, field: str, owner: str) -> bool:
    """Return ``value`` if it is a real bool; raise ``ValueError`` naming ``field`` otherwise
    (``bool('False')`` is True, so strings must not slip through)."""
    if not isinstance(value, bool):
        raise ValueError(f'{owner}: {field} must be True or False, got {value!r}')
    return value


def check_input(x: torch.Tensor, in_channels: int, owner: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a non-empty ``(N, in_channels, H, W)`` tensor.

    Example:
        >>> check_input(torch.zeros(1, 3, 8, 8), 3, 'HRNet')
        >>> check_input(torch.zeros(3, 8, 8), 3, 'HRNet')
        Traceback (most recent call last):
        ...
        ValueError: HRNet expects a 4D (N, C, H, W) tensor, got shape (3, 8, 8)
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f'{owner} expects a torch.Tensor, got {type(x).__name__}')
    if x.dim() != 4:
        raise ValueError(f'{owner} expects a 4D (N, C, H, W) tensor, got shape {tuple(x.shape)}')
    if x.shape[1] != in_channels:
        raise ValueError(f'{owner} was built with in_channels={in_channels} but the input has '
                         f'{x.shape[1]} channels (shape {tuple(x.shape)})')
    if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f'{owner} got an empty input of shape {tuple(x.shape)}')


def check_streams(xs: Sequence[torch.Tensor], in_channels: Sequence[int], owner: str) -> None:
    """Raise ``ValueError`` unless ``xs`` holds one 4D tensor per declared stream width."""
    if len(xs) != len(in_channels):
        raise ValueError(f'{owner} was built for {len(in_channels)} streams '
                         f'(in_channels={list(in_channels)}) but got {len(xs)}')
    for i, (x, c) in enumerate(zip(xs, in_channels)):
        if x.dim() != 4 or x.shape[1] != c:
            raise ValueError(f'{owner}: stream {i} should be (N, {c}, H, W) per in_channels='
                             f'{list(in_channels)}, got shape {tuple(x.shape)}')
    if torch.jit.is_tracing():  # traced sizes are tensors; the trace has been checked above
        return
    shapes = [tuple(x.shape) for x in xs]
    if len({s[0] for s in shapes}) > 1:
        raise ValueError(f'{owner}: the streams have different batch sizes: {shapes}')
    if any(0 in s for s in shapes):
        raise ValueError(f'{owner} got an empty input: stream shapes {shapes}')
