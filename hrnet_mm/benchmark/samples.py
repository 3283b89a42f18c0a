"""Inputs and targets from the real samples: person crops with keypoints, their heatmap
targets and whole images with person masks from ``shared/data/coco_sample``; the Cityscapes
frame of ``shared/data/cityscapes_sample`` with its labels."""
import json
import os
import os.path as osp
from typing import Tuple

import numpy as np
import torch

from .common import CITYSCAPES_SAMPLE, COCO_SAMPLE, MEAN, STD

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _read_rgb(path: str) -> np.ndarray:
    import cv2
    return np.ascontiguousarray(cv2.imread(path)[:, :, ::-1])


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()


def coco_crops(size=(256, 192), paddings=(1.25, 1.5),
               flips=(False, True)) -> Tuple[torch.Tensor, torch.Tensor]:
    """Person crops from the real COCO sample, affine-cropped as mmpose's top-down pipeline.

    Args:
        size: the crop (H, W).
        paddings: box paddings; each person is cropped at every one.
        flips: ``(False, True)`` adds the mirror image of every crop (keypoints swapped).

    Returns:
        (images N,3,H,W normalised, keypoints N,17,3 in crop pixels: x, y, visibility).
    """
    import cv2
    with open(osp.join(COCO_SAMPLE, 'test_coco.json')) as f:
        coco = json.load(f)
    files = {img['id']: img['file_name'] for img in coco['images']}
    h, w = size
    imgs, kpts = [], []
    for ann in coco['annotations']:
        if ann.get('num_keypoints', 0) == 0:
            continue
        image = _read_rgb(osp.join(COCO_SAMPLE, files[ann['image_id']]))
        bx, by, bw, bh = ann['bbox']
        cx, cy = bx + bw / 2, by + bh / 2
        kp = np.array(ann['keypoints'], dtype=np.float32).reshape(17, 3)
        for pad in paddings:
            sw, sh = bw * pad, bh * pad
            if sw / sh > w / h:
                sh = sw * h / w
            else:
                sw = sh * w / h
            a = np.array([[w / sw, 0, w / 2 - cx * w / sw], [0, h / sh, h / 2 - cy * h / sh]],
                         dtype=np.float32)
            crop = cv2.warpAffine(image, a, (w, h), flags=cv2.INTER_LINEAR)
            k = kp.copy()
            k[:, :2] = kp[:, :2] @ a[:, :2].T + a[:, 2]
            for flip in flips:
                c, kk = crop, k.copy()
                if flip:
                    c = crop[:, ::-1]
                    kk = kk[COCO_FLIP]
                    kk[:, 0] = w - 1 - kk[:, 0]
                imgs.append(_to_tensor(c))
                kpts.append(torch.from_numpy(kk))
    x = (torch.stack(imgs) - MEAN) / STD
    return x, torch.stack(kpts)


def heatmap_targets(kpts: torch.Tensor, hm_size=(64, 48), stride=4, sigma=2.0):
    """MSRA Gaussian heatmaps (mmpose's MSRAHeatmap, sigma 2) and visibility weights.

    Args:
        kpts: (N, 17, 3) keypoints (x, y, visibility) in input pixels.
        hm_size: the heatmap (H, W).
        stride: input pixels per heatmap pixel.
        sigma: the Gaussian's standard deviation in heatmap pixels.

    Returns:
        (heatmaps N,17,H,W; weights N,17: 1 for a visible keypoint inside the heatmap).

    Example:
        >>> hm, w = heatmap_targets(torch.tensor([[[40.0, 100.0, 2.0]] * 17]))
        >>> hm.shape, float(w.min())
        (torch.Size([1, 17, 64, 48]), 1.0)
    """
    n = kpts.shape[0]
    ys = torch.arange(hm_size[0]).view(1, 1, -1, 1).float()
    xs = torch.arange(hm_size[1]).view(1, 1, 1, -1).float()
    mu = (kpts[..., :2] / stride).round()
    g = torch.exp(-((xs - mu[..., 0, None, None]) ** 2 + (ys - mu[..., 1, None, None]) ** 2)
                  / (2 * sigma ** 2))
    inside = ((mu[..., 0] >= 0) & (mu[..., 0] < hm_size[1]) & (mu[..., 1] >= 0)
              & (mu[..., 1] < hm_size[0]))
    weight = ((kpts[..., 2] > 0) & inside).float()
    return g * weight[..., None, None], weight.view(n, 17)


def seg_image(shape) -> torch.Tensor:
    """Real COCO sample images resized to ``shape`` (N, 3, H, W), normalised like mmseg."""
    import cv2
    files = sorted(f for f in os.listdir(COCO_SAMPLE) if f.endswith('.jpg'))
    imgs = []
    for i in range(shape[0]):
        img = _read_rgb(osp.join(COCO_SAMPLE, files[i % len(files)]))
        img = cv2.resize(img, (shape[3], shape[2]), interpolation=cv2.INTER_LINEAR)
        imgs.append(_to_tensor(img))
    return (torch.stack(imgs) - MEAN) / STD


def seg_sample(shape, num: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The first ``num`` sample images resized to ``shape`` (H, W), normalised, and their
    person masks (COCO polygons) as Cityscapes labels: 11 (person) on 0 (road, standing in for
    the rest)."""
    import cv2
    with open(osp.join(COCO_SAMPLE, 'test_coco.json')) as f:
        coco = json.load(f)
    h, w = shape
    imgs, labels = [], []
    for im in coco['images'][:num]:
        img = _read_rgb(osp.join(COCO_SAMPLE, im['file_name']))
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((h, w), np.uint8)
        sx, sy = w / im['width'], h / im['height']
        for ann in coco['annotations']:
            if ann['image_id'] == im['id'] and isinstance(ann['segmentation'], list):
                for poly in ann['segmentation']:
                    pts = (np.array(poly).reshape(-1, 2) * [sx, sy]).astype(np.int32)
                    cv2.fillPoly(mask, [pts], 1)
        imgs.append(_to_tensor(img))
        labels.append(torch.from_numpy(mask).long() * 11)
    return (torch.stack(imgs) - MEAN) / STD, torch.stack(labels)



def cityscapes_frame(size) -> Tuple[torch.Tensor, torch.Tensor]:
    """The Cityscapes sample frame, resized to ``size`` (H, W), normalised like mmseg's data
    preprocessor, and its trainId labels (resized nearest)."""
    import cv2
    img_dir = osp.join(CITYSCAPES_SAMPLE, 'leftImg8bit', 'val', 'frankfurt')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'the Cityscapes sample frame is missing: {img_dir}')
    name = sorted(os.listdir(img_dir))[0]
    img = _read_rgb(osp.join(img_dir, name))
    lab = cv2.imread(osp.join(CITYSCAPES_SAMPLE, 'gtFine', 'val', 'frankfurt',
                              name.replace('leftImg8bit', 'gtFine_labelTrainIds')),
                     cv2.IMREAD_UNCHANGED)
    h, w = size
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST)
    return (_to_tensor(img)[None] - MEAN) / STD, torch.from_numpy(lab).long()[None]
