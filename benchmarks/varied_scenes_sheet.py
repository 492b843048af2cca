"""A contact sheet of varied rendered training frames: each frame above its labels, named for what it drew.

The frames are those of ``seg-perception train --rendered N --rendered-varied`` (``rendered_scenes(varied=True)``,
seed ``--seed``): camera height, field of view, pitch, size, hood, white vehicles, dusk or night, wet roads. A
look at them shows whether night is dark with glowing lights, wet roads mirror, hoods sit at the bottom and the
labels stay where the things are. Prints each frame's options and the mean render time.

    python benchmarks/varied_scenes_sheet.py out/varied_sheet.png
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

from seg_perception.datasets import rendered_scenes
from seg_perception.sim.scenes import varied_options
from seg_perception.taxonomy import CAMVID_CLASSES, colourise, legend_strip

CELL_W = 320


def _cell(rgb, labels, name):
    """The frame over its labels at CELL_W pixels wide, with its name above."""
    h = int(round(rgb.shape[0] * CELL_W / rgb.shape[1]))
    frame = cv2.resize(rgb, (CELL_W, h), interpolation=cv2.INTER_AREA)
    lab = cv2.resize(colourise(labels, CAMVID_CLASSES), (CELL_W, h), interpolation=cv2.INTER_NEAREST)
    caption = np.full((18, CELL_W, 3), 255, np.uint8)
    cv2.putText(caption, name, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([caption, frame, lab])


def main(argv=None) -> int:
    """Render the frames, write the sheet, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='PNG to write')
    parser.add_argument('--seed', type=int, default=0, help='the training seed (--seed of train)')
    parser.add_argument('--frames', type=int, default=12)
    parser.add_argument('--columns', type=int, default=4)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = rendered_scenes(args.frames, seed=args.seed, varied=True)
    elapsed = time.perf_counter() - start
    cells = []
    for i, (rgb, labels, name) in enumerate(zip(data.images, data.labels, data.names)):
        options = varied_options(70000 + args.seed * 100003 + i)
        print(f'{name:32s} {rgb.shape[1]}x{rgb.shape[0]}  '
              + ', '.join(f'{k}={v}' for k, v in options.items() if k not in ('height', 'width')))
        cells.append(_cell(rgb, labels, name))
    print(f'{args.frames} frames in {elapsed:.1f} s: {1000 * elapsed / args.frames:.0f} ms per frame '
          f'(new streets: their textures are made too)')
    rows = []
    height = max(c.shape[0] for c in cells)
    for r in range(0, len(cells), args.columns):
        row = [np.pad(c, ((0, height - c.shape[0]), (0, 4), (0, 0)), constant_values=255)
               for c in cells[r:r + args.columns]]
        row += [np.full_like(row[0], 255)] * (args.columns - len(row))
        rows.append(np.hstack(row))
    sheet = np.vstack(rows + [legend_strip(rows[0].shape[1])])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, sheet[:, :, ::-1])
    print(f'wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})')
    print('command: python benchmarks/varied_scenes_sheet.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
