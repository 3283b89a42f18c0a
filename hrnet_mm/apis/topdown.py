"""Top-down poses on images, folders and videos: person detector -> pose model -> skeletons.

:class:`TopdownPipeline` runs one frame: the person detector (:mod:`.detectors`; without one,
given boxes or the whole image), then every person crop of the frame through the mmpose model
as one batch (mmpose's ``inference_topdown`` stacks the crops of one call into one
``test_step``), then mmpose's visualizer draws the skeletons; it keeps the time spent in each
stage. :func:`run_topdown_demo` (or :func:`annotate`, given a pipeline) applies it to an
image, a folder or a video (:mod:`.media`) and reports frames per second and the share of
each stage; ``tools/demo.py`` is its command line.

Example::

    from hrnet_mm.apis.topdown import run_topdown_demo
    report = run_topdown_demo(
        'configs/pose/td-hm_pp-tinypose-256x192_coco.py', 'pp_tinypose.pth', 'street.mp4',
        'street_pose.mp4', det='../shared/data/picodet_pedestrian/'
        'picodet_s_320_lcnet_pedestrian.xml')
    print(report.summary())
"""
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from ..utils import allow_mm_checkpoint_globals
from .config import load_config, register_toolbox
from .detectors import DEFAULT_SCORE_THR, build_person_detector
from .fast_mode import optimize_mm_model
from .media import InputError, check_output, default_output, media_writer, open_media

STAGES = ('detection', 'pose', 'drawing')


def init_pose_model(config: str, checkpoint: Optional[str], device: str = 'cpu',
                    cfg_options: Optional[dict] = None, fast: Optional[dict] = None):
    """An mmpose top-down model from a config and a checkpoint, optionally optimised.

    Args:
        config (str): An mmpose config (``default_scope='mmpose'``).
        checkpoint (str, optional): Its weights; None only for tests (random weights).
        device (str): ``'cpu'``, ``'cuda:0'`` ...
        cfg_options (dict, optional): Overrides merged into the config.
        fast (dict, optional): ``dict(dtype=, backend=)``: run an optimised copy
            (:func:`hrnet_mm.apis.fast_mode.optimize_mm_model`).
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'pose checkpoint not found: {checkpoint}')
    allow_mm_checkpoint_globals()
    cfg = load_config(config, cfg_options)
    scope = register_toolbox(cfg)
    if scope != 'mmpose':
        raise InputError(f'{config}: poses need an mmpose config, this one is {scope!r}')
    from mmpose.apis import init_model
    model = init_model(cfg, checkpoint, device=device)
    if fast is not None:
        from mmengine.logging import print_log
        model = optimize_mm_model(model, fast['dtype'], fast.get('backend'))
        print_log(f'fast mode: {"; ".join(model.fast_report)}', logger='current')
    return model


class TopdownPipeline:
    """Detect people, estimate their poses in one batch, draw the skeletons; per-stage time.

    Args:
        pose_model: An mmpose top-down model (:func:`init_pose_model`).
        detector (callable, optional): ``detector(bgr_image) -> (N, 5)`` person boxes
            (:mod:`hrnet_mm.apis.detectors`). None: ``bboxes``, or the whole image.
        bboxes (sequence, optional): Fixed person boxes ``x1, y1, x2, y2`` for every frame
            (only without ``detector``).
        kpt_thr (float): Keypoints scoring below this are not drawn.
        draw_bbox (bool): Draw the person boxes too.

    Attributes:
        seconds (dict): Seconds spent so far in ``'detection'``, ``'pose'``, ``'drawing'``.
    """

    def __init__(self, pose_model, detector: Optional[Callable] = None,
                 bboxes: Optional[Sequence[Sequence[float]]] = None, kpt_thr: float = 0.3,
                 draw_bbox: bool = True):
        if detector is not None and bboxes is not None:
            raise InputError('give person boxes or a person detector, not both')
        self.model = pose_model
        self.detector = detector
        self.bboxes = None if bboxes is None else np.asarray(
            bboxes, dtype=np.float32).reshape(-1, 4)
        self.kpt_thr = kpt_thr
        self.draw_bbox = draw_bbox
        self.seconds: Dict[str, float] = {s: 0.0 for s in STAGES}
        self._visualizer = None
        self._base_marks = None  # the config's keypoint radius and line width

    def person_boxes(self, image: np.ndarray) -> np.ndarray:
        """``(N, 5)`` boxes of ``image`` (BGR): detected, given, or the whole image (score 1)."""
        if self.detector is not None:
            start = time.perf_counter()
            boxes = self.detector(image)
            self.seconds['detection'] += time.perf_counter() - start
            return boxes
        if self.bboxes is not None:
            boxes = self.bboxes
        else:
            h, w = image.shape[:2]
            boxes = np.array([[0, 0, w, h]], dtype=np.float32)
        return np.concatenate([boxes, np.ones((len(boxes), 1), np.float32)], axis=1)

    def predict(self, image: np.ndarray):
        """The poses in ``image`` (BGR) as one mmpose ``PoseDataSample`` (``pred_instances``:
        ``keypoints`` (N, K, 2), ``keypoint_scores``, ``bboxes``, ``bbox_scores``, N = people
        found; no ``pred_instances`` when nobody was found)."""
        from mmpose.apis import inference_topdown
        from mmpose.structures import PoseDataSample, merge_data_samples
        boxes = self.person_boxes(image)
        if len(boxes) == 0:  # inference_topdown would take the whole image for no box
            return PoseDataSample()
        start = time.perf_counter()
        samples = inference_topdown(self.model, image, boxes[:, :4], bbox_format='xyxy')
        result = merge_data_samples(samples)
        result.pred_instances.bbox_scores = boxes[:, 4].copy()
        self.seconds['pose'] += time.perf_counter() - start
        return result

    @property
    def visualizer(self):
        """mmpose's visualizer of the model's config, with its dataset's skeleton."""
        if self._visualizer is None:
            from mmpose.registry import VISUALIZERS
            self._visualizer = VISUALIZERS.build(self.model.cfg.visualizer)
            self._visualizer.set_dataset_meta(self.model.dataset_meta)
        return self._visualizer

    def _scale_marks(self, h: int, w: int) -> None:
        """Thicker keypoints and limbs on large frames (the config's sizes are meant for
        COCO's ~640 px images; a 1280x720 frame gets twice the width), never thinner."""
        vis = self.visualizer
        if self._base_marks is None:
            self._base_marks = (vis.radius, vis.line_width)
        radius, width = self._base_marks
        scale = max(h, w) / 640
        vis.radius = max(radius, int(round(radius * scale)))
        vis.line_width = max(width, int(round(2 * width * scale)) - 1)

    def draw(self, image: np.ndarray, result) -> np.ndarray:
        """``image`` (BGR) with the skeletons of ``result`` drawn by mmpose's visualizer (BGR)."""
        start = time.perf_counter()
        if 'pred_instances' in result:
            self._scale_marks(*image.shape[:2])
            self.visualizer.add_datasample(
                'result', np.ascontiguousarray(image[:, :, ::-1]), data_sample=result,
                draw_gt=False, draw_heatmap=False, draw_bbox=self.draw_bbox, show=False,
                kpt_thr=self.kpt_thr)
            image = np.ascontiguousarray(self.visualizer.get_image()[:, :, ::-1])
        self.seconds['drawing'] += time.perf_counter() - start
        return image

    def __call__(self, image: np.ndarray):
        """``(result, drawn BGR image)`` of one frame."""
        result = self.predict(image)
        return result, self.draw(image, result)


@dataclass
class DemoReport:
    """What :func:`run_topdown_demo` did: frames, people, time per stage.

    ``seconds`` is the wall time of the frame loop (model loading excluded); the stages are
    detection, pose, drawing, and ``'reading/writing'`` (decoding, encoding, the rest).
    """
    input: str
    kind: str
    output: str
    frames: int
    people: int
    seconds: float
    stage_seconds: Dict[str, float] = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float('nan')

    def shares(self) -> Dict[str, float]:
        """Share of the loop's time per stage (sums to 1)."""
        total = self.seconds or float('nan')
        return {k: v / total for k, v in self.stage_seconds.items()}

    def summary(self) -> str:
        unit = 'frames' if self.kind == 'video' else 'images'
        shares = ', '.join(f'{k} {100 * v:.0f}%' for k, v in self.shares().items())
        return (f'{self.frames} {unit}, {self.people} people in {self.seconds:.2f} s: '
                f'{self.frames_per_second:.2f} {unit}/s ({shares})')


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    """tqdm when installed, else mmengine's ProgressBar (``update()``, ``close()``)."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(total)
        bar.close = _NoBar.close.__get__(bar)
        return bar
    return tqdm(total=total or None, unit='frame', dynamic_ncols=True)


def run_topdown_demo(config: str, checkpoint: Optional[str], input: str,
                     out: Optional[str] = None, det: Optional[str] = None,
                     det_checkpoint: Optional[str] = None,
                     bboxes: Optional[Sequence[Sequence[float]]] = None,
                     det_score_thr: float = DEFAULT_SCORE_THR, device: str = 'cpu',
                     cfg_options: Optional[dict] = None, fast: Optional[dict] = None,
                     threads: Optional[int] = None, kpt_thr: float = 0.3,
                     progress: bool = True) -> DemoReport:
    """Poses of every person on an image, each image of a folder or each frame of a video,
    drawn into an image, a folder of images or a video.

    The input and the output name are checked before any model is built; the output appears
    whole, or not at all when something fails (:func:`hrnet_mm.apis.media.media_writer`).

    Args:
        config (str): mmpose top-down config.
        checkpoint (str): Its weights.
        input (str): An image, a folder of images or a ``.mp4`` / ``.avi`` video.
        out (str, optional): Image / folder / video to write; default ``demo_result.<ext>``
            (``demo_result/`` for a folder).
        det (str, optional): Person detector: a detector file (``.xml`` / ``.onnx``, run by
            OpenVINO) or an mmdet config (``.py``, with ``det_checkpoint``). None: ``bboxes``,
            or the whole image as the one person.
        det_checkpoint (str, optional): The mmdet detector's weights.
        bboxes (sequence, optional): Fixed person boxes ``x1, y1, x2, y2`` (without ``det``).
        det_score_thr (float): Detector score threshold.
        device (str): Device of the PyTorch models.
        cfg_options (dict, optional): Overrides merged into the pose config.
        fast (dict, optional): ``dict(dtype=, backend=)``: optimised pose model.
        threads (int, optional): CPU threads of PyTorch and of the OpenVINO detector; default
            ``torch.get_num_threads()``.
        kpt_thr (float): Keypoints scoring below this are not drawn.
        progress (bool): Show a progress bar for folders and videos.
    """
    import torch
    if det is not None and bboxes is not None:
        raise InputError('give --bbox or --det, not both')
    source = open_media(input)
    out = out or default_output(source)
    check_output(out, source.kind)
    if threads:
        torch.set_num_threads(int(threads))
    detector = None
    if det is not None:
        detector = build_person_detector(det, det_checkpoint, det_score_thr,
                                         threads=threads, device=device)
    model = init_pose_model(config, checkpoint, device, cfg_options, fast)
    pipeline = TopdownPipeline(model, detector, bboxes, kpt_thr=kpt_thr)
    return annotate(pipeline, source, out, progress)


def annotate(pipeline: TopdownPipeline, source, out: str, progress: bool = True) -> DemoReport:
    """Run ``pipeline`` on every frame of ``source`` (:func:`hrnet_mm.apis.media.open_media`)
    and write the drawn frames to ``out`` (whole, or nothing on an error); one pipeline serves
    several sources without loading its models again."""
    check_output(out, source.kind)
    before = dict(pipeline.seconds)
    bar = _progress_bar(len(source), progress and source.kind != 'image')
    people = 0
    start = time.perf_counter()
    try:
        with media_writer(out, source) as writer:
            for name, frame in source:
                result, drawn = pipeline(frame)
                people += len(result.pred_instances) if 'pred_instances' in result else 0
                writer.write(name, drawn)
                bar.update()
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    stages = {k: v - before[k] for k, v in pipeline.seconds.items()}
    stages['reading/writing'] = max(seconds - sum(stages.values()), 0.0)
    if pipeline.detector is None:
        stages.pop('detection')
    return DemoReport(source.path, source.kind, writer.out, writer.frames, people, seconds,
                      stages)
