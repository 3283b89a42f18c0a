"""Parameter and multiply-add counts.

The HRNet papers report "GFLOPs" as multiply-adds of conv and linear layers divided by 2^30.
:func:`count_macs` counts exactly those with mmengine's ``FlopAnalyzer`` (one MAC per
multiply-add, other ops switched off), so the numbers compare directly with the papers' tables.
``FlopAnalyzer`` traces a real forward with the JIT, which takes tens of seconds for a full-size
HRNet; :func:`count_macs_fast` gives the same count from forward hooks on the meta device (no
arithmetic, well under a second) and the tests check that the two agree.
"""
import copy
from typing import Sequence

import torch
import torch.nn as nn

# Conv and nn.Linear only: matmuls are not layers (Lite-HRNet's traceable adaptive pooling is
# two small matmuls while tracing, which the papers' counts do not include).
CONV_LINEAR_OPS = ('aten::_convolution', 'aten::addmm', 'aten::linear')


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds of conv and linear layers for one forward of ``input_shape`` (N, C, H, W).

    Other ops mmengine would count (norms, upsampling, pooling) are switched off, as in the
    papers' tables.

    Example:
        >>> count_macs(nn.Conv2d(3, 8, 3, padding=1, bias=False), (1, 3, 4, 4))
        3456
    """
    from mmengine.analysis import FlopAnalyzer
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(model, torch.zeros(*input_shape))
            # set_op_handle(op, None) in mmengine 0.10 adds op to the ignored set but keeps its
            # default handle, which still counts; drop the handles themselves.
            for op in list(analyzer._op_handles):
                if op not in CONV_LINEAR_OPS:
                    del analyzer._op_handles[op]
                    analyzer._ignored_ops.add(op)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return int(analyzer.total())
    finally:
        model.train(was_training)


def gflops(macs: int) -> float:
    """The papers' "GFLOPs": multiply-adds / 2^30."""
    return macs / 2 ** 30


def count_macs_fast(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Conv + linear multiply-adds from forward hooks on a meta-device copy of ``model``.

    Equal to :func:`count_macs` (tested); every call of a module counts (e.g. Lite-HRNet's
    doubled fusion).

    Example:
        >>> count_macs_fast(nn.Conv2d(3, 8, 3, padding=1, bias=False), (1, 3, 4, 4))
        3456
    """
    meta = copy.deepcopy(model).to('meta').eval()
    total = [0]

    def conv_hook(m: nn.Conv2d, _, out: torch.Tensor) -> None:
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m: nn.Linear, _, out: torch.Tensor) -> None:
        total[0] += out.numel() * m.in_features

    for m in meta.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        meta(torch.zeros(*input_shape, device='meta'))
    return total[0]
