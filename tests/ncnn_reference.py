"""A small interpreter of ncnn graphs in PyTorch: the reference the PP-TinyPose ncnn import is
checked against, with no OpenVINO IR and no hrnet_mm model in the loop.

It runs the layers of a ``.param`` file in file order on blobs of shape ``[C, H, W]`` (batch
1), with the weights that :func:`hrnet_mm.checkpoint_deploy.read_ncnn` read, looked up by layer
name. Only the layer types of the PP-TinyPose export are implemented; anything else raises.
"""
from typing import Dict

import torch
import torch.nn.functional as F

from hrnet_mm.checkpoint_deploy import read_ncnn

# ncnn Permute order types for 3-D blobs, as torch permutations of [C, H, W]
_PERMUTE = {0: (0, 1, 2), 1: (0, 2, 1), 2: (1, 0, 2), 3: (1, 2, 0), 4: (2, 0, 1), 5: (2, 1, 0)}


def _params(fields):
    out = {}
    for field in fields:
        key, _, value = field.partition('=')
        out[int(key)] = value
    return out


def run_ncnn(param_path: str, image: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Run the graph on ``image`` (``[3, H, W]``) and return every blob by name."""
    convs = {c.name: c for c in read_ncnn(param_path).convs}
    with open(param_path) as f:
        lines = [line.split() for line in f if line.strip()][2:]
    blobs = {}
    for fields in lines:
        kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        ins = fields[4:4 + n_in]
        outs = fields[4 + n_in:4 + n_in + n_out]
        p = _params(fields[4 + n_in + n_out:])
        x = [blobs[i] for i in ins]
        if kind == 'Input':
            y = [image]
        elif kind in ('Convolution', 'ConvolutionDepthWise'):
            conv = convs[name]
            r = F.conv2d(x[0][None], conv.weight, conv.bias, stride=int(p.get(3, 1)),
                         padding=int(p.get(4, 0)), groups=conv.groups)[0]
            if int(p.get(9, 0)) == 1:
                r = F.relu(r)
            elif int(p.get(9, 0)) != 0:
                raise NotImplementedError(f'{name}: activation {p[9]}')
            y = [r]
        elif kind == 'ReLU':
            y = [F.relu(x[0])]
        elif kind == 'Split':
            y = [x[0]] * n_out
        elif kind == 'Slice':  # -23300=n,-233,...: n equal parts along the channels
            if p.get(1, '0') != '0':
                raise NotImplementedError(f'{name}: slice axis {p[1]}')
            y = list(torch.chunk(x[0], n_out, dim=0))
        elif kind == 'Concat':
            if p.get(0, '0') != '0':
                raise NotImplementedError(f'{name}: concat axis {p[0]}')
            y = [torch.cat(x, dim=0)]
        elif kind == 'BinaryOp':
            if p.get(0, '0') != '0' or n_in != 2:
                raise NotImplementedError(f'{name}: binary op {p}')
            y = [x[0] + x[1]]
        elif kind == 'Reshape':  # 0=w 1=h 2=c
            y = [x[0].reshape(int(p[2]), int(p[1]), int(p[0]))]
        elif kind == 'Permute':
            y = [x[0].permute(*_PERMUTE[int(p[0])]).contiguous()]
        elif kind == 'Interp':
            mode = int(p[0])
            if mode == 1:  # nearest, by scale
                y = [F.interpolate(x[0][None], scale_factor=(float(p[1]), float(p[2])),
                                   mode='nearest')[0]]
            elif mode == 2:  # bilinear, to a size
                y = [F.interpolate(x[0][None], size=(int(p[3]), int(p[4])), mode='bilinear',
                                   align_corners=bool(int(p.get(6, 0))))[0]]
            else:
                raise NotImplementedError(f'{name}: interp mode {mode}')
        else:
            raise NotImplementedError(f'{name}: layer type {kind}')
        blobs.update(zip(outs, y))
    return blobs
