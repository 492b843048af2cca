"""Time the ambiguity checks (connected road, temporal flip check, assess) on a label map where every check works.

The scene: sky above the horizon, buildings at the sides, road below, and a trailer across the road labelled as
sky with a car's band under it, so that the checks find something to flag. The labels are made, not segmented:
this measures the checks alone, the part of the node's postprocess that runs after the network. Prints p50 / p99
milliseconds per stage and the command that made them.

    python benchmarks/checks_timing.py --size 480x360 --frames 200
"""

import argparse
import sys
import time

import numpy as np

from seg_perception.ambiguity import TemporalFlipCheck, assess
from seg_perception.drivable import connected_road
from seg_perception.safety_config import SafetyConfig
from seg_perception.taxonomy import CAMVID_CLASSES

SKY, BUILDING, ROAD, CAR = 0, 1, 3, 8
SKY_IDS, OBSTACLE_IDS = [SKY], [1, 2, 5, 6, 7, 8, 9, 10]


def trailer_scene(width: int, height: int):
    """(labels, margin, horizon_row): the street with a trailer called sky, scaled from its 480 x 360 layout."""
    sx, sy = width / 480.0, height / 360.0
    labels = np.full((height, width), SKY, np.uint8)
    labels[round(160 * sy):, round(60 * sx):round(420 * sx)] = ROAD
    labels[:, :round(60 * sx)] = BUILDING
    labels[:, round(420 * sx):] = BUILDING
    labels[round(120 * sy):round(200 * sy), round(100 * sx):round(380 * sx)] = SKY
    labels[round(200 * sy):round(210 * sy), round(100 * sx):round(380 * sx)] = CAR
    margin = np.random.default_rng(0).uniform(0, 1, labels.shape).astype(np.float32)
    return labels, margin, 160.0 * sy


def time_checks(width: int, height: int, frames: int, warmup: int):
    """{stage: [milliseconds per frame]} for ``frames`` frames after ``warmup`` untimed ones; and the last verdict."""
    labels, margin, horizon = trailer_scene(width, height)
    config = SafetyConfig()
    temporal = TemporalFlipCheck(config.temporal)
    times = {'connected_road': [], 'temporal': [], 'assess': [], 'total': []}
    verdict = None
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        candidate = connected_road(labels, CAMVID_CLASSES, config)
        t1 = time.perf_counter()
        flips = temporal.update(labels, SKY_IDS, OBSTACLE_IDS, horizon)
        t2 = time.perf_counter()
        verdict = assess(labels, margin, CAMVID_CLASSES, config, horizon, 'camera', candidate, flips)
        t3 = time.perf_counter()
        if i >= warmup:
            for stage, seconds in (('connected_road', t1 - t0), ('temporal', t2 - t1), ('assess', t3 - t2),
                                   ('total', t3 - t0)):
                times[stage].append(seconds * 1e3)
    return times, verdict


def size(text: str):
    """'480x360' -> (480, 360)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 480x360, got {text!r}') from None
    if width < 32 or height < 32:
        raise argparse.ArgumentTypeError(f'a size of at least 32x32 is needed, got {text!r}')
    return width, height


def main(argv=None) -> int:
    """Print the timing table and the command that made it."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=size, nargs='+', default=[(480, 360)], help='label map sizes, WIDTHxHEIGHT')
    parser.add_argument('--frames', type=int, default=200, help='timed frames per size')
    parser.add_argument('--warmup', type=int, default=10, help='untimed frames first, per size')
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error('--frames must be >= 1 and --warmup >= 0')
    print('| size | stage | p50 ms | p99 ms |')
    print('|---|---|---|---|')
    for width, height in args.size:
        times, verdict = time_checks(width, height, args.frames, args.warmup)
        for stage, values in times.items():
            print(f'| {width}x{height} | {stage} | {np.percentile(values, 50):.2f} | {np.percentile(values, 99):.2f} |')
        if not verdict.alarm:
            print(f'note: no alarm at {width}x{height}: the checks had less work than intended', file=sys.stderr)
    print(f'{args.frames} frames after {args.warmup} warm-up per size')
    print('command: python benchmarks/checks_timing.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
