"""The variants compared: a toolbox model as tensor -> tensor(s), ours plain and optimised,
and one training step of each training variant."""
import copy
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn

FORWARD_VARIANTS = ('theirs', 'ours', 'ours_fast', 'ours_fast_bf16', 'ours_compiled',
                    'ours_compiled_bf16')
TRAIN_VARIANTS = ('theirs', 'theirs_cp', 'ours', 'ours_cl', 'ours_memsave')
MEM_INFER_VARIANTS = ('theirs', 'ours', 'ours_fast', 'ours_fast_bf16')


class TensorForward(nn.Module):
    """A toolbox model as tensor -> tensor(s): heatmaps (pose), logits (seg) or the pyramid of
    backbone + neck (det).

    Args:
        model: an mmpose / mmseg / mmdet model.
        task: ``'pose'``, ``'seg'`` or ``'det'``.
    """

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, x: torch.Tensor):
        if self.task == 'det':
            return self.model.extract_feat(x)
        return self.model._forward(x)


def forward_variants(theirs: nn.Module, ours: nn.Module, task: str,
                     names: Sequence[str]) -> Dict[str, nn.Module]:
    """The inference variants ``names`` (of :data:`FORWARD_VARIANTS`) as tensor-in modules:
    ``*_fast*`` and ``*_compiled*`` are :func:`hrnet_mm.fast.optimize` of ours, eager or
    compiled (on the first call), fp32 or bf16."""
    from hrnet_mm.fast import optimize
    out = {}
    for name in names:
        if name == 'theirs':
            out[name] = TensorForward(theirs, task)
        elif name == 'ours':
            out[name] = TensorForward(ours, task)
        else:
            dtype = torch.bfloat16 if name.endswith('bf16') else torch.float32
            out[name] = optimize(TensorForward(ours, task), dtype=dtype,
                                 compile='compiled' in name)
    return out


class TrainStep:
    """forward -> MSE to a fixed target -> backward -> SGD(momentum) step; one per call.

    Args:
        model: the toolbox model to train (put in train mode).
        task: ``'pose'``, ``'seg'`` or ``'det'``.
        x: the input batch.
        channels_last: run model and input in channels_last layout.
    """

    def __init__(self, model: nn.Module, task: str, x: torch.Tensor, channels_last: bool):
        self.net = TensorForward(model, task)
        model.train()
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        self.target = None
        self.opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                   lr=1e-4, momentum=0.9)

    def __call__(self):
        out = self.net(self.x)
        out = out if isinstance(out, (list, tuple)) else [out]
        if self.target is None:  # the same for every variant: fixed seed, output shapes
            g = torch.Generator().manual_seed(1)
            self.target = [torch.rand(o.shape, generator=g) for o in out]
        loss = sum((o - t).square().mean() for o, t in zip(out, self.target))
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        self.opt.step()
        return loss


def train_models(theirs: nn.Module, ours: nn.Module,
                 names: Sequence[str]) -> Dict[str, Tuple[nn.Module, bool]]:
    """name -> (model, channels_last) for the training variants ``names`` (of
    :data:`TRAIN_VARIANTS`; copies, theirs keep theirs): ``theirs_cp`` is the toolbox's own
    ``with_cp`` everywhere, ``ours_memsave`` :func:`enable_memory_saving` per HR module."""
    from hrnet_mm.models.checkpointing import enable_memory_saving, set_with_cp
    out = {}
    for name in names:
        if name == 'theirs':
            out[name] = (copy.deepcopy(theirs), False)
        elif name == 'theirs_cp':
            m = copy.deepcopy(theirs)
            set_with_cp(m, True)
            out[name] = (m, False)
        elif name == 'ours':
            out[name] = (copy.deepcopy(ours), False)
        elif name == 'ours_cl':
            out[name] = (copy.deepcopy(ours), True)
        elif name == 'ours_memsave':
            out[name] = (enable_memory_saving(copy.deepcopy(ours), 'module'), True)
    return out
