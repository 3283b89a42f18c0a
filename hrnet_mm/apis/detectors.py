"""Person detectors in front of a top-down pose model, behind one small interface.

A person detector is a callable ``detector(image, channel_order='bgr') -> (N, 5) float32``
array of person boxes ``x1, y1, x2, y2, score`` in the image's pixels, best first. Two kinds:

* :class:`OpenVINOPersonDetector`: a detector file run by OpenVINO, the PicoDet-S pedestrian
  IR of ``../shared/data/picodet_pedestrian`` (exported without NMS: the boxes are decoded
  here, cut at a score and merged by mmcv's NMS);
* :class:`MMDetPersonDetector`: any mmdet config + checkpoint, its ``person`` class only.

:func:`build_person_detector` picks the kind from the file (``.xml`` / ``.onnx``: OpenVINO,
``.py``: an mmdet config) and says clearly when a file is not a detector of that kind.

Example::

    from hrnet_mm.apis.detectors import build_person_detector
    detect = build_person_detector('../shared/data/picodet_pedestrian/'
                                   'picodet_s_320_lcnet_pedestrian.xml', threads=2)
    boxes = detect(cv2.imread('people.jpg'))   # (N, 5): x1, y1, x2, y2, score
"""
import os.path as osp
from typing import Optional

import numpy as np

from ..fast.openvino_backend import openvino_config
from .media import InputError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_SCORE_THR = 0.5  # PaddleDetection's detector threshold in its PP-TinyPose pipeline
DEFAULT_IOU_THR = 0.6


def _to_rgb(image: np.ndarray, channel_order: str) -> np.ndarray:
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'a person detector takes an HxWx3 image, got shape {image.shape}')
    return image[:, :, ::-1] if channel_order == 'bgr' else image


def _no_boxes() -> np.ndarray:
    return np.zeros((0, 5), dtype=np.float32)


class OpenVINOPersonDetector:
    """A single-class detector file exported without NMS, run by OpenVINO on the CPU.

    The graph takes one image ``[1, 3, S, S]`` (RGB, resized to SxS, /255, ImageNet mean and
    std) and returns every candidate: boxes ``[1, N, 4]`` (x1, y1, x2, y2 in the SxS input's
    pixels) and scores ``[1, 1, N]``, PaddleDetection's PicoDet export with
    ``export.nms=False``. The boxes are scaled back by W/S and H/S, cut at ``score_thr`` and
    merged by ``mmcv.ops.nms`` at ``iou_thr``.

    Args:
        model_file (str): The ``.xml`` IR (its ``.bin`` beside it) or an ``.onnx`` file.
        score_thr (float): Keep boxes scoring at least this.
        iou_thr (float): NMS IoU threshold.
        threads (int, optional): OpenVINO's ``INFERENCE_NUM_THREADS``; default
            ``torch.get_num_threads()``.

    Raises:
        FileNotFoundError: ``model_file`` is missing.
        InputError: OpenVINO cannot read it, or its inputs / outputs are not those of a
            one-class detector without NMS (the message names the file and the mismatch).
    """

    def __init__(self, model_file: str, score_thr: float = DEFAULT_SCORE_THR,
                 iou_thr: float = DEFAULT_IOU_THR, threads: Optional[int] = None):
        if not osp.isfile(model_file):
            raise FileNotFoundError(f'person detector file not found: {model_file}')
        import openvino as ov
        import torch
        core = ov.Core()
        try:
            model = core.read_model(model_file)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f'person detector {model_file}: OpenVINO cannot read it as a '
                             f'model ({first})') from None
        self.model_file = model_file
        self.input_size = self._check_io(model, model_file)
        self.score_thr = float(score_thr)
        self.iou_thr = float(iou_thr)
        self.threads = int(threads or torch.get_num_threads())
        self._compiled = core.compile_model(model, 'CPU', openvino_config('fp32', self.threads))
        self._request = self._compiled.create_infer_request()

    def _check_io(self, model, model_file: str) -> int:
        """The input side S; :class:`InputError` naming what does not match the expected graph."""
        def shapes(ports):
            return [f'{p.get_any_name()} {p.get_partial_shape()}' for p in ports]

        expected = ('one input [1,3,S,S] and two outputs, boxes [1,N,4] and scores [1,1,N] '
                    '(a one-class detector exported without NMS, like PicoDet)')
        found = f'inputs {shapes(model.inputs)}, outputs {shapes(model.outputs)}'
        if len(model.inputs) != 1 or len(model.outputs) != 2:
            raise InputError(f'{model_file} is not a person detector of the expected kind: '
                             f'expected {expected}, found {found}')
        shape = model.inputs[0].get_partial_shape()
        if (shape.rank.is_dynamic or shape.rank.get_length() != 4 or shape[1].is_dynamic
                or shape[1].get_length() != 3 or shape[2].is_dynamic or shape[3].is_dynamic
                or shape[2].get_length() != shape[3].get_length()):
            raise InputError(f'{model_file} is not a person detector of the expected kind: its '
                             f'input is not [1,3,S,S] with a fixed S; expected {expected}, '
                             f'found {found}')
        outs = [o.get_partial_shape() for o in model.outputs]
        ranks = [None if s.rank.is_dynamic else s.rank.get_length() for s in outs]
        box = [i for i, (s, r) in enumerate(zip(outs, ranks))
               if r == 3 and not s[2].is_dynamic and s[2].get_length() == 4]
        score = [i for i, (s, r) in enumerate(zip(outs, ranks))
                 if r == 3 and not s[1].is_dynamic and s[1].get_length() == 1]
        if len(box) != 1 or len(score) != 1 or box == score:
            raise InputError(f'{model_file} is not a person detector of the expected kind: '
                             f'its outputs are not boxes [1,N,4] and scores [1,1,N]; expected '
                             f'{expected}, found {found}')
        self._box_out, self._score_out = box[0], score[0]
        return shape[2].get_length()

    def preprocess(self, image: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
        """The ``[1, 3, S, S]`` float32 input for ``image``."""
        import cv2
        rgb = _to_rgb(image, channel_order)
        size = self.input_size
        # PaddleDetection's Resize for PicoDet: interp 2 (cubic), aspect ratio not kept
        x = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=cv2.INTER_CUBIC)
        x = (x.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def __call__(self, image: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
        """Person boxes ``(N, 5)``: x1, y1, x2, y2 in ``image``'s pixels, score; best first."""
        from mmcv.ops import nms
        h, w = image.shape[:2]
        self._request.infer({0: self.preprocess(image, channel_order)})
        boxes = np.array(self._request.get_output_tensor(self._box_out).data[0], dtype=np.float32)
        scores = np.array(self._request.get_output_tensor(self._score_out).data[0, 0],
                          dtype=np.float32)
        keep = scores >= self.score_thr
        if not keep.any():
            return _no_boxes()
        boxes = boxes[keep] * np.array([w, h, w, h], dtype=np.float32) / self.input_size
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        dets, _ = nms(boxes, scores[keep], self.iou_thr)
        return np.asarray(dets, dtype=np.float32).reshape(-1, 5)


class MMDetPersonDetector:
    """The ``person`` class of an mmdet detector (config + checkpoint).

    Args:
        config (str): An mmdet config (any of ``configs/det/`` or the zoo's).
        checkpoint (str, optional): Its weights (None: random, for tests only).
        score_thr (float): Keep boxes scoring at least this.
        device (str): ``'cpu'``, ``'cuda:0'`` ...
        cfg_options (dict, optional): Overrides merged into the config.

    Raises:
        InputError: The config is not an mmdet one, or its classes have no ``person``.
    """

    def __init__(self, config: str, checkpoint: Optional[str] = None,
                 score_thr: float = DEFAULT_SCORE_THR, device: str = 'cpu',
                 cfg_options: Optional[dict] = None):
        from mmdet.apis import init_detector

        from ..utils import allow_mm_checkpoint_globals
        from .config import load_config, register_toolbox
        cfg = load_config(config, cfg_options)
        scope = cfg.get('default_scope')
        if scope != 'mmdet':
            raise InputError(f'person detector config {config} is not an mmdet config '
                             f"(default_scope {scope!r})")
        register_toolbox(cfg)
        allow_mm_checkpoint_globals()
        self.model = init_detector(cfg, checkpoint, device=device)
        classes = [str(c).lower() for c in (self.model.dataset_meta or {}).get('classes', ())]
        if 'person' not in classes and 'pedestrian' not in classes:
            raise InputError(f'person detector {config}: its classes have no person '
                             f'({classes[:5]}...)')
        self.label = classes.index('person' if 'person' in classes else 'pedestrian')
        self.score_thr = float(score_thr)

    def __call__(self, image: np.ndarray, channel_order: str = 'bgr') -> np.ndarray:
        """Person boxes ``(N, 5)``: x1, y1, x2, y2 in ``image``'s pixels, score; best first."""
        from mmdet.apis import inference_detector
        from mmengine.registry import DefaultScope
        bgr = np.ascontiguousarray(_to_rgb(image, channel_order)[:, :, ::-1])
        with DefaultScope.overwrite_default_scope('mmdet'):
            pred = inference_detector(self.model, bgr).pred_instances
        boxes = pred.bboxes.cpu().numpy()
        scores = pred.scores.cpu().numpy()
        keep = (pred.labels.cpu().numpy() == self.label) & (scores >= self.score_thr)
        dets = np.concatenate([boxes[keep], scores[keep, None]], axis=1).astype(np.float32)
        return dets[np.argsort(-dets[:, 4], kind='stable')].reshape(-1, 5)


class InferencerDetector:
    """A person detector in the form mmpose's ``MMPoseInferencer`` calls its detector:
    ``detector(image_or_path, return_datasamples=True) -> {'predictions': [DetDataSample]}``,
    person label 0 (:func:`use_person_detector` installs it).

    Args:
        detector (callable): A person detector (``bgr_image -> (N, 5)``).
    """

    def __init__(self, detector):
        self.detector = detector

    def __call__(self, inputs, return_datasamples: bool = True, **kwargs) -> dict:
        import torch
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        if isinstance(inputs, str):
            from .media import read_image
            inputs = read_image(inputs)
        boxes = self.detector(inputs)  # the Inferencer's arrays are BGR (mmcv.imread, video)
        sample = DetDataSample()
        sample.pred_instances = InstanceData(
            bboxes=torch.from_numpy(boxes[:, :4].copy()),
            scores=torch.from_numpy(boxes[:, 4].copy()),
            labels=torch.zeros(len(boxes), dtype=torch.long))
        return {'predictions': [sample]}


def use_person_detector(inferencer, detector):
    """Make mmpose's ``MMPoseInferencer`` (or its ``Pose2DInferencer``) find people with
    ``detector`` (any person detector of this module); returns the inferencer.

    The Inferencer still applies its own ``bbox_thr`` (default 0.3) and NMS (``nms_thr``,
    default 0.3) to the boxes, and takes the whole image when no box is left.

    Example::

        from mmpose.apis import MMPoseInferencer
        inferencer = MMPoseInferencer(pose2d=CONFIG, pose2d_weights=CKPT,
                                      det_model='whole_image')
        use_person_detector(inferencer, build_person_detector(PICODET_XML))
        result = next(inferencer('people.jpg', nms_thr=0.6))
    """
    target = getattr(inferencer, 'inferencer', inferencer)  # MMPoseInferencer wraps one
    if not hasattr(target, 'detector'):
        raise ValueError(f'use_person_detector: {type(inferencer).__name__} is not a top-down '
                         f'mmpose Inferencer')
    target.detector = InferencerDetector(detector)
    target.det_cat_ids = (0, )
    return inferencer


def build_person_detector(det: str, det_checkpoint: Optional[str] = None,
                          score_thr: float = DEFAULT_SCORE_THR, threads: Optional[int] = None,
                          device: str = 'cpu'):
    """A person detector from a file: ``.xml`` / ``.onnx`` -> :class:`OpenVINOPersonDetector`
    (``threads`` OpenVINO threads), ``.py`` -> :class:`MMDetPersonDetector` (with
    ``det_checkpoint``).

    Raises:
        FileNotFoundError: ``det`` (or ``det_checkpoint``) is missing.
        InputError: An unknown kind of file, or a file that is not a person detector of its
            kind (the message names it and the mismatch).
    """
    if not osp.isfile(det):
        raise FileNotFoundError(f'person detector file not found: {det}')
    ext = osp.splitext(det)[1].lower()
    if ext in ('.xml', '.onnx'):
        if det_checkpoint is not None:
            raise InputError(f'--det-checkpoint is for mmdet configs; {det} holds its weights')
        return OpenVINOPersonDetector(det, score_thr=score_thr, threads=threads)
    if ext == '.py':
        if det_checkpoint is not None and not osp.isfile(det_checkpoint):
            raise FileNotFoundError(f'person detector checkpoint not found: {det_checkpoint}')
        return MMDetPersonDetector(det, det_checkpoint, score_thr=score_thr, device=device)
    raise InputError(f'person detector {det}: unknown kind {ext!r}; give a detector file '
                     f'(.xml OpenVINO IR or .onnx, one class, no NMS) or an mmdet config (.py) '
                     f'with --det-checkpoint')
