"""The ``seg-perception`` command: segment files, run the demo, train, evaluate, benchmark.

Each subcommand's ``--help`` says what it does and gives an example.
"""

import argparse
import glob
import json
import os
import sys

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')


def _add_model_args(parser):
    parser.add_argument('--model', default=None, help='model manifest/.onnx/.pt path or name (default: shipped)')
    parser.add_argument('--backend', default='onnxruntime', help='onnxruntime | torch | tensorrt')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads for the backend (0 = all cores)')


def _segmenter(args):
    from .segmenter import Segmenter

    return Segmenter.from_model(args.model, backend=args.backend, threads=args.threads)


def _frames(source):
    """Yield (name, rgb) from an image file, a folder of images, or a video file."""
    import cv2

    if os.path.isdir(source):
        paths = sorted(p for p in glob.glob(os.path.join(source, '*')) if p.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise SystemExit(f'error: no images ({", ".join(IMAGE_EXTENSIONS)}) in folder {source}')
    elif source.lower().endswith(VIDEO_EXTENSIONS):
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise SystemExit(f'error: cannot open video {source}')
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield f'frame_{index:06d}', bgr[:, :, ::-1]
            index += 1
        capture.release()
        return
    elif os.path.isfile(source):
        paths = [source]
    else:
        raise SystemExit(f'error: {source} is not an image, a folder of images or a video')
    for path in paths:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f'warning: cannot decode {path}; skipped', file=sys.stderr)
            continue
        yield os.path.splitext(os.path.basename(path))[0], bgr[:, :, ::-1]


def cmd_segment(args) -> int:
    """Segment an image, a folder or a video; write label PNGs and overlays."""
    import cv2
    from tqdm import tqdm

    seg = _segmenter(args)
    os.makedirs(args.out, exist_ok=True)
    totals = []
    for name, rgb in tqdm(_frames(args.source), desc='segment', unit='frame', disable=args.quiet):
        result = seg.segment(np.ascontiguousarray(rgb))
        totals.append(result.timings_ms['total'])
        cv2.imwrite(os.path.join(args.out, f'{name}_labels.png'), result.labels)
        cv2.imwrite(os.path.join(args.out, f'{name}_overlay.jpg'), result.overlay(rgb, args.alpha)[:, :, ::-1])
        if args.drivable:
            cv2.imwrite(os.path.join(args.out, f'{name}_drivable.png'), result.drivable)
    if totals:
        print(f'{len(totals)} frames, median {np.median(totals):.1f} ms per frame ({seg.backend.describe()}); '
              f'outputs in {args.out}')
    return 0


def cmd_eval(args) -> int:
    """Evaluate a model on a labelled split through Segmenter, at the labels' full resolution."""
    from . import datasets, metrics

    seg = _segmenter(args)
    data = datasets.load_camvid(args.root, args.split, limit=args.limit)
    n = len(seg.classes)
    confusion = np.zeros((n, n), np.int64)
    times = []
    for img, lab in zip(data.images, data.labels):
        result = seg.segment(img)
        times.append(result.timings_ms['total'])
        confusion += metrics.confusion_matrix(lab, result.labels, n, data.ignore_index)
    report = metrics.summary(confusion, seg.classes)
    report.update({'model': seg.model.name, 'backend': seg.backend.describe(), 'frames': len(times),
                   'ms_per_frame_median': float(np.median(times)), 'dataset': f'camvid {args.split}'})
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(report, confusion=confusion.tolist()), f, indent=2)
    return 0


def cmd_demo(args) -> int:
    """Run the node on the bundled sample sequence and write overlays and a summary to --out."""
    from .ros.demo import run_demo

    return run_demo(out=args.out, model=args.model, backend=args.backend, rate_hz=args.rate, loops=args.loops)


def cmd_train(args) -> int:
    """Train a model (see seg_perception.train)."""
    from . import train

    args.command_line = 'seg-perception ' + ' '.join(sys.argv[1:])
    train.train(args)
    return 0


def cmd_bench(args) -> int:
    """Time Segmenter.segment per stage at several input sizes."""
    seg = _segmenter(args)
    rng = np.random.default_rng(0)
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.lower().split('x'))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for _ in range(args.warmup):
            seg.segment(img)
        stages = {}
        for _ in range(args.frames):
            for k, v in seg.segment(img).timings_ms.items():
                stages.setdefault(k, []).append(v)
        rows.append((size, {k: (np.percentile(v, 50), np.percentile(v, 99)) for k, v in stages.items()}))
    print(f'# seg-perception bench {" ".join(sys.argv[2:])}'.rstrip())
    print(f'# model {seg.model.name}, {seg.backend.describe()}, {args.frames} frames per size')
    print('| input | preprocess p50/p99 ms | inference p50/p99 ms | postprocess p50/p99 ms | total p50/p99 ms |')
    print('|---|---|---|---|---|')
    for size, st in rows:
        stages = ('preprocess', 'inference', 'postprocess', 'total')
        cells = ' | '.join(f'{st[k][0]:.1f} / {st[k][1]:.1f}' for k in stages)
        print(f'| {size} | {cells} |')
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``seg-perception``."""
    parser = argparse.ArgumentParser(prog='seg-perception', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('segment', help='segment an image, a folder of images or a video',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Segment an image, a folder of images or a video with the shipped model (or '
                                   '--model), writing <name>_labels.png (class ids) and <name>_overlay.jpg.\n\n'
                                   'example:\n  seg-perception segment seg_perception/data/sample -o out/segment')
    p.add_argument('source', help='image file, folder of images, or video file')
    p.add_argument('-o', '--out', default='out/segment', help='output folder')
    p.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    p.add_argument('--drivable', action='store_true', help='also write <name>_drivable.png')
    p.add_argument('-q', '--quiet', action='store_true')
    _add_model_args(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser('demo', help='run the node on the bundled sample sequence',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Start seg_node, play the bundled sample sequence to it as a camera over ROS 2, '
                                   'and write the overlays it publishes and a latency / class-share summary.\n\n'
                                   'example:\n  seg-perception demo --out out')
    p.add_argument('--out', default='out', help='output folder')
    p.add_argument('--model', default=None, help='model for the node (default: shipped)')
    p.add_argument('--backend', default='onnxruntime')
    p.add_argument('--rate', type=float, default=5.0, help='camera frame rate in Hz')
    p.add_argument('--loops', type=int, default=1, help='times to play the sequence')
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser('eval', help='per-class IoU and mIoU on a labelled split',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Evaluate through Segmenter (the node\'s path) at full label resolution.\n\n'
                                   'example:\n  seg-perception eval --dataset camvid --root ../shared/datasets/camvid '
                                   '--split val --json out/eval.json')
    p.add_argument('--dataset', choices=('camvid',), default='camvid')
    p.add_argument('--root', default='../shared/datasets/camvid')
    p.add_argument('--split', default='val')
    p.add_argument('--limit', type=int, default=0)
    p.add_argument('--json', default='')
    _add_model_args(p)
    p.set_defaults(func=cmd_eval)

    from .train import add_arguments
    p = sub.add_parser('train', help='train a model on CamVid',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Train a registered model; resumes from --out/last.pt.\n\nexample:\n'
                                   '  seg-perception train --model pspnet_lite0 --iters 1600 --val --export engines '
                                   '--name pspnet_lite0_camvid')
    add_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('bench', help='time Segmenter.segment per stage',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Time each stage of Segmenter.segment on random frames.\n\nexample:\n'
                                   '  seg-perception bench --sizes 480x360 800x600 --frames 50')
    p.add_argument('--sizes', nargs='+', default=['480x360', '800x600'])
    p.add_argument('--frames', type=int, default=30)
    p.add_argument('--warmup', type=int, default=3)
    _add_model_args(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``seg-perception`` console script."""
    args = build_parser().parse_args(argv)
    from .model_files import ModelFileError
    from .backends import BackendUnavailable

    try:
        return args.func(args)
    except (ModelFileError, BackendUnavailable, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    raise SystemExit(main())
