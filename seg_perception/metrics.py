"""Segmentation metrics over a confusion matrix: per-class IoU, mean IoU, pixel accuracy."""

from typing import Dict, Sequence

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """num_classes x num_classes counts, rows = ground truth, columns = prediction; ignore_index skipped."""
    truth = np.asarray(truth).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    if truth.shape != pred.shape:
        raise ValueError(f'truth and prediction differ in size: {truth.size} vs {pred.size}')
    keep = (truth != ignore_index) & (truth < num_classes)
    pred = np.clip(pred[keep], 0, num_classes - 1)
    counts = np.bincount(truth[keep] * num_classes + pred, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU = TP / (TP + FP + FN) per class; NaN for a class absent from both truth and prediction."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def summary(confusion: np.ndarray, classes: Sequence[str]) -> Dict:
    """Per-class IoU, mIoU (mean over classes present) and pixel accuracy, as percentages."""
    iou = iou_per_class(confusion)
    return {
        'miou': float(np.nanmean(iou) * 100),
        'pixel_accuracy': float(np.diag(confusion).sum() / max(confusion.sum(), 1) * 100),
        'iou': {name: (None if np.isnan(v) else round(float(v) * 100, 2)) for name, v in zip(classes, iou)},
    }
