"""int8 post-training quantisation, calibrated on samples the caller provides.

Two routes, one per runtime, both static (activation ranges measured on the calibration
samples, weights per output channel):

* ``'openvino'``: NNCF's ``nncf.quantize`` on the OpenVINO model (``preset=PERFORMANCE``:
  symmetric int8 activations, which VNNI runs fastest; ``MIXED``, asymmetric activations, for
  Lite-HRNet, where it measured far more accurate at the same speed), then compiled by
  OpenVINO's CPU plugin; measured the fastest int8 path on an AVX512-VNNI CPU
  (docs/notes/fast_engineering.md);
* ``'onnxruntime'``: ``onnxruntime.quantization.quantize_static`` (QDQ, uint8 activations,
  int8 per-channel weights, MinMax calibration), run by ONNX Runtime.

PyTorch's PT2E x86 quantizer (inductor) is not offered: it needs ``torch.export`` of the whole
model and compiles per shape, and on this CPU it was slower than both
(docs/notes/fast_engineering.md).

The entry points are :func:`hrnet_mm.fast.optimize.optimize` with ``dtype='int8'`` and its
shorthand :func:`hrnet_mm.fast.optimize.quantize`; this module holds the two quantisers.
"""
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch

from .backends import require

INT8_BACKENDS = ('openvino', 'onnxruntime')


def calibration_arrays(calibration: Optional[Iterable]) -> List[np.ndarray]:
    """The calibration samples as fp32 ``(N, C, H, W)`` arrays (a ``(C, H, W)`` sample gets a
    batch axis); ``ValueError`` naming ``calibration`` when there are none."""
    if calibration is None:
        raise ValueError('dtype int8 needs calibration: an iterable of input tensors '
                         '(N, C, H, W), preprocessed like the real inputs (e.g. 8-32 real '
                         'crops); got calibration=None')
    if isinstance(calibration, torch.Tensor):
        calibration = [calibration]
    arrays = []
    for i, sample in enumerate(calibration):
        if isinstance(sample, (list, tuple)) and len(sample) == 1:
            sample = sample[0]
        a = sample.detach().cpu().float().numpy() if isinstance(sample, torch.Tensor) \
            else np.asarray(sample, dtype=np.float32)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4:
            raise ValueError(f'calibration[{i}] must be an (N, C, H, W) or (C, H, W) tensor, '
                             f'got shape {a.shape}')
        arrays.append(np.ascontiguousarray(a, dtype=np.float32))
    if not arrays:
        raise ValueError('dtype int8 needs calibration: got an empty calibration iterable')
    return arrays


#: NNCF presets :func:`quantize_openvino_model` takes.
NNCF_PRESETS = ('performance', 'mixed')


def quantize_openvino_model(ov_model, calibration: Sequence[np.ndarray], *,
                            preset: str = 'performance', fast_bias_correction: bool = True):
    """NNCF int8 quantisation of an OpenVINO model on ``calibration`` arrays; ``preset``
    one of :data:`NNCF_PRESETS` (symmetric / asymmetric activations)."""
    nncf = require('nncf', "int8 on the 'openvino' backend (NNCF)")
    if preset not in NNCF_PRESETS:
        raise ValueError(f'preset must be one of {NNCF_PRESETS}, got {preset!r}')
    return nncf.quantize(ov_model, nncf.Dataset(list(calibration)),
                         preset=getattr(nncf.QuantizationPreset, preset.upper()),
                         subset_size=len(calibration),
                         fast_bias_correction=fast_bias_correction)


#: Most input pixels (N x H x W) one calibration run of ONNX Runtime gets: 16 pose crops at
#: 256x192. ONNX Runtime's calibrator keeps every instrumented tensor of a run alive: one
#: 1024x2048 frame took HRNetV2-W18 to 14.3 GB peak and W48 past 24 GB (killed); larger samples
#: are calibrated in tiles (:func:`calibration_tiles`: W18 4.4 GB).
MAX_CALIBRATION_PIXELS = 16 * 256 * 192
#: Tile sides stay multiples of this (the fixed-ratio graphs are valid for such sizes only).
TILE_MULTIPLE = 32


def calibration_tiles(a: np.ndarray,
                      max_pixels: int = MAX_CALIBRATION_PIXELS) -> List[np.ndarray]:
    """``a`` (N, C, H, W), one image at a time, cut into a grid of equal tiles of at most
    ``max_pixels`` pixels, halving the longer side (height on a tie) while the halves stay
    multiples of :data:`TILE_MULTIPLE` (a sample that cannot be split so stays whole). Min/max
    ranges are taken per tensor over all tiles, so they cover the same pixels as the whole
    image; only the activations near tile borders see zero padding instead of neighbours."""
    h, w = a.shape[2], a.shape[3]
    th, tw = h, w
    while th * tw > max_pixels:
        if tw > th and tw % (2 * TILE_MULTIPLE) == 0:
            tw //= 2
        elif th % (2 * TILE_MULTIPLE) == 0:
            th //= 2
        elif tw % (2 * TILE_MULTIPLE) == 0:
            tw //= 2
        else:
            break
    if (th, tw) == (h, w):
        return [a]
    return [a[n:n + 1, :, i:i + th, j:j + tw] for n in range(a.shape[0])
            for i in range(0, h, th) for j in range(0, w, tw)]


def batched(calibration: Sequence[np.ndarray], max_batch: int = 16,
            max_pixels: int = MAX_CALIBRATION_PIXELS) -> List[np.ndarray]:
    """The calibration samples concatenated into batches of at most ``max_batch`` images and
    ``max_pixels`` input pixels (samples of the same shape only; a sample larger than that
    stays on its own): min/max ranges are the same, and ONNX Runtime's calibrator runs its
    instrumented graph once per batch instead of once per sample."""
    out: List[np.ndarray] = []
    group: List[np.ndarray] = []

    def pixels(arrays):
        return sum(g.shape[0] * g.shape[2] * g.shape[3] for g in arrays)
    for a in calibration:
        if group and (a.shape[1:] != group[0].shape[1:]
                      or sum(g.shape[0] for g in group) + a.shape[0] > max_batch
                      or pixels(group) + pixels([a]) > max_pixels):
            out.append(np.concatenate(group))
            group = []
        group.append(a)
    if group:
        out.append(np.concatenate(group))
    return out


def quantize_onnx_file(src: str, dst: str, calibration: Sequence[np.ndarray],
                       input_name: str = 'input', preprocess: bool = True) -> None:
    """ONNX Runtime static int8 quantisation (QDQ) of the ONNX file ``src`` into ``dst``.

    ``preprocess`` first runs ONNX Runtime's basic graph optimisations on the model
    (``onnxruntime.quantization.quant_pre_process`` without symbolic shape inference: constant
    folding, identity and shape-chain removal), which shrinks the graph the calibrator
    instruments and the QDQ pairs it inserts."""
    require('onnxruntime', "int8 on the 'onnxruntime' backend")
    import os

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)

    if preprocess:
        from onnxruntime.quantization.shape_inference import quant_pre_process
        pre = os.path.splitext(dst)[0] + '.pre.onnx'
        try:
            quant_pre_process(src, pre, skip_symbolic_shape=True)
            src = pre
        except Exception:  # noqa: BLE001  (an optimisation only: quantise the original)
            pass
    tiles = [t for a in calibration for t in calibration_tiles(a, MAX_CALIBRATION_PIXELS)]
    batches = batched(tiles)

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(batches)

        def get_next(self):
            a = next(self._it, None)
            return None if a is None else {input_name: a}

    quantize_static(src, dst, _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


__all__ = ['INT8_BACKENDS', 'MAX_CALIBRATION_PIXELS', 'NNCF_PRESETS', 'TILE_MULTIPLE', 'batched',
           'calibration_arrays', 'calibration_tiles', 'quantize_onnx_file',
           'quantize_openvino_model']
