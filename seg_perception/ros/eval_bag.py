"""Judge the node from a recorded drive: ``seg-perception eval-bag``.

Ground truth comes from a label-image topic (CARLA's raw semantic tags in the red channel, Cityscapes label ids,
or CamVid ids); predictions from the node's recorded ``segmentation/labels`` (matched to ground truth by header
stamp) or, with ``run``, from ``Segmenter`` over the bag's camera frames. Both are scored on the shared taxonomy
(``seg_perception.taxonomy``). Latency is the labels message's receive time in the bag minus its input's header
stamp, so it is end-to-end only when the recorder and the camera share a clock.

Reads bags with the ``rosbags`` library: no ROS installation and no rclpy needed.
"""

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from .. import metrics
from ..taxonomy import (CAMVID_CLASSES, TAXONOMY_CLASSES, TAXONOMY_IGNORE, TAXONOMY_PALETTE, palette_array,
                        taxonomy_lut, to_taxonomy)

GT_FORMATS = ('carla', 'carla_legacy', 'cityscapes', 'camvid')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
_CHANNELS = {'mono8': 1, '8UC1': 1, 'mono16': 1, '16UC1': 1, 'rgb8': 3, 'bgr8': 3, '8UC3': 3, 'rgba8': 4,
             'bgra8': 4, '8UC4': 4}


def image_array(msg) -> np.ndarray:
    """A deserialized Image or CompressedImage as H x W (mono) or H x W x 3 RGB pixels; alpha dropped."""
    if hasattr(msg, 'format'):
        pixels = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ValueError(f'cannot decode a {msg.format!r} CompressedImage')
        return pixels[:, :, 2::-1] if pixels.ndim == 3 else pixels
    if msg.encoding not in _CHANNELS:
        raise ValueError(f'image encoding {msg.encoding!r} is not read here; expected one of {", ".join(_CHANNELS)}')
    channels = _CHANNELS[msg.encoding]
    dtype = np.dtype('>u2' if msg.is_bigendian else '<u2') if '16' in msg.encoding else np.dtype(np.uint8)
    rows = np.frombuffer(bytes(msg.data), dtype).reshape(msg.height, msg.step // dtype.itemsize)
    pixels = rows[:, :msg.width * channels].reshape(msg.height, msg.width, channels)
    if channels == 1:
        return pixels[:, :, 0]
    return pixels[:, :, 2::-1] if msg.encoding.startswith('bgr') else pixels[:, :, :3]


def ground_truth(msg, gt_format: str) -> np.ndarray:
    """Taxonomy ids of a ground-truth label image in ``gt_format`` (see GT_FORMATS)."""
    pixels = image_array(msg)
    if pixels.ndim == 3:
        if not gt_format.startswith('carla'):
            raise ValueError(f'--gt-format {gt_format} expects a one-channel label-id image, got a colour image; '
                             f'colour palettes are not decoded')
        pixels = pixels[:, :, 0]    # CARLA's raw semantic camera: the tag is the red channel
    ids = np.where(pixels > 255, 255, pixels).astype(np.uint8)
    return to_taxonomy(ids, gt_format)


def stamp_ns(msg) -> int:
    """A message's header stamp in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


@dataclass
class Frame:
    """One ground-truth frame and what is known about it."""

    stamp_ns: int
    truth: np.ndarray
    pred: Optional[np.ndarray] = None
    latency_ms: Optional[float] = None
    image: Optional[np.ndarray] = None
    confusion: Optional[np.ndarray] = None


@dataclass
class BagEvaluation:
    """Everything ``eval-bag`` reports, and what its plots are drawn from."""

    report: Dict
    confusion: np.ndarray
    frames: List[Frame] = field(default_factory=list)


def _open(bag: str):
    from rosbags.highlevel import AnyReader

    from .bag import TYPESTORE, bag_paths

    return AnyReader([Path(p) for p in bag_paths(bag)], default_typestore=TYPESTORE)


def evaluate_bag(bag: str, gt_topic: str, gt_format: str, *, pred_topic: str = '/segmentation/labels',
                 image_topic: str = '/image', pred_classes: Sequence[str] = CAMVID_CLASSES, segmenter=None,
                 keep_images: bool = False) -> BagEvaluation:
    """Score a bag's predictions (or ``segmenter``'s over its image frames) against its ground truth."""
    if gt_format not in GT_FORMATS:
        raise ValueError(f'--gt-format {gt_format!r}: expected one of {", ".join(GT_FORMATS)}')
    truths, preds, images, inputs = {}, {}, {}, set()
    with _open(bag) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
        needed = [gt_topic, image_topic if segmenter is not None else pred_topic]
        missing = [t for t in needed if t not in present]
        if missing:
            raise ValueError(f'{bag} has no topic {", ".join(missing)}; it holds: '
                             f'{", ".join(f"{t} ({m})" for t, m in sorted(present.items())) or "nothing"}')
        topics = set(needed) | ({image_topic} if image_topic in present else set())
        connections = [c for c in reader.connections if c.topic in topics]
        for connection, receive_ns, data in reader.messages(connections=connections):
            msg = reader.deserialize(data, connection.msgtype)
            stamp = stamp_ns(msg)
            if connection.topic == gt_topic:
                truths[stamp] = ground_truth(msg, gt_format)
            elif connection.topic == image_topic:
                inputs.add(stamp)   # the input frames, for the dropped share
                if segmenter is not None or keep_images:
                    images[stamp] = image_array(msg)
            else:
                preds[stamp] = (image_array(msg), receive_ns)
    if not truths:
        raise ValueError(f'{bag}: no messages on the ground-truth topic {gt_topic}')
    lut = taxonomy_lut(segmenter.classes if segmenter is not None else pred_classes)
    n = len(TAXONOMY_CLASSES)
    confusion = np.zeros((n, n), np.int64)
    frames, inference_ms = [], []
    for stamp in sorted(truths):
        frame = Frame(stamp, truths[stamp], image=images.get(stamp))
        if segmenter is not None:
            if frame.image is None:
                continue    # no camera frame for this ground truth: nothing to run on
            rgb = frame.image if frame.image.ndim == 3 else np.repeat(frame.image[:, :, None], 3, axis=2)
            result = segmenter.segment(np.ascontiguousarray(rgb))
            labels = result.labels
            inference_ms.append(result.timings_ms['total'])
        elif stamp in preds:
            labels, receive_ns = preds[stamp]
            frame.latency_ms = (receive_ns - stamp) / 1e6
        else:
            frames.append(frame)
            continue
        if labels.shape != frame.truth.shape:
            labels = cv2.resize(labels, frame.truth.shape[::-1], interpolation=cv2.INTER_NEAREST)
        frame.pred = lut[labels]
        frame.confusion = metrics.confusion_matrix(frame.truth, frame.pred, n, TAXONOMY_IGNORE)
        confusion += frame.confusion
        frames.append(frame)
    scored = [f for f in frames if f.confusion is not None]
    report = metrics.summary(confusion, TAXONOMY_CLASSES)
    road = TAXONOMY_CLASSES.index('road')
    drivable = metrics.iou_per_class(confusion)[road]
    expected = inputs or set(truths)
    answered = set(preds) if segmenter is None else {f.stamp_ns for f in scored}
    latencies = [f.latency_ms for f in scored if f.latency_ms is not None]
    report.update({
        'bag': bag, 'gt_topic': gt_topic, 'gt_format': gt_format, 'taxonomy': list(TAXONOMY_CLASSES),
        'predictions': 'Segmenter (--run)' if segmenter is not None else pred_topic,
        'frames_with_ground_truth': len(truths), 'frames_scored': len(scored),
        'drivable_iou': None if np.isnan(drivable) else round(float(drivable) * 100, 2),
        'input_frames': len(expected),
        'dropped_share': round(len(expected - answered) / max(len(expected), 1), 4),
        'latency_ms': _percentiles(latencies),
    })
    if segmenter is not None:
        report['inference_ms'] = _percentiles(inference_ms)
    return BagEvaluation(report, confusion, frames)


def _percentiles(values: Sequence[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    return {'p50': round(float(np.percentile(values, 50)), 3), 'p95': round(float(np.percentile(values, 95)), 3),
            'max': round(float(np.max(values)), 3), 'count': len(values)}


def frame_miou(frame: Frame) -> float:
    """Mean IoU (%) of one scored frame over the classes present in it."""
    return float(np.nanmean(metrics.iou_per_class(frame.confusion)) * 100)


def write_html(evaluation: BagEvaluation, path: str, worst: int = 4) -> List[str]:
    """An HTML report with PNG plots beside it: confusion matrix, latency histogram, timeline, worst frames."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ..cli import plot_confusion

    stem = os.path.splitext(path)[0]
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    report = evaluation.report
    scored = [f for f in evaluation.frames if f.confusion is not None]
    plots = {'confusion': f'{stem}_confusion.png', 'latency': f'{stem}_latency.png',
             'timeline': f'{stem}_timeline.png', 'worst': f'{stem}_worst.png'}
    plot_confusion(evaluation.confusion, TAXONOMY_CLASSES, plots['confusion'],
                   f'{report["predictions"]} vs {report["gt_topic"]}: mIoU {report["miou"]:.1f}%')
    latencies = [f.latency_ms for f in scored if f.latency_ms is not None]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(latencies or [0.0], bins=30, color='tab:blue')
    ax.set_xlabel('latency, ms (labels receive time - input stamp)')
    ax.set_ylabel('frames')
    if not latencies:
        ax.set_title('no recorded latencies (--run, or no labels topic)', fontsize=9)
    fig.tight_layout()
    fig.savefig(plots['latency'], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3))
    t0 = evaluation.frames[0].stamp_ns if evaluation.frames else 0
    ax.plot([(f.stamp_ns - t0) / 1e9 for f in scored], [frame_miou(f) for f in scored], '.-', label='mIoU %')
    ax.set_xlabel('time from the first ground truth, s')
    ax.set_ylabel('mIoU, %')
    if latencies:
        twin = ax.twinx()
        twin.plot([(f.stamp_ns - t0) / 1e9 for f in scored if f.latency_ms is not None], latencies, '.',
                  color='tab:orange')
        twin.set_ylabel('latency, ms', color='tab:orange')
    fig.tight_layout()
    fig.savefig(plots['timeline'], dpi=100)
    plt.close(fig)
    lut = palette_array(TAXONOMY_PALETTE)
    tiles = []
    for frame in sorted(scored, key=frame_miou)[:worst]:
        pred, truth = lut[frame.pred], lut[frame.truth]
        if frame.image is not None:
            rgb = frame.image if frame.image.ndim == 3 else np.repeat(frame.image[:, :, None], 3, axis=2)
            if rgb.shape[:2] != pred.shape[:2]:
                rgb = cv2.resize(rgb, pred.shape[1::-1])
            pred = (0.5 * rgb + 0.5 * pred).astype(np.uint8)
        tile = np.concatenate([pred, truth], axis=1)
        scale = 480 / tile.shape[1]
        tile = cv2.resize(tile, (480, max(1, round(tile.shape[0] * scale))), interpolation=cv2.INTER_NEAREST)
        cv2.putText(tile, f'{frame_miou(frame):.0f}% mIoU', (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255))
        tiles.append(tile)
    strip = np.concatenate(tiles, axis=0) if tiles else np.zeros((16, 480, 3), np.uint8)
    cv2.imwrite(plots['worst'], strip[:, :, ::-1])
    rows = ''.join(f'<tr><td>{html.escape(name)}</td><td>{"-" if v is None else f"{v:.1f}"}</td></tr>'
                   for name, v in report['iou'].items())
    figures = {k: v for k, v in report.items() if k not in ('iou', 'taxonomy')}
    images = ''.join(f'<h2>{name}</h2><img src="{html.escape(os.path.basename(p))}">' for name, p in plots.items())
    with open(path, 'w') as f:
        f.write(f'<!doctype html><html><head><meta charset="utf-8"><title>eval-bag {html.escape(report["bag"])}'
                f'</title></head><body><h1>eval-bag {html.escape(report["bag"])}</h1>'
                f'<pre>{html.escape(json.dumps(figures, indent=2))}</pre>'
                f'<h2>IoU per class (shared taxonomy), %</h2><table>{rows}</table>{images}'
                f'<p>worst frames: prediction (over the camera frame where recorded) | ground truth</p>'
                f'</body></html>')
    return [path, *plots.values()]
