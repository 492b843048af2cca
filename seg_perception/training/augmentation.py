"""The training's augmentation: random scale, crop, flip and colour jitter, and rare-class crops.

Each is a pure function of (image, labels, rng): the training draws ``rng`` from (seed, iteration) alone, so a
resumed run augments exactly as if it had not stopped.
"""

from typing import Optional, Tuple

import cv2
import numpy as np


def augment(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, crop_hw: Tuple[int, int],
            ignore_index: int, scale_range=(0.75, 1.5), focus: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Random scale, crop (padding with void), horizontal flip and colour jitter.

    ``focus``: a class id; when the scaled image has pixels of it, the crop is placed to hold a random one of them
    (rare-class crops), else anywhere.
    """
    scale = rng.uniform(*scale_range)
    h, w = labels.shape
    nh, nw = max(int(h * scale + 0.5), 8), max(int(w * scale + 0.5), 8)
    image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    labels = cv2.resize(labels, (nw, nh), interpolation=cv2.INTER_NEAREST_EXACT)
    ch, cw = crop_hw
    ph, pw = max(ch - nh, 0), max(cw - nw, 0)
    if ph or pw:
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        labels = cv2.copyMakeBorder(labels, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=ignore_index)
    y_lo, y_hi, x_lo, x_hi = 0, labels.shape[0] - ch, 0, labels.shape[1] - cw
    if focus is not None:
        ys, xs = np.nonzero(labels == focus)
        if len(ys):
            k = int(rng.integers(0, len(ys)))
            y_lo, y_hi = max(0, ys[k] - ch + 1), min(y_hi, ys[k])
            x_lo, x_hi = max(0, xs[k] - cw + 1), min(x_hi, xs[k])
    y = int(rng.integers(y_lo, y_hi + 1))
    x = int(rng.integers(x_lo, x_hi + 1))
    image, labels = image[y:y + ch, x:x + cw], labels[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    img = image.astype(np.float32)
    img = img * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)           # contrast, brightness
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.7, 1.3)                       # saturation
    img = img * rng.uniform(0.93, 1.07, size=3).astype(np.float32)          # white balance
    return np.clip(img, 0, 255).astype(np.uint8), np.ascontiguousarray(labels)


def rare_class(labels: np.ndarray, freq: np.ndarray, rng: np.random.Generator) -> Optional[int]:
    """A class present in ``labels``, drawn with probability inversely proportional to its pixel share ``freq``."""
    present = np.nonzero(np.bincount(labels.ravel(), minlength=256)[:len(freq)])[0]
    if not len(present):
        return None
    p = 1.0 / np.maximum(freq[present], 1e-6)
    return int(rng.choice(present, p=p / p.sum()))
