"""``seg-perception robustness``: a labelled split under the 15 common corruptions, through Segmenter.

The options and the runner; the figures come from :mod:`seg_perception.robustness`.
"""

import argparse
import importlib.util
import json
import os
import shlex
import sys

from ..corruptions import CORRUPTIONS, FAMILIES, SEVERITIES
from .common import CommandError, make_segmenter

HELP = 'mIoU under the 15 common corruptions (noise, blur, weather, digital) at severities 1-5; mPC and rPC'
DESCRIPTION = (
    'Corrupt every frame of a labelled split with the corruptions of Hendrycks and Dietterich (ICLR 2019) at '
    'severities 1-5, as Kamann and Rother (CVPR 2020) did for segmentation, segment through Segmenter and score as '
    'eval does. Prints mIoU per corruption and severity, per family, the clean mIoU, mPC (mean over corruptions '
    'of the mean over severities) and rPC = mPC / clean; --json and --plot write them. Seeded: the same command '
    'gives the same figures. Frost uses a procedural frost texture (the paper\'s photographs are not '
    'available).\n\nexamples:\n'
    '  seg-perception robustness --root ../shared/datasets/camvid --frames 20 --threads 2 '
    '--json out/robustness.json --plot out/robustness.png\n'
    '  seg-perception robustness --frames 10 --corruptions noise motion_blur --severities 1 3 5')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``seg-perception robustness`` options."""
    parser.add_argument('--dataset', choices=('camvid', 'cityscapes', 'rendered'), default='camvid',
                        help='labelled dataset to corrupt, as eval reads it')
    parser.add_argument('--root', default='../shared/datasets/camvid', help='dataset root (unused for rendered)')
    parser.add_argument('--split', default='val', help='split to evaluate: train, val or test')
    parser.add_argument('--frames', type=int, default=0,
                        help='evaluate N frames, evenly spaced over the split (0: all; rendered: N generated)')
    parser.add_argument('--sequence', nargs='+', default=[], metavar='PREFIX',
                        help='only the frames whose names start with PREFIX (a CamVid sequence such as 0006R0), '
                             'before --frames picks among them')
    parser.add_argument('--first', action='store_true',
                        help='take the first N frames instead (loads only those: for large splits)')
    parser.add_argument('--corruptions', nargs='+', default=['all'], metavar='NAME',
                        help=f'corruptions or families to run (default all): {", ".join(FAMILIES)}, '
                             f'{", ".join(CORRUPTIONS)}')
    parser.add_argument('--severities', nargs='+', type=int, default=list(SEVERITIES), metavar='S',
                        help='severities to run, of 1-5 (default all)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the corruptions\' random draws')
    parser.add_argument('--json', default='', help='write the figures as JSON')
    parser.add_argument('--plot', default='', help='write mIoU against severity as a PNG (needs matplotlib)')
    parser.add_argument('--model', default=None, help='model manifest/.onnx/.pt path or name (default: shipped)')
    parser.add_argument('--backend', default='onnxruntime', help='onnxruntime | openvino | torch | tensorrt')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads for the backend (0 = all cores)')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='override a setting (the node\'s parameter names), e.g. denoise_enabled=false')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')


def corruption_names(requested) -> list:
    """Corruption names from names and family names ('all': every one), in the paper's order; ValueError."""
    wanted = set()
    for item in requested:
        if item == 'all':
            wanted.update(CORRUPTIONS)
        elif item in FAMILIES:
            wanted.update(FAMILIES[item])
        elif item in CORRUPTIONS:
            wanted.add(item)
        else:
            raise ValueError(f'--corruptions: unknown {item!r}; choose from all, {", ".join(FAMILIES)}, '
                             f'{", ".join(CORRUPTIONS)}')
    return [name for name in CORRUPTIONS if name in wanted]


def command_line(args) -> str:
    """The command that reproduces ``args`` (every option that changes a figure, spelled out)."""
    parts = ['seg-perception', 'robustness', '--dataset', args.dataset, '--root', args.root, '--split', args.split,
             '--frames', str(args.frames)] + (['--sequence', *args.sequence] if args.sequence else []) \
        + (['--first'] if args.first else [])
    parts += ['--corruptions', *args.corruptions, '--severities', *map(str, args.severities), '--seed',
              str(args.seed), '--backend', args.backend, '--threads', str(args.threads)]
    parts += ['--model', args.model] if args.model else []
    for item in args.set:
        parts += ['--set', item]
    parts += ['--json', args.json] if args.json else []
    parts += ['--plot', args.plot] if args.plot else []
    return shlex.join(parts)


def run(args) -> int:
    """Run the benchmark; 0 when done, CommandError (exit 2, one line on stderr) for input that cannot work."""
    from .. import datasets
    from ..backends import BackendUnavailable
    from ..model_files import ModelFileError
    from ..robustness import evaluate, select_frames

    try:
        names = corruption_names(args.corruptions)
    except ValueError as e:
        raise CommandError(str(e)) from None
    bad = [s for s in args.severities if s not in SEVERITIES]
    if bad:
        raise CommandError(f'--severities: {", ".join(map(str, bad))} not among {", ".join(map(str, SEVERITIES))}')
    if args.frames < 0 or args.seed < 0:
        raise CommandError(f'--frames and --seed must be 0 or more, got {args.frames} and {args.seed}')
    if args.plot and importlib.util.find_spec('matplotlib') is None:
        raise CommandError('--plot needs matplotlib: pip install matplotlib (or the package\'s "plots" extra)')
    if args.dataset != 'rendered' and not os.path.isdir(args.root):
        raise CommandError(f'dataset root {args.root} not found (--root: the {args.dataset} folder, e.g. '
                           f'../shared/datasets/camvid with {args.split}.txt, {args.split}/ and {args.split}annot/)')
    for path in (args.json, args.plot):
        folder = os.path.dirname(os.path.abspath(path)) if path else ''
        if folder and not os.path.isdir(folder):
            raise CommandError(f'cannot write {path}: folder {folder} does not exist')
    try:
        seg = make_segmenter(args)
        limit = args.frames if (args.first and not args.sequence) or args.dataset == 'rendered' else 0
        data = datasets.load(args.dataset, args.root, args.split, limit=limit)
        if args.sequence:
            data = datasets.select_sequences(data, include=args.sequence, what=f'{args.dataset} {args.split}')
    except (ModelFileError, BackendUnavailable, OSError, ValueError) as e:
        raise CommandError(str(e)) from None
    if not len(data):
        raise CommandError(f'{args.dataset} {args.split} under {args.root} has no frames')
    if args.frames > len(data):
        print(f'warning: --frames {args.frames} but {args.dataset} {args.split} has {len(data)}; using all',
              file=sys.stderr)
    ids = select_frames(len(data), args.frames, first=args.first)
    data = datasets.LabelledImages([data.images[i] for i in ids], [data.labels[i] for i in ids], data.classes,
                                   data.ignore_index, [data.names[i] for i in ids])
    command = command_line(args)
    print(f'# {command}')
    print(f'# model {seg.model.name}, {seg.backend.describe()}; {len(data)} frames of {args.dataset} {args.split}, '
          f'{len(names)} corruptions x {len(args.severities)} severities, seed {args.seed}')
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(data) * (1 + len(names) * len(args.severities)), desc='robustness', unit='frame',
                   file=sys.stderr)

    def progress(done, total):
        bar.update(done - bar.n)
    try:
        result = evaluate(seg, data, names, sorted(set(args.severities)), seed=args.seed, frame_ids=ids,
                          dataset=f'{args.dataset} {args.split}', progress=progress if bar else None)
    except ValueError as e:
        raise CommandError(str(e)) from None
    finally:
        if bar is not None:
            bar.close()
    print()
    print(result.table())
    print(f'\nwall time {result.wall_s:.0f} s')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(result.to_json(), command=command), f, indent=2)
        print(f'figures written to {args.json}')
    if args.plot:
        result.plot(args.plot)
        print(f'plot written to {args.plot}')
    return 0


def add_parser(sub) -> None:
    """Register the robustness command and its options on ``sub``."""
    p = sub.add_parser('robustness', help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
