"""Tune the ambiguity checks' thresholds: run the network once per frame, then sweep settings over its outputs.

The network's labels and margins for a tuning set (rendered scenarios of one seed range, and optionally CamVid
*train* frames) are computed once; each candidate setting then reruns only the checks (Segmenter.postprocess)
and prints the issue's figures. Report the chosen settings on other seeds and on CamVid val with
``seg-perception scenarios``, never on the frames they were tuned on. ``--horizon auto`` tunes the rendered
frames without their camera model (the horizon from the cues, as without camera_info); ``--camvid-stream`` feeds
each CamVid sequence's frames, in order, through one horizon tracker (the node's per-camera median).

    python benchmarks/tune_checks.py --seeds 0:200 --camvid ../shared/datasets/camvid --camvid-step 2 \\
        --sweep sky_on_road_margin_px=1,2,3 --sweep sky_below_horizon_margin_px=4,6,10
"""

import argparse
import itertools
import sys

import numpy as np

from seg_perception.camera import HorizonTracker
from seg_perception.safety_config import SafetyConfig
from seg_perception.segmenter import Segmenter
from seg_perception.sim import scenarios


def network_outputs(seg, frames):
    """[(labels_net, margin_net, shape, rgb_net)] for RGB frames, one backend call each."""
    out = []
    for rgb in frames:
        batch = seg.preprocess(rgb)[None]
        labels, margin = seg.backend.infer(batch)
        out.append((labels[0], margin[0].astype(np.float16), rgb.shape[:2], batch[0]))
    return out


def figures(seg, cache, config, use_camera=True, streams=False):
    """The suite's figures for one config over the cached outputs.

    ``use_camera`` False: no camera model (the horizon from the cues); ``streams``: one horizon tracker per
    ``item['stream']`` (frames in cache order), else each frame alone.
    """
    seg.safety = config
    results = []
    trackers = {}
    for item in cache:
        labels, margin, shape, rgb_net = item['net']
        timings = {}
        tracker = trackers.setdefault(item.get('stream'), HorizonTracker()) if streams else None
        out = seg.postprocess(labels, margin.astype(np.float32), shape, timings,
                              item['camera'] if use_camera else None, rgb_net=rgb_net, horizon=tracker)
        drivable = out.drivable > 0
        ahead = item['ahead']
        excluded = float('nan')
        if item['hazard'] is not None:
            excluded = 1.0 - np.count_nonzero(drivable & item['hazard']) / np.count_nonzero(item['hazard'])
        results.append(scenarios.FrameResult(item['name'], item['case'], item['hazard'] is not None, out.alarm,
                                             tuple(str(r) for r in out.reasons), excluded,
                                             int(np.count_nonzero(drivable & ahead)), int(np.count_nonzero(drivable)),
                                             int(np.count_nonzero(ahead)), timings['checks'], out.horizon_source,
                                             bool(out.degraded)))
    return results


def main(argv=None):
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default=None)
    ap.add_argument('--seeds', default='0:200', help='rendered tuning seeds lo:hi')
    ap.add_argument('--distance', default='10:50')
    ap.add_argument('--camvid', default='', help='CamVid root; tunes on its train split')
    ap.add_argument('--camvid-step', type=int, default=2, help='every n-th CamVid train frame')
    ap.add_argument('--camvid-stream', action='store_true',
                    help='feed each CamVid sequence in order through one horizon tracker (else frame by frame)')
    ap.add_argument('--horizon', choices=('camera', 'auto'), default='camera',
                    help='rendered frames: camera: with their camera model; auto: without (the horizon\'s cues)')
    ap.add_argument('--set', action='append', default=[], help='base settings NAME=VALUE')
    ap.add_argument('--sweep', action='append', default=[], help='NAME=V1,V2,...: every combination is run')
    args = ap.parse_args(argv)
    seg = Segmenter.from_model(args.model)
    base = SafetyConfig().flat()
    kinds = {k: type(v) for k, v in base.items()}

    def parse(name, text):
        return text.lower() in ('1', 'true') if kinds[name] is bool else kinds[name](text)
    for item in args.set:
        name, _, text = item.partition('=')
        base[name] = parse(name, text)
    sweeps = []
    for item in args.sweep:
        name, _, texts = item.partition('=')
        sweeps.append([(name, parse(name, t)) for t in texts.split(',')])

    cache = {'rendered': [], 'camvid': []}
    lo, hi = (int(v) for v in args.seeds.split(':'))
    suite = scenarios.scenario_suite(range(lo, hi), tuple(float(v) for v in args.distance.split(':')))
    for sc in suite:
        frame = sc.render()
        cache['rendered'].append({'name': f'seed {sc.seed}', 'case': sc.case, 'camera': frame.camera,
                                  'net': network_outputs(seg, [frame.rgb])[0],
                                  'hazard': frame.hazard if sc.hazardous else None,
                                  'ahead': scenarios.road_ahead(frame.labels, seg.classes)})
    if args.camvid:
        from seg_perception.datasets import load_camvid

        data = load_camvid(args.camvid, 'train')
        for i in range(0, len(data), args.camvid_step):
            cache['camvid'].append({'name': data.names[i], 'case': 'camvid', 'camera': None,
                                    'stream': data.names[i].split('_')[0],
                                    'net': network_outputs(seg, [data.images[i]])[0], 'hazard': None,
                                    'ahead': scenarios.road_ahead(data.labels[i], data.classes, data.ignore_index)})
    print(f'# python benchmarks/tune_checks.py {" ".join(sys.argv[1:])}')
    print(f'# {len(cache["rendered"])} rendered frames (seeds {lo}..{hi - 1}), {len(cache["camvid"])} CamVid train')
    print('| settings | hazard handled | false alarm rendered | IoU rendered | false alarm CamVid train | '
          'recall CamVid train | checks p50 ms |')
    print('|---|---|---|---|---|---|---|')
    for combo in itertools.product(*sweeps) if sweeps else [()]:
        values = dict(base, **dict(combo))
        config = SafetyConfig.from_flat(values)
        r = None
        if cache['rendered']:
            r = scenarios.summarise(figures(seg, cache['rendered'], config, use_camera=args.horizon == 'camera'))
        c = None
        if cache['camvid']:
            c = scenarios.summarise(figures(seg, cache['camvid'], config, streams=args.camvid_stream))
        label = ', '.join(f'{k}={v}' for k, v in combo) or 'base'

        def pct(summary, key):
            return '-' if summary is None else f'{100 * summary[key]:.1f}%'
        ms = (r or c)['checks_ms_p50']
        print(f'| {label} | {pct(r, "hazard_handled")} | {pct(r, "false_alarm")} | {pct(r, "drivable_iou")} | '
              f'{pct(c, "false_alarm")} | {pct(c, "drivable_recall")} | {ms:.2f} |', flush=True)


if __name__ == '__main__':
    main()
