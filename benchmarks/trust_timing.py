"""Time the frame-level trust check (seg_perception.trust) alone: p50 / p99 milliseconds per frame.

The check gets what Segmenter.postprocess gives it: the image the network saw and the network's labels and margin
at that size. Frames are rendered street scenes (seg_perception.sim.scenes), labels their ground truth, margins
random; the statistics cost the same whatever the values.

    python benchmarks/trust_timing.py --sizes 480x360 544x408 --frames 200
"""

import argparse
import sys
import time

import numpy as np

from seg_perception.safety_config import TrustConfig
from seg_perception.sim.scenes import render_scene
from seg_perception.taxonomy import CAMVID_CLASSES
from seg_perception.trust import TrustMonitor


def time_size(width: int, height: int, frames: int, config: TrustConfig, distinct: int = 8):
    """Milliseconds per :meth:`TrustMonitor.assess` call over ``frames`` calls at ``width`` x ``height``."""
    rng = np.random.default_rng(0)
    inputs = []
    for i in range(distinct):
        rgb, labels = render_scene(i, height=height, width=width, t=0.3 * i)
        inputs.append((rgb, labels, rng.random((height, width), np.float32)))
    monitor = TrustMonitor()
    for rgb, labels, margin in inputs:          # warm-up: first calls allocate OpenCV's buffers
        monitor.assess(rgb, labels, margin, CAMVID_CLASSES, config)
    times = []
    for i in range(frames):
        rgb, labels, margin = inputs[i % distinct]
        t = time.perf_counter()
        monitor.assess(rgb, labels, margin, CAMVID_CLASSES, config)
        times.append((time.perf_counter() - t) * 1e3)
    return np.percentile(times, (50, 99))


def main(argv=None):
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', nargs='+', default=['480x360', '544x408'], help='WIDTHxHEIGHT of the frames')
    ap.add_argument('--frames', type=int, default=200)
    ap.add_argument('--threads', type=int, default=1, help='OpenCV threads (0: OpenCV chooses)')
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(args.threads)
    config = TrustConfig()
    print(f'# python benchmarks/trust_timing.py {" ".join(sys.argv[1:])}'.rstrip())
    print(f'# thumbnails {config.noise_width_px} and {config.blur_width_px} px wide, unstable cells '
          f'{config.unstable_cell_px} px, OpenCV threads {cv2.getNumThreads()}')
    print('| frame | frames | trust p50 ms | trust p99 ms |')
    print('|---|---|---|---|')
    for size in args.sizes:
        width, height = (int(v) for v in size.split('x'))
        p50, p99 = time_size(width, height, args.frames, config)
        print(f'| {width} x {height} | {args.frames} | {p50:.2f} | {p99:.2f} |', flush=True)


if __name__ == '__main__':
    main()
