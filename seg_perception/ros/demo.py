"""The demo: the real ``seg_node`` in its own process, fed the bundled sample sequence as its camera.

It publishes the frames over ROS 2 at a camera rate, receives what the node publishes, and writes to ``out/``:
the overlays (``overlay_NNN.jpg``), the labels in colour (``labels_color_NNN.png``), the drivable masks, a
contact sheet of the overlays with the colours' legend under it, and ``summary.json`` / ``summary.md`` with
end-to-end latency and class shares. Every image colours the classes with the one table,
seg_perception.taxonomy.TAXONOMY_PALETTE.
"""

import glob
import json
import os
import sys
import time
from typing import List, Optional

import cv2
import numpy as np

SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data', 'sample')
NAMESPACE = '/seg_demo'


def sample_frames(folder: str = SAMPLE_DIR) -> List[np.ndarray]:
    """The bundled sample sequence as RGB arrays."""
    paths = sorted(glob.glob(os.path.join(folder, 'frame_*.jpg')))
    if not paths:
        raise FileNotFoundError(f'no sample frames (frame_*.jpg) in {folder}')
    return [cv2.imread(p, cv2.IMREAD_COLOR)[:, :, ::-1].copy() for p in paths]


def run_demo(out: str = 'out', model: Optional[str] = None, backend: str = 'auto', rate_hz: float = 5.0,
             loops: int = 1, start_timeout_s: float = 60.0, max_frames: int = 0) -> int:
    """Run the demo; returns 0 when the node answered frames (dropping some under load is by design)."""
    from .conversions import array_to_image
    from .probe import NodeNotReady, NodeProcess, Probe
    from ..model_files import default_model, ModelFiles
    from ..taxonomy import TAXONOMY_CLASSES, colourise, legend_strip

    frames = sample_frames()[:max_frames or None]
    model_files = ModelFiles.load(model) if model else default_model()
    os.makedirs(out, exist_ok=True)
    node = NodeProcess(NAMESPACE, {'model': model_files.manifest_path, 'backend': backend})
    print('starting:', ' '.join(node.command), flush=True)
    sent: List[int] = []
    with node, Probe('seg_demo_camera', NAMESPACE, outputs=('color', 'labels', 'drivable'),
                     keep=lambda msg: msg) as probe:
        try:
            probe.wait_for_node(node, start_timeout_s)
        except NodeNotReady as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
        time.sleep(0.5)
        period = 1.0 / rate_hz
        next_t = time.time()
        for _ in range(loops):
            for rgb in frames:
                sent.append(probe.send(array_to_image(rgb, probe.header())))
                next_t += period
                time.sleep(max(0.0, next_t - time.time()))
        probe.wait_for_answers(sent, ('color', 'labels'), timeout_s=10.0)
    received, receipt_ns = probe.kept, probe.arrivals['labels']     # by stamp: the messages, the labels' arrival

    # the node publishes the output taxonomy's ids (label_ids: taxonomy), 255 outside it
    classes = TAXONOMY_CLASSES
    counts = np.zeros(len(classes), np.int64)
    latencies, thumbs = [], []
    for i, stamp in enumerate(sent):
        color, labels, drivable = (received[k].get(stamp) for k in ('color', 'labels', 'drivable'))
        if labels is None:
            continue
        lab = np.frombuffer(bytes(labels.data), np.uint8).reshape(labels.height, labels.step)[:, :labels.width]
        counts += np.bincount(lab.ravel(), minlength=len(classes))[:len(classes)]
        latencies.append((receipt_ns[stamp] - stamp) / 1e6)
        if color is not None:
            overlay = np.frombuffer(bytes(color.data), np.uint8).reshape(color.height, color.width, 3)
            cv2.imwrite(os.path.join(out, f'overlay_{i:03d}.jpg'), overlay[:, :, ::-1])
            thumbs.append(cv2.resize(overlay, (overlay.shape[1] // 2, overlay.shape[0] // 2)))
        cv2.imwrite(os.path.join(out, f'labels_color_{i:03d}.png'), colourise(lab)[:, :, ::-1])
        if drivable is not None:
            mask = np.frombuffer(bytes(drivable.data), np.uint8).reshape(drivable.height, drivable.width)
            cv2.imwrite(os.path.join(out, f'drivable_{i:03d}.png'), mask)
    if thumbs:
        cols = 5
        thumbs += [np.full_like(thumbs[0], 255)] * ((-len(thumbs)) % cols)    # white like the legend: black is "other"
        sheet = np.vstack([np.hstack(thumbs[r:r + cols]) for r in range(0, len(thumbs), cols)])
        sheet = np.vstack([sheet, legend_strip(sheet.shape[1])])
        cv2.imwrite(os.path.join(out, 'contact_sheet.jpg'), sheet[:, :, ::-1])
    shares = {c: round(float(n) / max(counts.sum(), 1), 4) for c, n in zip(classes, counts)}
    summary = {
        'model': model_files.name, 'backend': backend, 'frames_sent': len(sent), 'frames_answered': len(latencies),
        'rate_hz': rate_hz,
        'latency_ms': {'p50': float(np.percentile(latencies, 50)) if latencies else None,
                       'p99': float(np.percentile(latencies, 99)) if latencies else None,
                       'max': float(np.max(latencies)) if latencies else None},
        'class_shares': shares,
    }
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    lines = [f'# seg_perception demo: {model_files.name} on {backend}', '',
             f'Frames sent {len(sent)} at {rate_hz:g} Hz, answered {len(latencies)} (the node drops frames that '
             f'arrive while it is busy, by design).', '']
    if latencies:
        lines += [f'End-to-end latency (input stamp -> labels received): p50 {summary["latency_ms"]["p50"]:.1f} ms, '
                  f'p99 {summary["latency_ms"]["p99"]:.1f} ms.', '']
    lines += ['| class | share |', '|---|---|'] + [f'| {c} | {100 * s:.1f}% |' for c, s in shares.items()]
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    print(f'overlays, drivable masks and contact_sheet.jpg (with the colour legend) written to {out}/')
    return 0 if latencies else 1
