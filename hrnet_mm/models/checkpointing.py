"""Activation checkpointing for the HRNet family (memory-saving training).

A module class takes part by naming the granularities at which it is one checkpointed
segment in its ``checkpoint_segment`` class attribute (``'module'``: HR modules with their
exchange unit, and the residual units outside them; ``'unit'``: every residual unit / Lite-HRNet
block), so this module needs no model class and every model module may import it.
"""
import types
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

MEMORY_SAVING_GRANULARITIES = ('module', 'unit')


@contextmanager
def _frozen_norm_stats(module: nn.Module) -> Iterator[None]:
    """Batch norms of ``module`` normalise with batch statistics but leave their running
    statistics untouched (for the recomputation of a checkpointed segment, so that the
    statistics are updated once per step, as without checkpointing)."""
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training \
                and m.track_running_stats and m.running_mean is not None:
            saved.append((m, m.momentum, m.num_batches_tracked.clone()
                          if m.num_batches_tracked is not None else None))
            # momentum 0: running = 1 * running + 0 * batch, bit for bit unchanged
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def _checkpointed_forward(self: nn.Module, *args):
    """Forward of a checkpointed segment: activations inside are recomputed in backward."""
    plain = type(self).forward
    if not (self.training and torch.is_grad_enabled()):
        return plain(self, *args)
    calls = []

    def run(*inputs):
        calls.append(None)
        if len(calls) == 1:
            return plain(self, *inputs)
        with _frozen_norm_stats(self):
            return plain(self, *inputs)

    return cp.checkpoint(run, *args, use_reentrant=False)


def set_with_cp(model: nn.Module, value: bool) -> int:
    """Set every mm-style ``with_cp`` switch in ``model``; returns how many there are."""
    switches = [m for m in model.modules() if isinstance(getattr(m, 'with_cp', None), bool)]
    for m in switches:
        m.with_cp = value
    return len(switches)


def _checkpoint(module: nn.Module) -> None:
    set_with_cp(module, False)  # checkpointed from outside: no nested recomputation
    module.forward = types.MethodType(_checkpointed_forward, module)


def _segments(model: nn.Module, granularity: str) -> List[nn.Module]:
    """The modules to checkpoint, outermost first, none inside another."""
    chosen: List[nn.Module] = []

    def visit(m: nn.Module) -> None:
        if granularity in getattr(type(m), 'checkpoint_segment', ()):
            chosen.append(m)
            return
        for child in m.children():
            visit(child)

    visit(model)
    return chosen


def enable_memory_saving(model: nn.Module, granularity: str = 'module') -> nn.Module:
    """Turn on activation checkpointing in ``model`` (in place); returns ``model``.

    Outputs, gradients and batch-norm running statistics are identical to the plain model's
    (the recomputation in backward leaves the running statistics alone, unlike mm's
    ``with_cp``). State-dict keys do not change.

    Args:
        model (nn.Module): A model containing hrnet_mm backbones (or any module with mm-style
            ``with_cp`` switches, which are turned on instead).
        granularity (str): ``'module'`` stores only the inputs of each HR module (branches and
            exchange unit together) and of each residual unit outside them (stage 1), and
            recomputes the rest in backward; ``'unit'`` checkpoints every residual unit /
            Lite-HRNet block, as mm's ``with_cp`` does, which keeps the exchange units'
            activations.

    Example:
        >>> import torch
        >>> from hrnet_mm.models import HRNet
        >>> model = enable_memory_saving(HRNet('w18_small_v1'))
        >>> sum(o.sum() for o in model(torch.rand(1, 3, 64, 48))).backward()
    """
    if granularity not in MEMORY_SAVING_GRANULARITIES:
        raise ValueError(f'granularity must be one of {MEMORY_SAVING_GRANULARITIES}, '
                         f'got {granularity!r}')
    segments = _segments(model, granularity)
    for m in segments:
        _checkpoint(m)
    count = len(segments) or set_with_cp(model, True)  # foreign models: their own switches
    if count == 0:
        raise ValueError(f'{type(model).__name__} has no module that supports checkpointing')
    return model


def apply_memory_saving(model: nn.Module, memory_saving: Optional[str], owner: str) -> None:
    """The backbones' ``memory_saving=`` argument: None (off), ``'module'`` or ``'unit'``
    (:func:`enable_memory_saving`); a bad value raises ``ValueError`` naming ``owner``."""
    if memory_saving is None:
        return
    if memory_saving not in MEMORY_SAVING_GRANULARITIES:
        raise ValueError(f'{owner}: memory_saving must be None or one of '
                         f'{MEMORY_SAVING_GRANULARITIES}, got {memory_saving!r}')
    enable_memory_saving(model, memory_saving)
