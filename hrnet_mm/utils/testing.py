"""Helpers for comparing implementations: deterministic non-trivial weights, output distance.

Used by the test suite and ``tools/benchmark.py`` to compare ours with the toolboxes' models on
the same weights.
"""
from typing import Sequence, Union

import torch
import torch.nn as nn

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and norm statistic non-trivial random values (in place; the same
    values for the same architecture and seed), keeping activations in a sane range, so that
    output differences between two implementations mean something. Returns ``model``.

    Example:
        >>> import torch.nn as nn
        >>> a, b = randomize_(nn.Conv2d(3, 4, 3)), randomize_(nn.Conv2d(3, 4, 3))
        >>> bool((a.weight == b.weight).all())
        True
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            elif name.endswith('running_mean') or name.endswith('bias'):
                t.copy_(torch.randn(t.shape, generator=g) * 0.05)
            elif t.dim() == 1:  # norm weight
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
    return model


def _as_list(a: Outputs) -> Sequence[torch.Tensor]:
    return [a] if isinstance(a, torch.Tensor) else a


def max_abs_diff(a: Outputs, b: Outputs) -> float:
    """Max abs difference (in fp32) over two tensors or two sequences of tensors."""
    a, b = _as_list(a), _as_list(b)
    if len(a) != len(b):
        raise ValueError(f'{len(a)} vs {len(b)} outputs')
    return max((x.float() - y.float()).abs().max().item() for x, y in zip(a, b))


def max_abs(a: Outputs) -> float:
    """Max abs value over a tensor or a sequence of tensors."""
    return max(x.float().abs().max().item() for x in _as_list(a))
