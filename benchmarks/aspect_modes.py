"""Wide frames through the 4:3 network: mIoU and time per frame of the aspect modes, in one interleaved run.

    python benchmarks/aspect_modes.py --sets camvid-train rendered --frames 40 --threads 2
    python benchmarks/aspect_modes.py --sets camvid-val --frames 0 --threads 2

Stand-ins for wide cameras, each at 2:1 (Cityscapes, CARLA's 2048 x 1024) and 16:9 (1920 x 1080):

- ``camvid-train`` / ``camvid-val``: CamVid frames (480 x 360) centre-cropped to 480 x 240 and 480 x 270, with
  their labels (void ignored); ``--frames`` spread evenly over the split (0: all).
- ``rendered``: the project's street renderer at 960 x 480 and 960 x 540 (square pixels, the renderer's
  horizontal field of view; exact labels), scene seeds 70000 + i.

Every frame goes through ``Segmenter.segment`` once per mode (squash, letterbox, tiles) in a rotating order, so
that the machine's load falls on all modes alike; time per frame is that call's wall time (pre-processing,
inference, merging, checks). Prints one table per set and writes the figures as JSON with ``--json``.
Choose on ``camvid-train`` and ``rendered``; ``camvid-val`` is the report.
"""

import argparse
import json
import shlex
import sys
import time

import numpy as np

from seg_perception import datasets, metrics
from seg_perception.framing import ASPECTS
from seg_perception.segmenter import Segmenter

RATIOS = {'2:1': (2, 1), '16:9': (16, 9)}


def centre_crop(image: np.ndarray, ratio) -> np.ndarray:
    """The widest centred crop of ``image`` with width / height = ratio[0] / ratio[1] (rows cut off)."""
    h, w = image.shape[:2]
    ch = min(h, round(w * ratio[1] / ratio[0]))
    top = (h - ch) // 2
    return image[top:top + ch]


def frames(name: str, ratio, count: int, root: str):
    """(images, labels, classes, ignore) of one set at one aspect ratio."""
    if name == 'rendered':
        from seg_perception.sim.scenes import render_scene

        width = 960
        height = round(width * ratio[1] / ratio[0])
        pairs = [render_scene(70000 + i, height=height, width=width, t=float(i % 7) * 0.3) for i in range(count)]
        return [p[0] for p in pairs], [p[1] for p in pairs], datasets.CAMVID_CLASSES, datasets.CAMVID_VOID
    data = datasets.load_camvid(root, name.split('-')[1])
    index = np.arange(len(data)) if not count or count >= len(data) else \
        np.linspace(0, len(data) - 1, count).round().astype(int)
    return ([centre_crop(data.images[i], ratio) for i in index], [centre_crop(data.labels[i], ratio) for i in index],
            data.classes, data.ignore_index)


def measure(seg: Segmenter, images, labels, classes, ignore):
    """Per mode: confusion matrix and wall times, the modes interleaved frame by frame."""
    n = len(classes)
    confusion = {a: np.zeros((n, n), np.int64) for a in ASPECTS}
    times = {a: [] for a in ASPECTS}
    for i, (image, truth) in enumerate(zip(images, labels)):
        for k in range(len(ASPECTS)):
            aspect = ASPECTS[(i + k) % len(ASPECTS)]
            seg.aspect = aspect
            t = time.perf_counter()
            out = seg.segment(image)
            times[aspect].append((time.perf_counter() - t) * 1e3)
            confusion[aspect] += metrics.confusion_matrix(truth, out.labels, n, ignore)
    return confusion, times


def main(argv=None) -> int:
    """Run the sets and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default=None, help='model manifest or name (default: the shipped model)')
    parser.add_argument('--sets', nargs='+', default=['camvid-train', 'rendered'],
                        choices=('camvid-train', 'camvid-val', 'rendered'))
    parser.add_argument('--frames', type=int, default=40, help='frames per set and ratio (0: the whole split)')
    parser.add_argument('--camvid', default='../shared/datasets/camvid', help='CamVid root (SegNet layout)')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--json', default='', help='write the figures here')
    args = parser.parse_args(argv)
    seg = Segmenter.from_model(args.model, threads=args.threads)
    print(f'python benchmarks/aspect_modes.py {shlex.join(sys.argv[1:] if argv is None else argv)}')
    print(f'model {seg.model.name}, network input {seg.input_hw[1]}x{seg.input_hw[0]}, {seg.backend.describe()}')
    figures = {}
    for name in args.sets:
        for label, ratio in RATIOS.items():
            count = args.frames or (40 if name == 'rendered' else 0)
            images, truths, classes, ignore = frames(name, ratio, count, args.camvid)
            confusion, times = measure(seg, images, truths, classes, ignore)
            key = f'{name} {label}'
            figures[key] = {}
            print(f'\n{key}: {len(images)} frames of {images[0].shape[1]}x{images[0].shape[0]}')
            print(f'{"mode":<10} {"mIoU":>6} {"road":>6} {"car":>6} {"pole":>6} {"ped":>6} {"ms/frame":>9}')
            for aspect in ASPECTS:
                s = metrics.summary(confusion[aspect], classes)
                iou = s['iou']
                ms = float(np.median(times[aspect]))
                figures[key][aspect] = {'miou': round(s['miou'], 2), 'iou': iou, 'median_ms': round(ms, 1),
                                        'frames': len(images)}
                print(f'{aspect:<10} {s["miou"]:6.2f} {iou["road"] or 0:6.1f} {iou["car"] or 0:6.1f} '
                      f'{iou["pole"] or 0:6.1f} {iou["pedestrian"] or 0:6.1f} {ms:9.1f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'command': 'python benchmarks/aspect_modes.py ' + shlex.join(sys.argv[1:]),
                       'model': seg.model.name, 'figures': figures}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
