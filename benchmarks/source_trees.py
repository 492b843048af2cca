"""The default Segmenter's time per frame in two or more source trees, each in its own process, in alternating blocks.

For a change measured against the code before it: check the earlier commit out beside this one
(``git worktree add /tmp/before <commit>``) and name both trees. Each block runs every tree once, in a rotating
order, in a fresh process with that tree first on PYTHONPATH; each process warms up and then segments the same
clean rendered frame ``--frames`` times per size. Prints the p50 and p99 of ``timings_ms['total']`` per tree and
size and the ratio of each tree's p50 to the first tree's.

    python benchmarks/source_trees.py --tree before=/tmp/before --tree now=. --blocks 9
    python benchmarks/source_trees.py --tree before=/tmp/before:denoise_enabled=false --tree now=.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = r'''
import json, sys
from seg_perception.safety_config import SafetyConfig
from seg_perception.segmenter import Segmenter
from seg_perception.sim.scenes import render_scene
settings = dict(item.split("=", 1) for item in sys.argv[3].split(",") if item)
seg = Segmenter.default(threads=int(sys.argv[2]))
if settings:
    seg.safety = SafetyConfig.from_flat({**seg.safety.flat(), **{k: json.loads(v) for k, v in settings.items()}})
out = {}
for size in sys.argv[4:]:
    w, h = (int(v) for v in size.split("x"))
    frame = render_scene(3, height=h, width=w)[0]
    for _ in range(5):
        seg.segment(frame)
    out[size] = [seg.segment(frame).timings_ms["total"] for _ in range(int(sys.argv[1]))]
print(json.dumps(out))
'''


def parse_tree(text: str):
    """'NAME=DIR[:SETTING=VALUE,...]' -> (name, absolute dir, settings text); SystemExit when malformed."""
    name, sep, rest = text.partition('=')
    folder, _, settings = rest.partition(':')
    if not sep or not name or not os.path.isdir(os.path.join(folder, 'seg_perception')):
        raise SystemExit(f'error: --tree {text!r}: expected NAME=DIR with DIR a source tree holding seg_perception/')
    return name, os.path.abspath(folder), settings


def main(argv=None) -> int:
    """Run the blocks and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tree', action='append', required=True, metavar='NAME=DIR[:SETTING=VALUE,...]',
                    help='a source tree (settings: safety settings, JSON values, e.g. denoise_enabled=false)')
    ap.add_argument('--sizes', nargs='+', default=['480x360', '800x600'])
    ap.add_argument('--frames', type=int, default=40, help='frames per size per block')
    ap.add_argument('--blocks', type=int, default=6)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args(argv)
    trees = [parse_tree(t) for t in args.tree]
    times = {name: {size: [] for size in args.sizes} for name, _, _ in trees}
    print(f'# python benchmarks/source_trees.py {" ".join(sys.argv[1:] if argv is None else argv)}')
    for block in range(args.blocks):
        order = trees[block % len(trees):] + trees[:block % len(trees)]
        for name, folder, settings in order:
            env = {**os.environ, 'PYTHONPATH': folder}
            run = subprocess.run([sys.executable, '-c', CHILD, str(args.frames), str(args.threads), settings,
                                  *args.sizes], cwd=folder, capture_output=True, text=True, env=env)
            if run.returncode:
                print(run.stderr, file=sys.stderr)
                raise SystemExit(f'error: tree {name} failed (exit {run.returncode})')
            for size, values in json.loads(run.stdout.strip().splitlines()[-1]).items():
                times[name][size].extend(values)
    first = trees[0][0]
    print(f'# {args.blocks} blocks x {args.frames} frames per tree and size, {args.threads} threads')
    print('| input | tree | p50 ms | p99 ms | p50 ratio to ' + first + ' |')
    print('|---|---|---|---|---|')
    for size in args.sizes:
        base = np.median(times[first][size])
        for name, _, _ in trees:
            v = times[name][size]
            print(f'| {size} | {name} | {np.median(v):.1f} | {np.percentile(v, 99):.1f} | '
                  f'{np.median(v) / base:.3f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
