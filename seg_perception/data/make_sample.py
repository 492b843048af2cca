"""Write the bundled sample sequence rendered by seg_perception.sim.scenes.

The frames are procedurally rendered (no dataset images), so they may be shipped with the package:
30 frames of one street at 480x360 and 10 fps, as JPEG (quality 90) `sample/frame_000.jpg ...` and
their pixel-exact CamVid 11-class label maps as PNG `sample/labels_000.png ...`.

    python -m seg_perception.data.make_sample
"""

import argparse
from pathlib import Path

import cv2

from seg_perception.sim.scenes import render_sequence

SAMPLE_SEED = 27          # a street with buildings, trees, parked and moving cars, pedestrians and a cyclist
SAMPLE_FRAMES = 30
SAMPLE_SIZE = (360, 480)  # height, width
SAMPLE_FPS = 10
SAMPLE_DIR = Path(__file__).resolve().parent / 'sample'


def write_sample(out_dir=SAMPLE_DIR, seed=SAMPLE_SEED, n_frames=SAMPLE_FRAMES, fps=SAMPLE_FPS):
    """Render the sample sequence into out_dir; return the list of files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    height, width = SAMPLE_SIZE
    written = []
    for i, (rgb, labels) in enumerate(render_sequence(seed, n_frames, height, width, fps=fps)):
        frame = out_dir / f'frame_{i:03d}.jpg'
        label = out_dir / f'labels_{i:03d}.png'
        cv2.imwrite(str(frame), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(label), labels, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        written += [frame, label]
    return written


def main(argv=None):
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(SAMPLE_DIR), help='output folder (default: the package sample/)')
    ap.add_argument('--seed', type=int, default=SAMPLE_SEED)
    ap.add_argument('--frames', type=int, default=SAMPLE_FRAMES)
    args = ap.parse_args(argv)
    files = write_sample(args.out, args.seed, args.frames)
    total = sum(f.stat().st_size for f in files)
    print(f'wrote {len(files)} files ({total / 1e6:.2f} MB) to {args.out}')


if __name__ == '__main__':
    main()
