"""``seg-perception bench``: Segmenter.segment timed per stage on rendered street frames."""

import argparse
import sys

import numpy as np

from .common import add_model_args, make_segmenter


def cmd_bench(args) -> int:
    """Time Segmenter.segment per stage at several input sizes."""
    from ..sim.scenes import render_scene

    seg = make_segmenter(args)
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.lower().split('x'))
        # rendered street frames, so that the drivable area and the checks see a real road layout
        frames = [render_scene(seed, height=h, width=w)[0] for seed in range(5)]
        for i in range(args.warmup):
            seg.segment(frames[i % len(frames)])
        stages = {}
        for i in range(args.frames):
            for k, v in seg.segment(frames[i % len(frames)]).timings_ms.items():
                stages.setdefault(k, []).append(v)
        rows.append((size, {k: (np.percentile(v, 50), np.percentile(v, 99)) for k, v in stages.items()}))
    print(f'# seg-perception bench {" ".join(sys.argv[2:])}'.rstrip())
    print(f'# model {seg.model.name}, {seg.backend.describe()}, {args.frames} frames per size')
    print('| input | preprocess p50/p99 ms | inference p50/p99 ms | postprocess p50/p99 ms | of which checks '
          'p50/p99 ms | total p50/p99 ms |')
    print('|---|---|---|---|---|---|')
    for size, st in rows:
        stages = ('preprocess', 'inference', 'postprocess', 'checks', 'total')
        cells = ' | '.join(f'{st[k][0]:.1f} / {st[k][1]:.1f}' for k in stages)
        print(f'| {size} | {cells} |')
    return 0


def add_parser(sub) -> None:
    """Register the bench command and its options on ``sub``."""
    p = sub.add_parser('bench', help='time Segmenter.segment per stage',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Time each stage of Segmenter.segment on rendered street frames.\n\nexample:\n'
                                   '  seg-perception bench --sizes 480x360 800x600 --frames 50')
    p.add_argument('--sizes', nargs='+', default=['480x360', '800x600'], metavar='WxH',
                   help='input sizes to time, width x height (default: 480x360 800x600)')
    p.add_argument('--frames', type=int, default=30, help='timed frames per size')
    p.add_argument('--warmup', type=int, default=3, help='untimed frames per size first')
    add_model_args(p)
    p.set_defaults(func=cmd_bench)
