"""The ``seg-perception`` command: segment files, run the demo, train, evaluate, benchmark.

Each subcommand's ``--help`` says what it does and gives an example.
"""

import argparse
import glob
import json
import os
import shlex
import sys

import numpy as np

from .image_files import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS


def _add_model_args(parser):
    parser.add_argument('--model', default=None, help='model manifest/.onnx/.pt path or name (default: shipped)')
    parser.add_argument('--backend', default='onnxruntime', help='onnxruntime | torch | tensorrt')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads for the backend (0 = all cores)')


def _segmenter(args):
    from .segmenter import Segmenter

    return Segmenter.from_model(args.model, backend=args.backend, threads=args.threads,
                                safety=_safety(getattr(args, 'set', None)))


def _safety(settings):
    """A SafetyConfig from ``name=value`` strings (flat names, as the node's parameters); None without any."""
    if not settings:
        return None
    from .ambiguity import SafetyConfig

    defaults = SafetyConfig().flat()
    values = {}
    for item in settings:
        name, _, text = item.partition('=')
        if name not in defaults:
            raise SystemExit(f'error: --set {item}: unknown setting {name!r}; known: {", ".join(sorted(defaults))}')
        kind = type(defaults[name])
        if kind is bool:
            values[name] = text.lower() in ('1', 'true', 'yes', 'on')
        else:
            try:
                values[name] = kind(text)
            except ValueError:
                raise SystemExit(f'error: --set {item}: expected a {kind.__name__}') from None
    return SafetyConfig.from_flat(values)


def _range(text):
    lo, _, hi = text.partition(':')
    return int(lo), int(hi)


def _print_figures(title, rows, goals):
    """Print a markdown table of figure rows (name, summary dict) and the goals line by line."""
    print(f'\n## {title}\n')
    print('| case | frames | hazard handled | alarm on hazard | false alarm | drivable IoU | drivable recall | '
          'checks p50 / p99 ms |')
    print('|---|---|---|---|---|---|---|---|')

    def pct(v):
        return '-' if v != v else f'{100 * v:.1f}%'
    for name, f in rows:
        print(f'| {name} | {f["frames"]} | {pct(f["hazard_handled"])} | {pct(f["hazard_alarm"])} | '
              f'{pct(f["false_alarm"])} | {pct(f["drivable_iou"])} | {pct(f["drivable_recall"])} | '
              f'{f["checks_ms_p50"]:.2f} / {f["checks_ms_p99"]:.2f} |')
    for label, value, goal, better in goals:
        ok = value >= goal if better == 'high' else value <= goal
        in_ms = label.endswith(' ms per frame')
        shown = f'{value:.2f} ms' if in_ms else f'{100 * value:.1f}%'
        wanted = f'{goal:.1f} ms' if in_ms else f'{100 * goal:.0f}%'
        print(f'- {label}: {shown} (goal {"<=" if better == "low" else ">="} {wanted}): '
              f'{"met" if ok else "MISSED"}')


def cmd_scenarios(args) -> int:
    """Run the model and the ambiguity checks over the rendered hazard suite (and CamVid); print the figures."""
    from .sim import scenarios
    from .sim.scenarios import GOALS

    seg = _segmenter(args)
    print(f'# seg-perception {" ".join(sys.argv[1:])}'.rstrip())
    print(f'# model {seg.model.name}, {seg.backend.describe()}')
    report = {'model': seg.model.name, 'settings': seg.safety.flat()}

    def progress(i, n):
        if not args.quiet and (i % 50 == 0 or i == n):
            print(f'  {i}/{n}', file=sys.stderr)
    if not args.no_rendered:
        lo, hi = args.seeds
        suite = scenarios.scenario_suite(range(lo, hi), tuple(float(v) for v in args.distance.split(':')))
        results = scenarios.run_suite(seg, suite, use_camera=args.horizon == 'camera', progress=progress)
        total = scenarios.summarise(results)
        cases = scenarios.by_case(results)
        _print_figures(f'rendered suite, seeds {lo}..{hi - 1}, hazards at {args.distance} m, horizon from '
                       f'{args.horizon}', list(cases.items()) + [('all', total)],
                       [('hazard handled', total['hazard_handled'], GOALS['hazard_handled'], 'high'),
                        ('false alarms, hazard-free rendered frames', total['false_alarm'],
                         GOALS['false_alarm_rendered'], 'low'),
                        ('checks p50, ms per frame', total['checks_ms_p50'], GOALS['checks_ms'], 'low')])
        missed = [f'{r.name} {r.case}: {100 * r.hazard_excluded:.1f}% excluded, alarm {r.alarm}'
                  for r in results if r.hazardous and r.hazard_excluded < scenarios.HANDLED_SHARE]
        alarms = [f'{r.name} {r.case}: {"; ".join(r.reasons)}' for r in results if not r.hazardous and r.alarm]
        for title, items in (('hazards not handled', missed), ('false alarms', alarms)):
            if items:
                print(f'\n{title} ({len(items)}):')
                for line in items[:args.show]:
                    print(f'  {line}')
        report['rendered'] = {'total': total, 'cases': cases, 'not_handled': missed, 'false_alarms': alarms}
    if args.camvid:
        from . import datasets

        data = datasets.load_camvid(args.camvid, args.split, limit=args.limit)
        results = scenarios.run_dataset(seg, data, progress=progress)
        total = scenarios.summarise(results)
        _print_figures(f'CamVid {args.split} ({args.camvid}), no camera model', [('camvid', total)],
                       [('false alarms, CamVid frames', total['false_alarm'], GOALS['false_alarm_camvid'], 'low'),
                        ('drivable recall of the road ahead', total['drivable_recall'],
                         GOALS['drivable_recall_camvid'], 'high'),
                        ('checks p50, ms per frame', total['checks_ms_p50'], GOALS['checks_ms'], 'low')])
        alarms = [f'{r.name}: {"; ".join(r.reasons)}' for r in results if r.alarm]
        if alarms:
            print(f'\nfalse alarms ({len(alarms)}):')
            for line in alarms[:args.show]:
                print(f'  {line}')
        sources = {s: sum(r.horizon_source == s for r in results) for s in ('estimate', 'default')}
        print(f'\nhorizon: {sources["estimate"]} frames estimated from the road, {sources["default"]} default')
        report['camvid'] = {'total': total, 'false_alarms': alarms}
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return 0


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

    if args.crf and args.backend != 'torch':
        raise SystemExit('error: eval --crf needs the class probabilities, which the deployed ONNX graph does not '
                         'output (only labels and margin); add --backend torch (the model needs its .pt weights)')
    seg = _segmenter(args)
    # the first N frames of the chosen sequences (rendered: N frames are generated, then chosen among)
    load_all = args.sequence and args.dataset != 'rendered'
    data = datasets.load(args.dataset, args.root, args.split, limit=0 if load_all else args.limit)
    if args.sequence:
        try:
            data = datasets.select_sequences(data, include=args.sequence, what=f'{args.dataset} {args.split}')
        except ValueError as exc:
            raise SystemExit(f'error: --sequence: {exc}') from None
        if load_all and args.limit:
            data = datasets.LabelledImages(data.images[:args.limit], data.labels[:args.limit], data.classes,
                                           data.ignore_index, data.names[:args.limit])
    if tuple(data.classes) != tuple(seg.classes):
        raise SystemExit(f'error: the model predicts {len(seg.classes)} classes ({", ".join(seg.classes[:4])}, ...) '
                         f'but {args.dataset} is labelled with {len(data.classes)} ({", ".join(data.classes[:4])}, '
                         f'...); evaluate a model trained on {args.dataset}')
    n = len(seg.classes)
    confusion = np.zeros((n, n), np.int64)
    crf_confusion = np.zeros((n, n), np.int64)
    times, crf_times = [], []
    for img, lab in zip(data.images, data.labels):
        result = seg.segment(img)
        times.append(result.timings_ms['total'])
        confusion += metrics.confusion_matrix(lab, result.labels, n, data.ignore_index)
        if args.crf:
            labels, timings = _crf_labels(seg, img, args)
            crf_times.append(timings['crf'])
            crf_confusion += metrics.confusion_matrix(lab, labels, n, data.ignore_index)
    report = metrics.summary(confusion, seg.classes)
    report.update({'model': seg.model.name, 'backend': seg.backend.describe(), 'frames': len(times),
                   'ms_per_frame_median': float(np.median(times)), 'dataset': f'{args.dataset} {args.split}'
                   + (f' ({", ".join(args.sequence)} only)' if args.sequence else '')})
    if args.crf:
        from dataclasses import asdict

        from . import crf

        refined = metrics.summary(crf_confusion, seg.classes)
        implementation = args.crf_implementation
        if implementation == 'auto':
            implementation = 'pydensecrf' if crf.pydensecrf_available() else 'numpy'
        report['crf'] = dict(refined, miou_gain=refined['miou'] - report['miou'],
                             ms_per_frame_median=float(np.median(crf_times)), implementation=implementation,
                             params=dict(asdict(_crf_params(args.crf_params)), name=args.crf_params))
    print(json.dumps(report, indent=2))
    if args.plot:
        plot_confusion(confusion, seg.classes, args.plot, f'{seg.model.name} on {args.dataset} {args.split}: '
                                                          f'mIoU {report["miou"]:.1f}%')
        print(f'confusion matrix written to {args.plot}')
    if args.json:
        extra = {'confusion': confusion.tolist()}
        if args.crf:
            extra['crf_confusion'] = crf_confusion.tolist()
        with open(args.json, 'w') as f:
            json.dump(dict(report, **extra), f, indent=2)
    return 0


def plot_confusion(confusion: np.ndarray, classes, path: str, title: str) -> None:
    """Row-normalised confusion matrix (rows: ground truth) as a PNG; each class named on its overlay colour."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from .taxonomy import class_palette

    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(classes), 0.8 + 0.55 * len(classes)))
    ax.imshow(rows, cmap='Blues', vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha='right')
    ax.set_yticks(range(len(classes)), classes)
    colours = class_palette(classes)
    for axis in (ax.get_xticklabels(), ax.get_yticklabels()):
        for label, (r, g, b) in zip(axis, colours):
            light = 0.299 * r + 0.587 * g + 0.114 * b > 140     # ITU-R BT.601 luma: dark text on light colours
            label.set_color('black' if light else 'white')
            label.set_bbox({'facecolor': (r / 255, g / 255, b / 255), 'edgecolor': 'none', 'pad': 1.5})
    for i in range(len(classes)):
        for j in range(len(classes)):
            if rows[i, j] >= 0.01:
                ax.text(j, i, f'{100 * rows[i, j]:.0f}', ha='center', va='center', fontsize=7,
                        color='white' if rows[i, j] > 0.5 else 'black')
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _crf_params(name: str):
    """DeepLab's CRF settings by their --crf-params name."""
    from . import crf

    return {'largefov': crf.DEEPLAB_LARGEFOV, 'v2_resnet101': crf.DEEPLAB_V2_RESNET101}[name]


def _crf_labels(seg, img, args):
    """CRF-refined labels of ``img`` from the torch backend's class probabilities (offline path only)."""
    from . import crf

    mean, std = seg.model.mean_std
    graph = seg.backend.graph
    probabilities = crf.probabilities_torch(graph.model, seg.preprocess(img)[None], mean, std, seg.backend.device,
                                            graph.class_bias)[0]
    return crf.refine(probabilities, img, _crf_params(args.crf_params), args.crf_implementation)


def cmd_demo(args) -> int:
    """Run the node on the bundled sample sequence and write overlays and a summary to --out."""
    from .ros.demo import run_demo

    return run_demo(out=args.out, model=args.model, backend=args.backend, rate_hz=args.rate, loops=args.loops)


def cmd_record(args) -> int:
    """Record topics into a rosbag2 (MCAP) bag until Ctrl-C or SIGTERM."""
    from .ros.bag import record

    try:
        return record(args.out, args.topics, max_bag_size_mb=args.max_bag_size,
                      max_bag_duration_s=args.max_bag_duration, quiet=args.quiet)
    except FileExistsError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


def cmd_play(args) -> int:
    """Publish a bag's image topics, or a video / folder of images as a camera."""
    from .ros.bag import play

    try:
        return play(args.source, remaps=args.remap, rate=args.rate, loop=args.loop, delay_s=args.delay,
                    camera_topic=args.topic, fps=args.fps)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


def cmd_eval_bag(args) -> int:
    """Score a recorded drive's predictions (or the model's, with --run) against its ground-truth topic."""
    from .ros.eval_bag import HazardRule, evaluate_bag, write_html
    from .taxonomy import SOURCE_CLASSES

    try:
        given = {'path_width_frac': args.path_width, 'horizon_frac': args.horizon,
                 'misread_share': args.misread_share}
        rule = HazardRule(**{name: value for name, value in given.items() if value is not None})
        evaluation = evaluate_bag(args.bag, args.gt_topic, args.gt_format, pred_topic=args.pred_topic,
                                  image_topic=args.image_topic, pred_classes=SOURCE_CLASSES[args.pred_classes],
                                  segmenter=_segmenter(args) if args.run else None, keep_images=bool(args.html),
                                  drivable_topic=args.drivable_topic, diagnostics_topic=args.diagnostics_topic,
                                  rule=rule)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(json.dumps(evaluation.report, indent=2))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(evaluation.report, confusion=evaluation.confusion.tolist()), f, indent=2)
    if args.html:
        print(f'report written to {write_html(evaluation, args.html)[0]}', file=sys.stderr)
    return 0


def cmd_carla_capture(args) -> int:
    """Drive an ego vehicle in CARLA and write its camera and semantic frames into a bag."""
    from .ros.carla_capture import CameraSpec, capture

    try:
        spec = CameraSpec(width=args.width, height=args.height, fov_deg=args.fov, x_m=args.mount[0],
                          z_m=args.mount[1], pitch_deg=args.pitch)
        return capture(args.out, host=args.host, port=args.port, tm_port=args.tm_port, frames=args.frames,
                       fps=args.fps, spec=spec, town=args.town, seed=args.seed, role_name=args.role_name,
                       timeout_s=args.timeout, quiet=args.quiet)
    except (ImportError, FileExistsError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


def cmd_train(args) -> int:
    """Train a model (see seg_perception.train)."""
    from . import train

    return train.run(args, 'seg-perception ' + shlex.join(sys.argv[1:]))


def cmd_class_bias(args) -> int:
    """Choose per-class logit offsets on a training split (see seg_perception.class_bias)."""
    from . import class_bias

    return class_bias.run(args, 'seg-perception ' + shlex.join(sys.argv[1:]))


def cmd_bench(args) -> int:
    """Time Segmenter.segment per stage at several input sizes."""
    from .sim.scenes import render_scene

    seg = _segmenter(args)
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
                                   '--split val --json out/eval.json --plot out/confusion.png')
    p.add_argument('--dataset', choices=('camvid', 'cityscapes', 'rendered'), default='camvid')
    p.add_argument('--root', default='../shared/datasets/camvid', help='dataset root (unused for rendered)')
    p.add_argument('--split', default='val')
    p.add_argument('--limit', type=int, default=0, help='first N frames only (rendered: number of frames)')
    p.add_argument('--sequence', nargs='+', default=[], metavar='PREFIX',
                   help='only the frames whose names start with PREFIX (a CamVid sequence such as 0006R0)')
    p.add_argument('--json', default='', help='write the figures and the confusion matrix as JSON')
    p.add_argument('--plot', default='', help='write the row-normalised confusion matrix as a PNG')
    p.add_argument('--crf', action='store_true',
                   help='also score the labels refined by the dense CRF (offline; needs --backend torch) and '
                        'report its mIoU gain and cost per frame')
    p.add_argument('--crf-params', choices=('largefov', 'v2_resnet101'), default='largefov',
                   help="DeepLab's CRF settings: v1 LargeFOV (10 it., 4/49/5, 3/3) or v2 ResNet-101 (4/67/3, 3/1)")
    p.add_argument('--crf-implementation', choices=('auto', 'pydensecrf', 'numpy'), default='auto',
                   help='pydensecrf (pip install pydensecrf2) or the built-in numpy one; auto: the former if '
                        'installed')
    _add_model_args(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser('scenarios', help='hazard scenarios: the ambiguity checks\' figures',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Render the hazard suite (trailers and truck sides across the road, overpasses, '
                                   'tunnel exits, low sun, varied pitch), run the model and the ambiguity checks, and '
                                   'print: hazard handled rate, false alarm rate, drivable-area IoU against the '
                                   'ground truth\'s road ahead, and the checks\' time per frame. With --camvid, also '
                                   'false alarms and drivable recall on real frames.\n\nexample:\n'
                                   '  seg-perception scenarios --seeds 1000:1300 --camvid ../shared/datasets/camvid')
    p.add_argument('--seeds', type=_range, default=(1000, 1300),
                   help='seed range lo:hi; one hazard and one hazard-free frame per seed (tune on another range)')
    p.add_argument('--distance', default='10:50', help='range of hazard distances, metres')
    p.add_argument('--horizon', choices=('camera', 'auto'), default='camera',
                   help='camera: the checks get the camera model (as with camera_info); auto: estimate/default')
    p.add_argument('--no-rendered', action='store_true', help='skip the rendered suite')
    p.add_argument('--camvid', default='', help='CamVid root: also measure on its --split (no hazards there)')
    p.add_argument('--split', default='val')
    p.add_argument('--limit', type=int, default=0)
    p.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                   help='override a check setting (the node\'s parameter names), e.g. sky_on_road_margin_px=3')
    p.add_argument('--show', type=int, default=20, help='list at most this many misses and false alarms')
    p.add_argument('--json', default='', help='also write the figures to this JSON file')
    p.add_argument('-q', '--quiet', action='store_true')
    _add_model_args(p)
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser('record', help='record topics into a rosbag2 bag (MCAP)',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Record topics into a rosbag2 bag with MCAP storage (opens in ros2 bag and '
                                   'Foxglove), each with QoS matched to its publishers, until Ctrl-C or SIGTERM. '
                                   'With a split limit, DIR holds complete bags part_000, part_001, ...\n\n'
                                   'example:\n  seg-perception record -o out/drive1 /image /segmentation/labels '
                                   '--max-bag-duration 60')
    p.add_argument('topics', nargs='+', metavar='TOPIC')
    p.add_argument('-o', '--out', required=True, help='bag folder to create (must not exist)')
    p.add_argument('--max-bag-size', type=float, default=0.0, metavar='MB', help='split after this many MB')
    p.add_argument('--max-bag-duration', type=float, default=0.0, metavar='S', help='split after this many seconds')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress line')
    p.set_defaults(func=cmd_record)

    p = sub.add_parser('play', help='play a bag\'s image topics, a video or a folder of images',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Publish the Image, CompressedImage and CameraInfo topics of a bag with their '
                                   'recorded timing divided by --rate; or a video file or a folder of images as '
                                   'rgb8 Images on --topic at --fps.\n\nexamples:\n'
                                   '  seg-perception play out/drive1 --remap /camera/image_raw:=/image --rate 0.5\n'
                                   '  seg-perception play drive.mp4 --topic /image --fps 15 --loop')
    p.add_argument('source', help='bag folder (or folder of split bags), video file, or folder of images')
    p.add_argument('--remap', action='append', default=[], metavar='FROM:=TO', help='publish topic FROM as TO')
    p.add_argument('--rate', type=float, default=1.0, help='playback speed factor')
    p.add_argument('--loop', action='store_true', help='play again from the start until Ctrl-C')
    p.add_argument('--delay', type=float, default=3.0, metavar='S',
                   help='wait up to S seconds for every topic to have a subscriber before playing')
    p.add_argument('--topic', default='/image', help='topic for a video or folder of images')
    p.add_argument('--fps', type=float, default=10.0, help='frame rate for a video or folder of images')
    p.set_defaults(func=cmd_play)

    p = sub.add_parser('eval-bag', help='per-class IoU, latency and dropped frames from a recorded drive',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Score the node\'s recorded labels (matched to ground truth by header stamp), or '
                                   'the model run offline over the bag\'s camera frames (--run), against a '
                                   'ground-truth topic, on the shared taxonomy: per-class IoU, mIoU, drivable (road) '
                                   'IoU, latency (labels receive time - input stamp), the share of input frames '
                                   'without labels, and ambiguity alarms against hazards (alarm recall on hazard '
                                   'frames, false-alarm rate on the others, drivable-area violations; the rule: '
                                   'seg_perception/ros/eval_bag.py).\n\nexample:\n  seg-perception eval-bag '
                                   'out/carla_drive --gt-topic /carla/ego_vehicle/semantic_segmentation_front/image '
                                   '--gt-format carla_palette --image-topic /carla/ego_vehicle/rgb_front/image '
                                   '--json out/drive.json --html out/drive.html')
    p.add_argument('bag', help='bag folder (or folder of split bags)')
    p.add_argument('--gt-topic', required=True, help='ground-truth label image topic')
    p.add_argument('--gt-format', required=True,
                   choices=('carla', 'carla_legacy', 'carla_palette', 'cityscapes', 'camvid'),
                   help='carla: raw tags (0.9.14+) in the red channel; carla_legacy: tags before 0.9.14; '
                        'carla_palette: CARLA\'s CityScapesPalette colours, either layout (what carla-ros-bridge '
                        'publishes); cityscapes: label ids; camvid: CamVid 11-class ids')
    p.add_argument('--pred-topic', default='/segmentation/labels', help="the node's recorded labels")
    p.add_argument('--pred-classes', default='taxonomy', choices=('taxonomy', 'camvid', 'cityscapes_train_id'),
                   help='the ids of the recorded labels: taxonomy (the node\'s default, label_ids: taxonomy), or '
                        'the classes of the model the node ran with label_ids: model')
    p.add_argument('--image-topic', default='/image', help='camera topic (input frames; needed by --run)')
    p.add_argument('--run', action='store_true', help='run Segmenter over the camera frames instead')
    p.add_argument('--drivable-topic', default='/segmentation/drivable', help="the node's recorded drivable area")
    p.add_argument('--diagnostics-topic', default='/diagnostics', help="the node's recorded alarms")
    p.add_argument('--path-width', type=float, metavar='FRAC',
                   help='hazards: the path ahead is this central share of the columns (default 1/3) ...')
    p.add_argument('--horizon', type=float, metavar='FRAC',
                   help='... below this row, as a share of the image height (default 0.5)')
    p.add_argument('--misread-share', type=float, metavar='FRAC',
                   help='hazards: share of an obstacle on the path predicted sky or road that makes a hazard '
                        '(default 0.2)')
    p.add_argument('--json', default='', help='write the figures and the confusion matrix as JSON')
    p.add_argument('--html', default='', help='write an HTML report, with its PNG plots beside it')
    _add_model_args(p)
    p.set_defaults(func=cmd_eval_bag)

    p = sub.add_parser('carla-capture', help='drive in CARLA and write camera + semantic frames into a bag',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Connect to a running CARLA server, spawn an ego vehicle on autopilot with an '
                                   'RGB and a semantic segmentation camera at the same pose, step the simulator in '
                                   'synchronous mode and write each tick\'s frames into a rosbag2 bag (MCAP) on '
                                   'carla-ros-bridge\'s topics, in the layout eval-bag reads. Ctrl-C ends it '
                                   'cleanly (world settings restored, actors destroyed). Needs the carla package '
                                   '(pip install carla==<server version>).\n\nexample:\n'
                                   '  seg-perception carla-capture -o out/carla_town10 --town Town10HD --frames 600\n'
                                   '  seg-perception eval-bag out/carla_town10 --gt-topic '
                                   '/carla/ego_vehicle/semantic_segmentation_front/image --gt-format carla '
                                   '--image-topic /carla/ego_vehicle/rgb_front/image --run --html out/town10.html')
    p.add_argument('-o', '--out', required=True, help='bag folder to create (must not exist)')
    p.add_argument('--host', default='localhost')
    p.add_argument('--port', type=int, default=2000, help='CARLA server port')
    p.add_argument('--tm-port', type=int, default=8000, help='traffic manager port')
    p.add_argument('--frames', type=int, default=0, help='ticks to write; 0: until Ctrl-C')
    p.add_argument('--fps', type=float, default=20.0, help='simulation steps per simulated second')
    p.add_argument('--width', type=int, default=800)
    p.add_argument('--height', type=int, default=600)
    p.add_argument('--fov', type=float, default=90.0, help='horizontal field of view, degrees')
    p.add_argument('--mount', type=float, nargs=2, default=(2.0, 2.0), metavar=('X', 'Z'),
                   help='camera position on the vehicle, metres forward and up')
    p.add_argument('--pitch', type=float, default=0.0, help='camera pitch, degrees')
    p.add_argument('--town', default='', help='load this map first (default: the one running)')
    p.add_argument('--seed', type=int, default=None, help='vehicle, spawn point and traffic manager seed')
    p.add_argument('--role-name', default='ego_vehicle', help='ego vehicle role name (topic prefix)')
    p.add_argument('--timeout', type=float, default=10.0, metavar='S', help='client and sensor timeout')
    p.add_argument('-q', '--quiet', action='store_true')
    p.set_defaults(func=cmd_carla_capture)

    from .train import add_arguments
    p = sub.add_parser('train', help='train a model on CamVid',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Train a registered model; resumes from --out/last.pt.\n\nexample:\n'
                                   '  seg-perception train --model pspnet_lite0 --iters 1600 --val --export engines '
                                   '--name pspnet_lite0_camvid')
    add_arguments(p)
    p.set_defaults(func=cmd_train)

    from .class_bias import add_arguments as add_bias_arguments
    p = sub.add_parser('class-bias', help='per-class logit offsets that maximise mIoU on a training split',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Choose one offset per class (added to the logits before the arg-max) by '
                                   'coordinate ascent on the mIoU of a split the model was trained on, and write '
                                   'the model with them (ONNX, .pt, manifest).\n\nexample:\n'
                                   '  seg-perception class-bias --model engines/pspnet_lite0_camvid.json --root '
                                   '../shared/datasets/camvid --split train --out out/biased')
    add_bias_arguments(p)
    p.set_defaults(func=cmd_class_bias)

    from . import robustness_cli
    p = sub.add_parser('robustness', help=robustness_cli.HELP, description=robustness_cli.DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    robustness_cli.add_arguments(p)
    p.set_defaults(func=robustness_cli.run)

    from .tensorrt import build as engine_build
    p = sub.add_parser('build-engine', help=engine_build.HELP, description=engine_build.DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    engine_build.add_arguments(p)
    p.set_defaults(func=engine_build.run)

    p = sub.add_parser('bench', help='time Segmenter.segment per stage',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Time each stage of Segmenter.segment on rendered street frames.\n\nexample:\n'
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
