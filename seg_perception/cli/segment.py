"""``seg-perception segment``: images, folders of images and videos to label PNGs and overlays."""

import argparse
import itertools
import os
import sys

import numpy as np

from ..image_files import ImageFileError, image_paths, is_video, read_image, video_frames
from ..taxonomy import TAXONOMY_CLASSES, taxonomy_lut
from .common import CommandError, add_model_args, make_segmenter


class _Outputs:
    """The output folder, made at the first write (never empty), and unique names for the inputs' outputs."""

    def __init__(self, folder: str):
        self.folder = folder
        self._taken = set()

    def name(self, path: str) -> str:
        """``path``'s file name without its extension; a name already taken gets the extension, then a number."""
        stem, ext = os.path.splitext(os.path.basename(path))
        first = [stem, f'{stem}_{ext.lstrip(".")}'] if ext else [stem]
        name = next(c for c in itertools.chain(first, (f'{stem}_{n}' for n in itertools.count(2)))
                    if c not in self._taken)
        self._taken.add(name)
        return name

    def write(self, name: str, suffix: str, image: np.ndarray) -> None:
        """Write ``<folder>/<name><suffix>``; CommandError naming the path when it cannot be written."""
        import cv2

        path = os.path.join(self.folder, name + suffix)
        try:
            os.makedirs(self.folder, exist_ok=True)
            written = cv2.imwrite(path, image)
        except (OSError, cv2.error) as e:
            raise CommandError(f'cannot write {path}: {getattr(e, "strerror", None) or e}') from None
        if not written:
            raise CommandError(f'cannot write {path}')


def cmd_segment(args) -> int:
    """Segment images, folders of images and videos; write label PNGs and overlays.

    Exit status 0 when every input was segmented; 1 when one failed (every failure named on stderr), unless
    ``--keep-going`` and at least one input succeeded; 2 for a model that cannot run or a bad setting.
    """
    from tqdm import tqdm

    from ..segmenter import InputError

    inputs, failures = [], []       # inputs: (path, 'image' | 'video'); failures: messages
    for source in args.source:
        if os.path.isdir(source):
            try:
                inputs += [(path, 'image') for path in image_paths(source)]
            except ImageFileError as e:
                failures.append(str(e))
        elif not os.path.exists(source):
            failures.append(f'{source}: not found')
        else:
            inputs.append((source, 'video' if is_video(source) else 'image'))
    for message in failures:
        print(f'error: {message}', file=sys.stderr)
    total = len(inputs) + len(failures)
    if not inputs:
        return 1
    seg = make_segmenter(args)
    lut = None
    if args.label_ids == 'taxonomy':
        try:
            lut = taxonomy_lut(seg.classes)
        except (KeyError, ValueError) as e:
            raise CommandError(f'model {seg.model.name}: its classes do not map onto the output taxonomy ({e}); '
                               f'use --label-ids model to write its own ids') from None
    outputs = _Outputs(args.out)
    times = []

    def write(name, rgb):
        result = seg.segment(rgb)
        times.append(result.timings_ms['total'])
        outputs.write(name, '_labels.png', result.labels if lut is None else lut[result.labels])
        outputs.write(name, '_overlay.jpg', result.overlay(rgb, args.alpha)[:, :, ::-1])
        if args.drivable:
            outputs.write(name, '_drivable.png', result.drivable)

    bar = tqdm(inputs, desc='segment', unit='input', disable=True if args.quiet else None)     # None: off unless a tty
    for path, kind in bar:
        try:
            if kind == 'video':
                stem = outputs.name(path)
                for index, rgb in enumerate(video_frames(path)):
                    write(f'{stem}_{index:06d}', rgb)
            else:
                write(outputs.name(path), read_image(path))
        except (ImageFileError, InputError) as e:
            message = str(e) if isinstance(e, ImageFileError) else f'{path}: {e}'
            failures.append(message)
            bar.write(f'error: {message}', file=sys.stderr)
    bar.close()
    if times and not args.quiet:
        print(f'{len(times)} frames, median {np.median(times):.1f} ms per frame ({seg.backend.describe()}); '
              f'{args.label_ids} label ids; outputs in {args.out}')
    if failures and total > 1:
        kept = args.keep_going and len(failures) < total
        print(f'{"warning" if kept else "error"}: {len(failures)} of {total} inputs failed', file=sys.stderr)
        return 0 if kept else 1
    return 1 if failures else 0


def add_parser(sub) -> None:
    """Register the segment command and its options on ``sub``."""
    p = sub.add_parser('segment', help='segment images, folders of images and videos',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Segment images, folders of images and videos with the shipped model (or '
                                   '--model), writing\n<name>_labels.png (one label id per pixel, as the node '
                                   'publishes on segmentation/labels) and <name>_overlay.jpg;\na video\'s frames '
                                   'are <name>_000000, <name>_000001, ...\n\nAn input that is missing, empty or '
                                   'cannot be decoded is named on stderr with what is wrong; the others are still\n'
                                   'segmented. Exit status: 0 when every input was segmented, 1 when one failed (0 '
                                   'with --keep-going\nif another succeeded), 2 when the model cannot run or the '
                                   'output cannot be written.\n\n'
                                   'examples:\n  seg-perception segment street.jpg -o out/street\n'
                                   '  seg-perception segment frames/ -o out/frames\n'
                                   '  seg-perception segment seg_perception/data/sample/frame_*.jpg -o out/sample\n'
                                   '  seg-perception segment drive.mp4 --label-ids model -o out/drive')
    p.add_argument('source', nargs='+', help='image file, folder of images, or video file (several may be given)')
    p.add_argument('-o', '--out', default='out/segment', help='output folder (made at the first file written)')
    p.add_argument('--label-ids', choices=('taxonomy', 'model'), default='taxonomy',
                   help=f'ids in <name>_labels.png, as the node\'s label_ids parameter: taxonomy: the fixed output '
                        f'taxonomy ({", ".join(f"{i} {n}" for i, n in enumerate(TAXONOMY_CLASSES))}; 255 outside '
                        f'it); model: the model\'s own class ids (its manifest names them)')
    p.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    p.add_argument('--drivable', action='store_true', help='also write <name>_drivable.png (255: drivable)')
    p.add_argument('--keep-going', action='store_true',
                   help='exit 0 when some inputs failed but others were segmented (the failures are still named)')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress bar and no summary line; errors only')
    add_model_args(p)
    p.set_defaults(func=cmd_segment)
