"""Write tiny data sets in the real COCO and Cityscapes layouts, for smoke and overfitting runs.

From the real sample (``../shared/data/coco_sample``: 4 COCO val2017 images, 14 people with
boxes, 17 keypoints and polygons) or, when that folder is absent or ``--synthetic`` is given,
from generated stick-figure people. Train and val are the same images: the sets show that a
config trains and evaluates end to end and that a model can fit them, not how well it
generalises. Everything goes under ``OUT/data`` in the paths the mm zoo configs expect, so the
tools run unchanged from ``OUT`` (or with ``data_root`` pointed at it)::

    OUT/data/coco/annotations/person_keypoints_{train,val}2017.json   mmpose CocoDataset
    OUT/data/coco/annotations/instances_{train,val}2017.json          mmdet CocoDataset
    OUT/data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
    OUT/data/coco/{train,val}2017/*.jpg
    OUT/data/cityscapes/leftImg8bit/{train,val}/sample/*_leftImg8bit.png     mmseg
    OUT/data/cityscapes/gtFine/{train,val}/sample/*_gtFine_labelTrainIds.png

Segmentation labels: person polygons are rasterised to Cityscapes trainId 11 ('person'); every
other pixel is labelled 0 ('road'), which stands for "background". With a real class for the
background, mmseg's mIoU is the mean of the person IoU and the background IoU (classes absent
from both labels and predictions are skipped): on the real sample, predicting background
everywhere scores ~0.43 and person everywhere ~0.08, where an ignored (255) background would
give 1.0 to "person everywhere". Crowd regions are 255 (ignored).

``tools/make_tiny_dataset.py`` is the command line::

    python tools/make_tiny_dataset.py work_dirs/tiny                # real sample if present
    python tools/make_tiny_dataset.py work_dirs/tiny --synthetic --num-images 6
"""
import copy
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .config import REPO_ROOT

DEFAULT_SOURCE = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'coco_sample')

PERSON_TRAIN_ID = 11  # Cityscapes trainId of 'person'
BACKGROUND_TRAIN_ID = 0  # Cityscapes 'road', standing for everything that is not a person
IGNORE_INDEX = 255

COCO_PERSON = {
    'supercategory': 'person', 'id': 1, 'name': 'person',
    'keypoints': ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
                  'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
                  'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                  'right_ankle'],
    'skeleton': [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                 [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5],
                 [4, 6], [5, 7]],
}

# The 80 categories of COCO's instances files (ids 1-90 with gaps): detectors predict all of them,
# and mmdet's CocoMetric maps labels back to these ids, so the tiny instances files list them all
# as the real ones do (only 'person' has annotations).
COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush')
COCO_CLASS_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90)

# A standing person facing the camera, (x, y) in units of body height from the top centre.
# COCO's "left" is the person's left, i.e. the image right.
_TEMPLATE = np.array([
    [0.0, 0.06], [0.02, 0.045], [-0.02, 0.045], [0.045, 0.055], [-0.045, 0.055],
    [0.12, 0.2], [-0.12, 0.2], [0.17, 0.37], [-0.17, 0.37], [0.19, 0.52], [-0.19, 0.52],
    [0.08, 0.53], [-0.08, 0.53], [0.09, 0.75], [-0.09, 0.75], [0.1, 0.97], [-0.1, 0.97]])
_LIMBS = [(5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6),
          (11, 12)]


def _synthetic_person(rng: np.random.Generator, box_x: float, box_w: float,
                      img_h: int) -> np.ndarray:
    """17 keypoints of a person inside the horizontal slot [box_x, box_x + box_w)."""
    height = rng.uniform(0.55, 0.85) * img_h
    height = min(height, 1.9 * box_w)
    cx = box_x + box_w / 2 + rng.uniform(-0.1, 0.1) * box_w
    top = rng.uniform(0.02, 0.98 * img_h - height) if img_h - height > 10 else 2
    pts = _TEMPLATE.copy()
    pts[5:] += rng.normal(0, 0.025, size=(12, 2))  # arm and leg poses vary
    pts[[7, 9], 0] += rng.uniform(-0.05, 0.15)  # left arm raised or not
    pts[[8, 10], 0] -= rng.uniform(-0.05, 0.15)
    return np.stack([cx + pts[:, 0] * height, top + pts[:, 1] * height], axis=1)


def _draw_person(img: np.ndarray, mask: np.ndarray, kpts: np.ndarray,
                 rng: np.random.Generator) -> None:
    height = kpts[15:, 1].mean() - kpts[0, 1]  # nose to ankles
    thick = max(3, int(0.06 * height))
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    torso = kpts[[5, 6, 12, 11]].astype(np.int32)
    for canvas, value in ((img, colour), (mask, 1)):
        cv2.fillConvexPoly(canvas, torso, value)
        for a, b in _LIMBS:
            cv2.line(canvas, tuple(int(v) for v in kpts[a]), tuple(int(v) for v in kpts[b]),
                     value, thick)
        head_r = max(3, int(0.07 * height))
        head_c = (int(kpts[0, 0]), int(kpts[0, 1]))
        cv2.circle(canvas, head_c, head_r, value, -1)
        neck = ((kpts[5] + kpts[6]) / 2).astype(int)
        cv2.line(canvas, head_c, tuple(int(v) for v in neck), value, thick)
    for k in (1, 2):  # eyes, so that left and right can be told apart
        cv2.circle(img, (int(kpts[k, 0]), int(kpts[k, 1])), max(1, thick // 3),
                   (255, 255, 255), -1)
    cv2.circle(img, (int(kpts[5, 0]), int(kpts[5, 1])), max(2, thick // 2), (0, 0, 255), -1)


def _mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def make_synthetic_coco(out_img_dir: str, num_images: int = 4, seed: int = 0,
                        size=(480, 360)) -> dict:
    """Generate ``num_images`` pictures of 1-3 stick-figure people and their COCO annotations."""
    rng = np.random.default_rng(seed)
    os.makedirs(out_img_dir, exist_ok=True)
    images, annotations = [], []
    w, h = size
    for i in range(num_images):
        image_id = i + 1
        # smooth colour gradient plus noise, so that the background is not trivially flat
        yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
        base = rng.uniform(40, 200, size=3)
        slope = rng.uniform(-60, 60, size=(2, 3))
        img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
        img = np.clip(img + rng.normal(0, 12, size=img.shape), 0, 255).astype(np.uint8)
        n = int(rng.integers(1, 4))
        slot = w / n
        for p in range(n):
            kpts = _synthetic_person(rng, p * slot, slot, h)
            mask = np.zeros((h, w), np.uint8)
            _draw_person(img, mask, kpts, rng)
            ys, xs = np.nonzero(mask)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            visible = ((kpts[:, 0] >= 0) & (kpts[:, 0] < w) & (kpts[:, 1] >= 0) &
                       (kpts[:, 1] < h))
            flat = []
            for (x, y), v in zip(kpts, visible):
                flat += [int(round(x)), int(round(y)), 2] if v else [0, 0, 0]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=1, iscrowd=0,
                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                area=float(mask.sum()), segmentation=_mask_to_polygons(mask),
                keypoints=flat, num_keypoints=int(visible.sum())))
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(osp.join(out_img_dir, file_name), img)
        images.append(dict(id=image_id, file_name=file_name, width=w, height=h))
    return dict(info=dict(description='hrnet_mm synthetic stick figures'), licenses=[],
                categories=[copy.deepcopy(COCO_PERSON)], images=images,
                annotations=annotations)


def gt_detections(coco: dict, seed: int = 0) -> List[dict]:
    """Person 'detections' made from the ground-truth boxes (slightly jittered, score 1)."""
    rng = np.random.default_rng(seed)
    dets = []
    for ann in coco['annotations']:
        x, y, bw, bh = ann['bbox']
        jitter = rng.normal(0, 0.02, size=4) * [bw, bh, bw, bh]
        dets.append(dict(image_id=ann['image_id'], category_id=1, score=1.0,
                         bbox=[float(v) for v in np.array([x, y, bw, bh]) + jitter]))
    return dets


def person_label_map(coco: dict, image: dict) -> np.ndarray:
    """Cityscapes trainIds for one image: people 11, crowd 255, everything else 0."""
    h, w = image['height'], image['width']
    label = np.full((h, w), BACKGROUND_TRAIN_ID, np.uint8)
    for ann in coco['annotations']:
        if ann['image_id'] != image['id'] or ann['category_id'] != 1:
            continue
        seg = ann['segmentation']
        if isinstance(seg, list):
            rles = mask_utils.frPyObjects(seg, h, w)
            rle = mask_utils.merge(rles)
        elif isinstance(seg.get('counts'), list):
            rle = mask_utils.frPyObjects(seg, h, w)
        else:
            rle = seg
        m = mask_utils.decode(rle).astype(bool)
        label[m] = IGNORE_INDEX if ann.get('iscrowd', 0) else PERSON_TRAIN_ID
    return label


def write_tiny_datasets(out_dir: str, source: Optional[str] = DEFAULT_SOURCE,
                        synthetic: bool = False, num_images: int = 4,
                        seed: int = 0) -> Dict[str, str]:
    """Write the COCO and Cityscapes tiny sets under ``out_dir/data``; return their roots.

    Uses the real sample in ``source`` unless it is missing or ``synthetic`` is True.

    Returns:
        dict: ``coco`` and ``cityscapes`` data roots and ``source`` ('real' or 'synthetic').
    """
    coco_root = osp.join(out_dir, 'data', 'coco')
    city_root = osp.join(out_dir, 'data', 'cityscapes')
    for root in (coco_root, city_root):
        if osp.isdir(root):
            shutil.rmtree(root)
    os.makedirs(osp.join(coco_root, 'annotations'))
    os.makedirs(osp.join(coco_root, 'person_detection_results'))
    train_dir = osp.join(coco_root, 'train2017')

    use_real = (not synthetic and source is not None
                and osp.isfile(osp.join(source, 'test_coco.json')))
    if use_real:
        with open(osp.join(source, 'test_coco.json')) as f:
            coco = json.load(f)
        os.makedirs(train_dir)
        for image in coco['images']:
            shutil.copyfile(osp.join(source, image['file_name']),
                            osp.join(train_dir, image['file_name']))
        det_file = osp.join(source, 'test_coco_det_AP_H_56.json')
        with open(det_file) as f:
            dets = json.load(f)
    else:
        coco = make_synthetic_coco(train_dir, num_images=num_images, seed=seed)
        dets = gt_detections(coco, seed=seed)
    shutil.copytree(train_dir, osp.join(coco_root, 'val2017'))

    instances = dict(coco, categories=[
        dict(id=i, name=n, supercategory='person' if n == 'person' else 'object')
        for i, n in zip(COCO_CLASS_IDS, COCO_CLASSES)])
    for split in ('train', 'val'):
        for kind, content in (('person_keypoints', coco), ('instances', instances)):
            with open(osp.join(coco_root, 'annotations', f'{kind}_{split}2017.json'), 'w') as f:
                json.dump(content, f)
    with open(osp.join(coco_root, 'person_detection_results',
                       'COCO_val2017_detections_AP_H_56_person.json'), 'w') as f:
        json.dump(dets, f)

    for split in ('train', 'val'):
        img_dir = osp.join(city_root, 'leftImg8bit', split, 'sample')
        ann_dir = osp.join(city_root, 'gtFine', split, 'sample')
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for image in coco['images']:
            stem = f'sample_000000_{image["id"]:06d}'
            img = cv2.imread(osp.join(train_dir, image['file_name']))
            cv2.imwrite(osp.join(img_dir, f'{stem}_leftImg8bit.png'), img)
            cv2.imwrite(osp.join(ann_dir, f'{stem}_gtFine_labelTrainIds.png'),
                        person_label_map(coco, image))
    return dict(coco=coco_root, cityscapes=city_root, source='real' if use_real else 'synthetic')


def point_data_at(cfg, coco_root: str) -> None:
    """Point the config's loaders and evaluators at the tiny COCO set in ``coco_root``."""
    root = coco_root.rstrip('/') + '/'
    ann = root + 'annotations/person_keypoints_val2017.json'
    train_set = cfg.train_dataloader.dataset
    (train_set.dataset if 'times' in train_set else train_set).data_root = root
    for split in ('val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
        cfg[f'{split}_evaluator'].ann_file = ann


def person_boxes(coco_root: str):
    """{image file: [x1, y1, x2, y2] of each annotated person with keypoints}."""
    with open(osp.join(coco_root, 'annotations', 'person_keypoints_val2017.json')) as f:
        coco = json.load(f)
    boxes = {img['id']: (img['file_name'], []) for img in coco['images']}
    for ann in coco['annotations']:
        if ann.get('num_keypoints', 0) > 0:
            x, y, w, h = ann['bbox']
            boxes[ann['image_id']][1].append([x, y, x + w, y + h])
    return dict(boxes.values())
