"""Import deploy graphs (batch norm folded into the convs) as mmpose checkpoints.

PP-TinyPose (PaddleDetection) ships as OpenVINO IR (``model.xml`` + ``model.bin``) and as ncnn
(``.param`` + ``.bin``): a wider naive Lite-HRNet-18 whose every conv + batch norm was folded
into one conv with a bias, then a 1x1 conv 40 -> 17 heatmaps. Both files list the convs in the
order of the Conv2d modules of :class:`~hrnet_mm.models.LiteHRNet` ``('wider_naive18')``
followed by mmpose's ``HeatmapHead`` final layer (OpenVINO: ordered by the index ``K`` of the
``batch_norm2d_K`` bias that follows each conv; ncnn: the file's layer order).

The import puts each folded weight into its conv and each folded bias into the batch norm after
it, made an identity (weight 1, running mean 0, running variance ``1 - eps``): ``bn(conv(x)) =
conv(x) + bias``. The result is an ordinary mmpose state dict (``backbone.*``,
``head.final_layer.*``) that loads strictly into hrnet_mm's and into mmpose's own
``LiteHRNet`` with the same ``extra``, and trains like any checkpoint (the identity norms
become ordinary batch norms again).

    from hrnet_mm.checkpoint_deploy import convert_deploy_graph
    convert_deploy_graph('pp_tinypose/openvino_256x192/model.xml', 'pp_tinypose_256x192.pth')

The weights need the official Lite-HRNet fusion (stream 0 counted twice), the default of
:class:`~hrnet_mm.models.LiteHRNet`.
"""
import os
import re
import struct
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .checkpoint import CheckpointError
from .fileio import atomic_save

# A PP-TinyPose export: our preset + mmpose's HeatmapHead with a 1x1 final conv (bias).
PP_TINYPOSE_ARCH = 'wider_naive18'
PP_TINYPOSE_KEYPOINTS = 17
DEPLOY_SUFFIXES = ('.xml', '.param')

_OV_DTYPES = {'f16': np.float16, 'f32': np.float32}
_NCNN_MAGIC = 7767517
# ncnn's weight-blob tags (the 4 bytes before a conv's weights) and their element types.
_NCNN_FP16_TAG = 0x01306B47
_NCNN_FP32_TAG = 0


@dataclass(frozen=True)
class FoldedConv:
    """One convolution of a deploy graph, batch norm already folded in.

    Attributes:
        name (str): Its name in the file (for error messages).
        weight (torch.Tensor): ``[out, in / groups, kh, kw]`` float32.
        bias (torch.Tensor, optional): ``[out]`` float32; None when the graph adds none.
        groups (int): Convolution groups.
    """
    name: str
    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    groups: int


@dataclass(frozen=True)
class DeployGraph:
    """The convolutions of a deploy graph and the input it was exported for.

    Attributes:
        path (str): The graph file (``.xml`` or ``.param``).
        format (str): ``'openvino'`` or ``'ncnn'``.
        convs (list[FoldedConv]): In the order of the network's Conv2d modules.
        input_hw (tuple[int, int], optional): The input height and width, when fixed.
    """
    path: str
    format: str
    convs: List[FoldedConv]
    input_hw: Optional[Tuple[int, int]]


def _weights_file(graph: str, weights: Optional[str]) -> str:
    weights = weights or os.path.splitext(graph)[0] + '.bin'
    if not os.path.isfile(weights):
        raise CheckpointError(f'the weights of {graph} are missing: {weights} not found')
    return weights


def read_openvino_ir(xml_path: str, bin_path: Optional[str] = None) -> DeployGraph:
    """Read the convolutions of an OpenVINO IR (no OpenVINO needed: the XML and the raw .bin).

    Each ``Convolution`` / ``GroupConvolution`` takes its weights from a constant (through a
    ``Convert`` when stored in fp16); the ``Add`` of a constant right after it is its folded
    bias. The convs are ordered by the ``K`` of the ``batch_norm2d_K`` bias names, those without
    such a name after them, in the order of the file.

    Raises:
        CheckpointError: naming the file, for a missing or truncated ``.bin``, or an XML that
            is not an IR.
    """
    bin_path = _weights_file(xml_path, bin_path)
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as e:
        raise CheckpointError(f'{xml_path} is not an OpenVINO IR: {e}') from e
    if root.tag != 'net' or root.find('layers') is None or root.find('edges') is None:
        raise CheckpointError(f'{xml_path} is not an OpenVINO IR (no <net> with layers and '
                              f'edges)')
    blob = np.fromfile(bin_path, dtype=np.uint8)
    layers = {layer.get('id'): layer for layer in root.find('layers')}
    producer: Dict[Tuple[str, str], str] = {}  # (layer, input port) -> producing layer
    consumers: Dict[str, List[str]] = {}
    for edge in root.find('edges'):
        producer[edge.get('to-layer'), edge.get('to-port')] = edge.get('from-layer')
        consumers.setdefault(edge.get('from-layer'), []).append(edge.get('to-layer'))

    def constant(layer_id: str) -> Optional[np.ndarray]:
        """The value behind a Const (through Converts), or None for a computed input."""
        layer = layers[layer_id]
        while layer.get('type') == 'Convert':
            layer = layers[producer[layer.get('id'), '0']]
        if layer.get('type') != 'Const':
            return None
        data = layer.find('data')
        dtype = _OV_DTYPES.get(data.get('element_type'))
        if dtype is None:
            raise CheckpointError(f'{xml_path}: constant {layer.get("name")} has element type '
                                  f'{data.get("element_type")}; expected f16 or f32 weights')
        offset, size = int(data.get('offset')), int(data.get('size'))
        if offset + size > blob.size:
            raise CheckpointError(f'{bin_path} is truncated: {blob.size} bytes, but '
                                  f'{layer.get("name")} of {xml_path} needs bytes {offset} to '
                                  f'{offset + size}')
        shape = [int(s) for s in data.get('shape').split(',') if s.strip()]
        return blob[offset:offset + size].view(dtype).reshape(shape).astype(np.float32)

    found = []
    for position, (layer_id, layer) in enumerate(layers.items()):
        kind = layer.get('type')
        if kind not in ('Convolution', 'GroupConvolution'):
            continue
        weight = constant(producer[layer_id, '1'])
        if weight is None:
            raise CheckpointError(f'{xml_path}: convolution {layer.get("name")} has computed '
                                  f'weights; expected a deploy graph with constant weights')
        groups = 1
        if kind == 'GroupConvolution':  # [G, O/G, I/G, kh, kw]
            groups = weight.shape[0]
            weight = weight.reshape((-1,) + weight.shape[2:])
        bias, bias_name = None, ''
        for consumer in consumers.get(layer_id, []):
            if layers[consumer].get('type') != 'Add':
                continue
            other = [producer[consumer, p] for p in ('0', '1') if (consumer, p) in producer]
            value = next((constant(o) for o in other if o != layer_id), None)
            if value is not None:
                bias, bias_name = value.reshape(-1), layers[consumer].get('name')
        match = re.match(r'batch_norm2d_(\d+)', bias_name)
        key = (0, int(match.group(1))) if match else (1, position)
        found.append((key, FoldedConv(layer.get('name'), torch.from_numpy(weight),
                                      None if bias is None else torch.from_numpy(bias),
                                      groups)))
    found.sort(key=lambda item: item[0])
    spans = [int(c.find('data').get('offset')) + int(c.find('data').get('size'))
             for c in layers.values() if c.get('type') == 'Const']
    if spans and max(spans) != blob.size:
        raise CheckpointError(f'{bin_path} has {blob.size} bytes but the constants of {xml_path} '
                              f'span {max(spans)}: the two files do not belong together')
    input_hw = None
    parameters = [layer for layer in layers.values() if layer.get('type') == 'Parameter']
    if len(parameters) == 1:
        dims = [int(d) for d in parameters[0].find('data').get('shape', '').split(',')
                if d.strip().lstrip('-').isdigit()]
        if len(dims) == 4 and min(dims[2:]) > 0:
            input_hw = (dims[2], dims[3])
    return DeployGraph(xml_path, 'openvino', [conv for _, conv in found], input_hw)


def _ncnn_params(fields: List[str]) -> Dict[int, str]:
    params = {}
    for field in fields:
        key, _, value = field.partition('=')
        params[int(key)] = value
    return params


def read_ncnn(param_path: str, bin_path: Optional[str] = None) -> DeployGraph:
    """Read the convolutions of an ncnn model (``.param`` text + ``.bin``), without ncnn.

    ncnn stores, for each ``Convolution`` / ``ConvolutionDepthWise`` layer in file order, the
    weights behind a 4-byte tag (fp16 or fp32) and then ``num_output`` fp32 biases when the
    layer has a bias. No other layer of a PP-TinyPose graph holds weights.

    Raises:
        CheckpointError: naming the file, for a file that is not ncnn, a weight type other than
            fp16/fp32, or a ``.bin`` whose size does not match the layers.
    """
    bin_path = _weights_file(param_path, bin_path)
    try:
        with open(param_path, encoding='utf-8') as f:
            lines = [line.split() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f'{param_path} is not an ncnn .param file: {e}') from e
    if not lines or lines[0] != [str(_NCNN_MAGIC)]:
        raise CheckpointError(f'{param_path} is not an ncnn .param file (first line is not '
                              f'the magic number {_NCNN_MAGIC})')
    with open(bin_path, 'rb') as f:
        blob = f.read()
    offset, convs, input_hw = 0, [], None

    def take(nbytes: int, what: str) -> bytes:
        nonlocal offset
        if offset + nbytes > len(blob):
            raise CheckpointError(f'{bin_path} is truncated: {len(blob)} bytes, but {what} of '
                                  f'{param_path} needs bytes {offset} to {offset + nbytes}')
        data = blob[offset:offset + nbytes]
        offset += (nbytes + 3) // 4 * 4  # ncnn aligns every blob to 4 bytes
        return data

    for fields in lines[2:]:
        kind, name = fields[0], fields[1]
        n_in, n_out = int(fields[2]), int(fields[3])
        params = _ncnn_params(fields[4 + n_in + n_out:])
        if kind == 'Input' and 1 in params and 2 in params:  # w=0, h=1, c=2
            input_hw = (int(params[1]), int(params[0]))
        if kind not in ('Convolution', 'ConvolutionDepthWise'):
            if kind in ('InnerProduct', 'Deconvolution', 'BatchNorm', 'Scale', 'PReLU'):
                raise CheckpointError(f'{param_path}: layer {name} ({kind}) holds weights a '
                                      f'deploy graph of a folded Lite-HRNet does not have')
            continue
        out_ch, kw = int(params[0]), int(params.get(1, 1))
        kh, size = int(params.get(11, kw)), int(params[6])
        groups = int(params.get(7, 1)) if kind == 'ConvolutionDepthWise' else 1
        tag = struct.unpack('<I', take(4, f'the weight tag of {name}'))[0]
        if tag == _NCNN_FP16_TAG:
            weight = np.frombuffer(take(2 * size, f'the weights of {name}'), np.float16)
        elif tag == _NCNN_FP32_TAG:
            weight = np.frombuffer(take(4 * size, f'the weights of {name}'), np.float32)
        else:
            raise CheckpointError(f'{bin_path}: the weights of {name} start with tag '
                                  f'{tag:#x}, not fp16 or fp32 ones: not the weights of '
                                  f'{param_path} (or quantised weights, which are not read)')
        in_per_group = size // (out_ch * kh * kw)
        weight = weight.astype(np.float32).reshape(out_ch, in_per_group, kh, kw)
        bias = None
        if int(params.get(5, 0)):
            bias = torch.from_numpy(
                np.frombuffer(take(4 * out_ch, f'the biases of {name}'), np.float32).copy())
        convs.append(FoldedConv(name, torch.from_numpy(weight.copy()), bias, groups))
    if offset != len(blob):
        raise CheckpointError(f'{bin_path} has {len(blob)} bytes but the layers of '
                              f'{param_path} read {offset}: the two files do not belong '
                              f'together')
    return DeployGraph(param_path, 'ncnn', convs, input_hw)


def read_deploy_graph(path: str, weights: Optional[str] = None) -> DeployGraph:
    """Read an OpenVINO IR (``.xml``) or ncnn model (``.param``); weights beside it by default.

    Raises:
        CheckpointError: for a missing file or another suffix.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f'deploy graph not found: {path}')
    suffix = os.path.splitext(path)[1].lower()
    if suffix == '.xml':
        return read_openvino_ir(path, weights)
    if suffix == '.param':
        return read_ncnn(path, weights)
    raise CheckpointError(f'{path}: a deploy graph is an OpenVINO IR (.xml) or an ncnn model '
                          f'(.param), got "{suffix}"')


def pp_tinypose_model(num_keypoints: int = PP_TINYPOSE_KEYPOINTS) -> nn.Module:
    """hrnet_mm's PP-TinyPose in mmpose's key layout: ``backbone`` (Lite-HRNet, official
    fusion, stream 0) and ``head.final_layer`` (1x1 conv 40 -> keypoints, with bias).

    Example:
        >>> model = pp_tinypose_model()
        >>> sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
        269
    """
    from .models import LiteHRNet
    model = nn.Module()
    model.backbone = LiteHRNet(PP_TINYPOSE_ARCH, out_streams='first', fuse='official')
    model.head = nn.Module()
    model.head.final_layer = nn.Conv2d(model.backbone.out_channels[0], num_keypoints, 1)
    return model


def _conv_slots(model: nn.Module) -> List[Tuple[str, nn.Conv2d, Optional[str]]]:
    """Every Conv2d with the name of the BatchNorm2d right after it (None for the last conv,
    which has a bias of its own), in registration order."""
    modules = list(model.named_modules())
    slots = []
    for i, (name, module) in enumerate(modules):
        if not isinstance(module, nn.Conv2d):
            continue
        norm = None
        for next_name, next_module in modules[i + 1:]:
            if isinstance(next_module, nn.Conv2d):
                break
            if isinstance(next_module, nn.BatchNorm2d):
                norm = next_name
                break
        slots.append((name, module, norm))
    return slots


def deploy_state_dict(graph: DeployGraph,
                      num_keypoints: int = PP_TINYPOSE_KEYPOINTS) -> 'OrderedDict[str, torch.Tensor]':
    """Map the folded convs of a PP-TinyPose graph onto an mmpose state dict.

    Returns:
        ``backbone.*`` and ``head.final_layer.*`` weights; each batch norm an identity that adds
        its conv's folded bias.

    Raises:
        CheckpointError: naming the file and the first conv whose count or shape does not fit a
            wider naive Lite-HRNet-18 with a 1x1 head.
    """
    model = pp_tinypose_model(num_keypoints)
    slots = _conv_slots(model)
    if len(graph.convs) != len(slots):
        raise CheckpointError(
            f'{graph.path} holds {len(graph.convs)} convolutions; a PP-TinyPose graph (wider '
            f'naive Lite-HRNet-18 + 1x1 head, {num_keypoints} keypoints) has {len(slots)}: '
            f'it is the graph of another model')
    sd = model.state_dict()
    modules = dict(model.named_modules())
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for index, (conv, (name, module, norm)) in enumerate(zip(graph.convs, slots)):
        expected = tuple(module.weight.shape)
        if tuple(conv.weight.shape) != expected or conv.groups != module.groups:
            raise CheckpointError(
                f'{graph.path}: convolution {index} ({conv.name}) has weights '
                f'{tuple(conv.weight.shape)} in {conv.groups} groups, but {name} of a '
                f'PP-TinyPose model needs {expected} in {module.groups}: it is the graph of '
                f'another model')
        bias = conv.bias if conv.bias is not None else torch.zeros(expected[0])
        out[f'{name}.weight'] = conv.weight.clone()
        if norm is None:
            if module.bias is None:
                raise CheckpointError(f'{graph.path}: {name} has no batch norm and no bias')
            out[f'{name}.bias'] = bias.clone()
            continue
        eps = modules[norm].eps
        out[f'{norm}.weight'] = torch.ones(expected[0])
        out[f'{norm}.bias'] = bias.clone()
        out[f'{norm}.running_mean'] = torch.zeros(expected[0])
        out[f'{norm}.running_var'] = torch.full((expected[0],), 1 - eps)
        out[f'{norm}.num_batches_tracked'] = torch.tensor(0)
    missing = [k for k in sd if k not in out]
    if missing:  # the slots cover every parameter and buffer of the model
        raise CheckpointError(f'internal: {len(missing)} weights not set, e.g. {missing[:3]}')
    return OrderedDict((k, out[k]) for k in sd)


def convert_deploy_graph(src: str, dst: Optional[str] = None, *,
                         weights: Optional[str] = None,
                         input_size: Optional[Tuple[int, int]] = None
                         ) -> 'OrderedDict[str, torch.Tensor]':
    """Convert a PP-TinyPose deploy graph into an mmpose checkpoint (written atomically).

    Args:
        src: ``model.xml`` (OpenVINO IR) or ``*.param`` (ncnn).
        dst: Where to write ``{'state_dict', 'meta'}``; nothing is written when None or when
            anything fails.
        weights: The ``.bin`` file; by default beside ``src`` with the same stem.
        input_size: ``(width, height)`` the checkpoint is meant for (e.g. a config's
            ``codec.input_size``): a graph exported for another fixed size is refused.

    Returns:
        The state dict.

    Raises:
        CheckpointError: naming the file and what did not match.
    """
    graph = read_deploy_graph(src, weights)
    if input_size is not None and graph.input_hw is not None and \
            tuple(graph.input_hw) != (input_size[1], input_size[0]):
        h, w = graph.input_hw
        raise CheckpointError(f'{src} was exported for {w}x{h} (width x height) input, not '
                              f'{input_size[0]}x{input_size[1]}: use the graph of that size or '
                              f'the config of {w}x{h}')
    sd = deploy_state_dict(graph)
    if dst is not None:
        meta = {'hrnet_mm_source': f'pp_tinypose_{graph.format}', 'converted_from':
                os.path.abspath(src)}
        if graph.input_hw is not None:
            meta['input_size'] = [graph.input_hw[1], graph.input_hw[0]]
        atomic_save({'state_dict': sd, 'meta': meta}, dst)
    return sd


__all__ = ['FoldedConv', 'DeployGraph', 'read_openvino_ir', 'read_ncnn', 'read_deploy_graph',
           'pp_tinypose_model', 'deploy_state_dict', 'convert_deploy_graph', 'DEPLOY_SUFFIXES']
