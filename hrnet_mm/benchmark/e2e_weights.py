"""The e2e section's weights, saved as Runner checkpoints: pose W32 and seg W18 fitted to the
real samples (cached, like the benchmark's fits), the detector and the quick run's model with
seeded random weights."""
import os
import os.path as osp

import torch
import torch.nn.functional as F

from .common import REPO_ROOT
from .samples import cityscapes_frame

CONFIGS = osp.join(REPO_ROOT, 'configs')


def save_checkpoint(state: dict, path: str) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save({'state_dict': state, 'meta': {}}, path)
    return path


def pose_weights(args, cache: str) -> dict:
    """HRNet-W32 256x192 fitted to the COCO sample's people (``--train-iters``), cached."""
    from .fitting import fit_pose_model
    iters = 1 if args.quick else args.train_iters
    state, info = fit_pose_model('pose_w32', iters, 0, cache, args.quick)
    return dict(checkpoint=save_checkpoint(state, osp.join(cache, 'e2e', 'pose_w32.pth')),
                fit=info)


def seg_weights(args, cache: str) -> dict:
    """FCN-W18 fitted to the Cityscapes frame at the test scale (crops of a quarter of its
    height and width, like the benchmark's seg fit; half as many iterations as the W32 fit,
    ``--train-iters``), cached."""
    from .fitting import cached_fit, fit, recalibrate_norms
    from .specs import SPECS, fresh_model
    from .variants import TensorForward
    iters = 2 if args.quick else max(args.train_iters // 2, 2)  # 200 with the default 400
    h, w = (128, 256) if args.quick else (1024, 2048)
    ch, cw = h // 4, w // 4
    path = osp.join(cache, f'e2e_seg_w18_cityscapes_frame_{h}x{w}_it{iters}.pth')
    info = dict(iters=iters, batch=2, crop=[ch, cw])

    def fit_fn():
        model = fresh_model(SPECS['seg_w18'], 0)
        net = TensorForward(model, 'seg').to(memory_format=torch.channels_last)
        x, y = cityscapes_frame((h, w))
        g = torch.Generator().manual_seed(0)

        def crops(n=2):
            xs, ys = [], []
            for _ in range(n):
                top = int(torch.randint(h - ch + 1, (1,), generator=g))
                left = int(torch.randint(w - cw + 1, (1,), generator=g))
                xs.append(x[0, :, top:top + ch, left:left + cw])
                ys.append(y[0, top:top + ch, left:left + cw])
            return torch.stack(xs).contiguous(memory_format=torch.channels_last), torch.stack(ys)

        def loss_fn(out, target):
            return F.cross_entropy(F.interpolate(out, size=(ch, cw), mode='bilinear',
                                                 align_corners=False), target, ignore_index=255)

        stats = fit(net, crops, loss_fn, iters, 'e2e: fitting seg W18 to the Cityscapes frame')
        recalibrate_norms(model, net, (crops()[0] for _ in range(8)))
        return model.state_dict(), stats

    state, info = cached_fit(path, info, args.quick, fit_fn)
    return dict(checkpoint=save_checkpoint(state, osp.join(cache, 'e2e', 'seg_w18.pth')),
                fit=info)


def det_weights(config: str, cache: str) -> dict:
    """``config``'s detector with seeded random weights (no fit)."""
    from mmengine.registry import MODELS, init_default_scope

    from hrnet_mm.apis import load_config, register_toolbox
    from hrnet_mm.utils.testing import randomize_
    cfg = load_config(osp.join(CONFIGS, config))
    register_toolbox(cfg)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    randomize_(model, 0)
    path = osp.join(cache, 'e2e', 'det_w18.pth')
    return dict(checkpoint=save_checkpoint(model.state_dict(), path), fit=None)


def random_weights(config: str, cache: str) -> dict:
    """``config``'s model as its ``init_weights`` leaves it (seed 0): the quick run's."""
    from mmengine.registry import MODELS, init_default_scope

    from hrnet_mm.apis import load_config, register_toolbox
    cfg = load_config(osp.join(CONFIGS, config))
    register_toolbox(cfg)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = osp.join(cache, 'e2e', 'quick.pth')
    return dict(checkpoint=save_checkpoint(model.state_dict(), path), fit=None)
