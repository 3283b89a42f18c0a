"""Benchmark hrnet_mm against the mm model zoo: same recipe, same weights, side by side.

For each model, the toolbox's own model is built from its zoo config through the toolbox
registry ("theirs"), given random but non-trivial weights, and loaded into ours (built from
``configs/``; the zoo config with hrnet_mm's modules swapped in when ours is missing). One run
then reports, interleaving ours and theirs (A, B, B, A ...) in the same process:

* parameters; FLOPs with mmengine's ``FlopAnalyzer`` (all ops it counts) and conv + linear
  multiply-adds (the papers' unit);
* forward time (warm-up, median of several runs) of theirs, ours, ours optimised
  (:func:`hrnet_mm.fast.optimize`: BN folded, exchange units merged, channels_last; eager and
  ``torch.compile``; fp32 and bf16), with ratios and the max abs output difference to theirs;
* training-step time (forward + MSE loss + backward + SGD step) and the activation memory of
  a step, for the toolbox's plain and ``with_cp`` models and ours plain, channels-last and
  memory-saving (:func:`hrnet_mm.models.checkpointing.enable_memory_saving`);
* inference activation memory; the bf16 accuracy checks (keypoint argmax on the real COCO sample
  with a briefly trained HRNet-W32, segmentation labels); time and memory vs input size and batch.

Modules, one job each (imports run downwards; nothing here is imported by the rest of
hrnet_mm):

============  ===============================================================================
common        paths, input normalisation, progress lines
specs         the zoo models (:data:`~.specs.SPECS`) and building each (theirs, ours) pair
variants      tensor-in wrappers, the optimised variants, the training step
timing        interleaved timing, disturbed rounds, waiting for quiet, threads, GEMM peak
samples       person crops, heatmap targets, images and masks from the real COCO sample
fitting       W32 / seg models fitted to the sample (cached) for the accuracy checks
agreement     keypoint argmax and label agreement with the toolbox's fp32 outputs
sections      the section table (``register_section``) and a section's :class:`~.sections.Context`
compare       the pose, seg, det and accuracy sections (params, FLOPs, forward, train, detector)
scaling       the scaling section (time vs input size and batch)
memory        the memory section: activation memory, measured in a fresh probe process
peers         the peers section: our backends x dtypes vs ORT / OpenVINO on the toolbox's ONNX
peers_report  the peers summaries (best peer vs best of ours), tables and targets
e2e           the e2e section: tools/test.py-style loops, stock vs fast mode
e2e_weights   the e2e section's checkpoints (fitted pose / seg, random detector)
e2e_accuracy  the e2e pose AP check on jittered boxes (8x the instances)
targets       the issues' targets, evaluated from the results
machines      which machine measured which part; the results split per machine
report        ``benchmark.json`` and the markdown rendered from it, one section per machine
plot          the scaling plot
run / cli     one run (sections, merge, report) / the command line
============  ===============================================================================

Command line: ``python tools/benchmark.py [--quick] [--models ...] [--only SECTION,...]``
(:mod:`hrnet_mm.benchmark.cli`); ``docs/benchmark.md`` is its output with ``--docs``.
"""
