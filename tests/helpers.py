"""Small utilities shared by the tests (imported as ``from helpers import ...``)."""
import torch
import torch.nn as nn


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and norm statistic non-trivial random values (same for the same
    architecture and seed), keeping activations in a sane range."""
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


def max_abs_diff(a, b) -> float:
    """Max abs difference over two tensors or two sequences of tensors."""
    if isinstance(a, torch.Tensor):
        a, b = [a], [b]
    assert len(a) == len(b), f'{len(a)} vs {len(b)} outputs'
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def zoo_config(name: str):
    """Load a toolbox zoo config by its ``pkg::relative/path.py`` name (mim layout)."""
    import importlib
    import os.path as osp

    from mmengine.config import Config
    pkg, rel = name.split('::', 1)
    root = osp.dirname(importlib.import_module(pkg).__file__)
    return Config.fromfile(osp.join(root, '.mim', 'configs', rel))
