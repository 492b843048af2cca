"""``seg-perception bench``: Segmenter.segment timed per stage on rendered street frames, one or several backends."""

import argparse
import sys

import numpy as np

from .common import CommandError, add_model_args, make_segmenter

STAGES = ('preprocess', 'inference', 'postprocess', 'checks', 'total')


def backend_specs(args):
    """[(label, backend name, precision or None, model or None)] from --backends, else --backend.

    A --backends entry is ``name``, ``name:precision``, and either with ``@model`` (that model instead of --model,
    e.g. a quantised one beside the float model it came from).
    """
    from .. import backends

    specs = []
    for spec in args.backends or [args.backend]:
        spec_name, _, model = spec.partition('@')
        name, _, precision = spec_name.partition(':')
        if name not in backends.choices():
            raise CommandError(f'--backends {spec}: unknown backend {name!r}; choose one of '
                               f'{", ".join(backends.choices())}')
        if precision and not backends.options_for(name, {'precision': 1, 'inference_precision': 1}):
            raise CommandError(f'--backends {spec}: the {name} backend takes no precision')
        specs.append((spec, name, precision or None, model or None))
    labels = [label for label, _, _, _ in specs]
    if len(set(labels)) != len(labels):
        raise CommandError(f'--backends {" ".join(labels)}: a backend is named twice')
    return specs


def auto_line(args, segs, specs) -> str:
    """What backend auto takes on this machine and why (the node's default), as ``bench`` prints it."""
    for seg, (_, name, _, _) in zip(segs, specs):
        if name == 'auto':
            return f'backend {seg.backend.selection}'
    from ..backends.auto import describe_choice

    choice = describe_choice(segs[0].model, threads=args.threads, inference_precision=args.inference_precision)
    return f'backend {choice} (the node\'s default, backend auto)'


def cmd_bench(args) -> int:
    """Time Segmenter.segment per stage at several input sizes; several backends interleaved, frame by frame."""
    from ..sim.scenes import render_scene

    specs = backend_specs(args)
    segs = []
    for label, name, precision, model in specs:
        try:
            segs.append(make_segmenter(args, backend=name, precision=precision, model=model))
        except ValueError as e:     # a precision the backend does not know
            raise CommandError(f'--backends {label}: {e}') from None
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.lower().split('x'))
        # rendered street frames, so that the drivable area and the checks see a real road layout
        frames = [render_scene(seed, height=h, width=w)[0] for seed in range(5)]
        for i in range(args.warmup):
            for seg in segs:
                seg.segment(frames[i % len(frames)])
        stages = [{} for _ in segs]
        equal = [0] * len(segs)
        pixels = 0
        for i in range(args.frames):
            # one round: every backend once on the same frame, starting with a different one each round
            order = [(i + k) % len(segs) for k in range(len(segs))]
            results = {}
            for b in order:
                results[b] = segs[b].segment(frames[i % len(frames)])
                for k, v in results[b].timings_ms.items():
                    stages[b].setdefault(k, []).append(v)
            for b in range(len(segs)):
                equal[b] += int(np.count_nonzero(results[b].labels == results[0].labels))
            pixels += results[0].labels.size
        rows.append((size, [{k: (np.percentile(v, 50), np.percentile(v, 99)) for k, v in st.items()} for st in stages],
                     [e / pixels for e in equal]))
    print(f'# seg-perception bench {" ".join(sys.argv[2:])}'.rstrip())
    print(f'# {auto_line(args, segs, specs)}')
    if len(segs) == 1:
        print(f'# model {segs[0].model.name}, {segs[0].backend.describe()}, {args.frames} frames per size')
        print('| input | preprocess p50/p99 ms | inference p50/p99 ms | postprocess p50/p99 ms | of which checks '
              'p50/p99 ms | total p50/p99 ms |')
        print('|---|---|---|---|---|---|')
        for size, (st,), _ in rows:
            cells = ' | '.join(f'{st[k][0]:.1f} / {st[k][1]:.1f}' for k in STAGES)
            print(f'| {size} | {cells} |')
        return 0
    first = specs[0][0]
    print(f'# model {segs[0].model.name}, {args.frames} rounds per size, each round every backend once on the same '
          f'frame (interleaved); speed-up and labels against {first}')
    for (label, _, _, _), seg in zip(specs, segs):
        print(f'# {label}: {seg.model.name} ({seg.model.manifest_path}) on {seg.backend.describe()}')
    print(f'| input | backend | inference p50/p99 ms | total p50/p99 ms | inference speed-up | total speed-up | '
          f'labels equal to {first} |')
    print('|---|---|---|---|---|---|---|')
    for size, per_backend, agreement in rows:
        for (label, _, _, _), st, agree in zip(specs, per_backend, agreement):
            print(f'| {size} | {label} | {st["inference"][0]:.1f} / {st["inference"][1]:.1f} | '
                  f'{st["total"][0]:.1f} / {st["total"][1]:.1f} | '
                  f'{per_backend[0]["inference"][0] / st["inference"][0]:.2f} | '
                  f'{per_backend[0]["total"][0] / st["total"][0]:.2f} | {100 * agree:.2f}% |')
    return 0


def add_parser(sub) -> None:
    """Register the bench command and its options on ``sub``."""
    p = sub.add_parser('bench', help='time Segmenter.segment per stage',
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Time each stage of Segmenter.segment on rendered street frames.\n\nexamples:\n'
                                   '  seg-perception bench --sizes 480x360 800x600 --frames 50\n'
                                   '  seg-perception bench --backends onnxruntime openvino:f32 openvino --threads 2')
    p.add_argument('--sizes', nargs='+', default=['480x360', '800x600'], metavar='WxH',
                   help='input sizes to time, width x height (default: 480x360 800x600)')
    p.add_argument('--frames', type=int, default=30, help='timed frames (rounds, with --backends) per size')
    p.add_argument('--warmup', type=int, default=3, help='untimed frames per size (and backend) first')
    p.add_argument('--backends', nargs='+', default=None, metavar='NAME[:PRECISION][@MODEL]',
                   help='time these backends side by side instead of --backend: interleaved, one call each per round, '
                        'with the speed-up and the labels equal to the first; NAME:PRECISION sets the precision of '
                        'openvino (auto, f32, bf16, int8) or tensorrt (fp32, fp16, int8); NAME...@MODEL runs that '
                        'model (e.g. openvino:int8@engines/int8/pspnet_lite0_camvid.json) instead of --model')
    add_model_args(p)
    p.set_defaults(func=cmd_bench)
