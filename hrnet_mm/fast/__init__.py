"""Inference-time optimisation for the HRNet family.

:func:`optimize` returns an inference copy of a model with every batch norm folded into the
convolution before it (:mod:`.fold`), the exchange units' resampling merged (:mod:`.exchange`:
one 1x1 projection per source stream, and for nearest upsampling the lower streams summed
hierarchically before a single upsampling step), for the OpenVINO runtime Lite-HRNet without
channel shuffles (:mod:`.lite_unshuffle`), weights and activations in ``channels_last``
layout, optionally bfloat16 weights and optionally ``torch.compile`` (inductor with frozen
weights). fp32 outputs stay within 1e-4 of the plain model; bf16 trades precision for about 2x
on CPUs with AVX512-BF16/AMX.

Memory-saving training (activation checkpointing) belongs to the models
(:mod:`hrnet_mm.models.checkpointing`); its names are re-exported here for compatibility.

``tools/benchmark.py`` (:mod:`hrnet_mm.benchmark`) measures all of it against the mm toolboxes'
own models (``docs/benchmark.md``).
"""
from ..models.checkpointing import (MEMORY_SAVING_GRANULARITIES, apply_memory_saving,
                                    enable_memory_saving, set_with_cp)
from .backends import (BACKEND_DTYPES, BACKENDS, DTYPES, BackendUnavailableError,
                       rewrites_for)
from .exchange import MergedExchangeHRModule, merge_exchange_units
from .fold import fold_batch_norms, fold_conv_bn
from .lite_unshuffle import unshuffle_lite_hrnet
from .optimize import OptimizedModel, optimize

__all__ = [
    'BACKENDS', 'BACKEND_DTYPES', 'BackendUnavailableError', 'DTYPES', 'rewrites_for',
    'MEMORY_SAVING_GRANULARITIES', 'MergedExchangeHRModule', 'OptimizedModel',
    'apply_memory_saving', 'enable_memory_saving', 'fold_batch_norms', 'fold_conv_bn',
    'merge_exchange_units', 'optimize', 'set_with_cp', 'unshuffle_lite_hrnet'
]
