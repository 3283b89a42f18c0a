"""Batch-norm folding: each conv -> batch norm pair whose order the module structure fixes
(``nn.Sequential`` neighbours, residual units and the stem, mmcv ``ConvModule``) becomes one
conv."""
from typing import Optional

import torch
import torch.nn as nn


def fold_conv_bn(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold ``bn`` (eval statistics) into ``conv`` in place: ``bn(conv(x)) == conv'(x)``."""
    if conv.out_channels != bn.num_features:
        raise ValueError(f'cannot fold a norm of {bn.num_features} features into a conv with '
                         f'{conv.out_channels} outputs')
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
            1 / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias if bn.affine else 0) - bn.running_mean * scale
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.bias = nn.Parameter(bias.detach().clone())


def _is_foldable_bn(m: nn.Module) -> bool:
    return (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            and m.running_mean is not None)


def _fold_named(module: nn.Module, conv: Optional[nn.Module], norm_name: Optional[str]) -> int:
    """Fold ``module.<norm_name>`` into ``conv`` and replace it with ``nn.Identity`` when both
    exist and the norm is foldable; returns the number folded (0 or 1)."""
    if not isinstance(conv, nn.Conv2d) or not isinstance(norm_name, str):
        return 0
    bn = getattr(module, norm_name, None)
    if not _is_foldable_bn(bn):
        return 0
    fold_conv_bn(conv, bn)
    setattr(module, norm_name, nn.Identity())
    return 1


def _fold_mmcv_conv_module(module: nn.Module) -> int:
    """mmcv's ``ConvModule`` (toolbox heads, mm backbones): conv, then ``norm_name``."""
    order = tuple(getattr(module, 'order', ('conv', 'norm', 'act')))
    if order.index('norm') != order.index('conv') + 1:
        return 0
    return _fold_named(module, getattr(module, 'conv', None), getattr(module, 'norm_name', None))


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every conv -> batch norm pair whose order is fixed by the module structure
    (``nn.Sequential`` neighbours, ``convK``/``normK_name`` of residual units and the stem,
    mmcv ``ConvModule``) and replace the norm with ``nn.Identity``. Returns the number of
    folded norms. The model must be in eval mode."""
    if model.training:
        raise ValueError('fold_batch_norms needs a model in eval mode (it uses running stats)')
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and _is_foldable_bn(bn):
                    fold_conv_bn(conv, bn)
                    module._modules[b] = nn.Identity()
                    folded += 1
        elif hasattr(module, 'norm1_name'):  # residual units and the HRNet stem
            for k in (1, 2, 3):
                folded += _fold_named(module, getattr(module, f'conv{k}', None),
                                      getattr(module, f'norm{k}_name', None))
        elif hasattr(module, 'norm_name') and hasattr(module, 'conv'):
            folded += _fold_mmcv_conv_module(module)
    return folded
