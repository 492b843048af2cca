"""Models scored on held-out varied rendered frames, per thing they drew, beside plain frames and CamVid 0006R0.

Whether training on ``--rendered-varied`` frames helps is measured here: each model (a name or a manifest) goes
through ``Segmenter.segment`` (the node's path, test-time denoising included) on ``--frames`` varied frames of
seed ``--seed`` (``rendered_scenes(varied=True)``; training draws seed 0, so another seed's frames were never
trained on), grouped by what each drew (night, dusk, wet road, white vehicles, a hood; the hood is labelled void,
so its group scores the rest of the frame), on a third as many hazard-suite-style frames of the same seed,
and on CamVid train's sequence 0006R0 (left out of the fine-tunes; the clean model half of the default saw it).
Prints one mIoU table, models side by side; ``--json`` writes it.

    python benchmarks/varied_scenes_eval.py pspnet_lite0_camvid_wiseft runs/plain/export/a.json \
        runs/varied/export/b.json --root ../shared/datasets/camvid
"""

import argparse
import json
import sys
import time

import numpy as np

from seg_perception import metrics
from seg_perception.datasets import load_camvid, rendered_scenes, select_sequences
from seg_perception.segmenter import Segmenter

GROUPS = {
    'all varied': lambda name: True,
    'night': lambda name: '_night' in name,
    'dusk': lambda name: '_dusk' in name,
    'wet road': lambda name: '_wet' in name,
    'white vehicles': lambda name: '_white' in name,
    'hood in view': lambda name: '_hood' in name,
    'day, dry, no hood': lambda name: not any(t in name for t in ('_night', '_dusk', '_wet', '_hood')),
}


def miou(segmenter, data, keep=lambda name: True):
    """(mIoU in percent, frames) of ``segmenter`` on the frames of ``data`` whose names ``keep`` accepts."""
    k = len(segmenter.classes)
    confusion, frames = np.zeros((k, k), np.int64), 0
    for image, labels, name in zip(data.images, data.labels, data.names):
        if keep(name):
            confusion += metrics.confusion_matrix(labels, segmenter.segment(image).labels, k, data.ignore_index)
            frames += 1
    return metrics.summary(confusion, segmenter.classes)['miou'], frames


def main(argv=None) -> int:
    """Score the models and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('models', nargs='+', help='model names or manifest paths')
    ap.add_argument('--frames', type=int, default=120, help='varied frames (and a third as many plain ones)')
    ap.add_argument('--seed', type=int, default=7, help='the rendered frames\' seed (training draws 0)')
    ap.add_argument('--root', default='', help='CamVid root, for the 0006R0 column ("": left out)')
    ap.add_argument('--backend', default='onnxruntime')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', default='', help='write the table here as JSON')
    args = ap.parse_args(argv)
    if args.frames < 1 or args.seed < 1:
        ap.error('--frames must be at least 1 and --seed at least 1 (seed 0 is what training draws)')
    t0 = time.perf_counter()
    sets = {'varied': rendered_scenes(args.frames, seed=args.seed, varied=True),
            'plain': rendered_scenes(max(1, args.frames // 3), seed=args.seed, hazards=True)}
    if args.root:
        sets['camvid'] = select_sequences(load_camvid(args.root, 'train'), include=['0006R0'])
    print(f'# python benchmarks/varied_scenes_eval.py {" ".join(sys.argv[1:] if argv is None else argv)}')
    rows = {}
    for model in args.models:
        segmenter = Segmenter.from_model(model, backend=args.backend, threads=args.threads)
        row = {group: miou(segmenter, sets['varied'], keep) for group, keep in GROUPS.items()}
        row['rendered hazard-suite-style frames'] = miou(segmenter, sets['plain'])
        if 'camvid' in sets:
            row['CamVid train 0006R0'] = miou(segmenter, sets['camvid'])
        rows[model] = row
    first = rows[args.models[0]]
    print('| set (frames) | ' + ' | '.join(args.models) + ' |')
    print('|---|' + '---|' * len(args.models))
    for group in first:
        print(f'| {group} ({first[group][1]}) | ' + ' | '.join(f'{rows[m][group][0]:.2f}' for m in args.models) + ' |')
    print(f'\n{time.perf_counter() - t0:.0f} s')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({m: {g: {'miou': v[0], 'frames': v[1]} for g, v in r.items()} for m, r in rows.items()}, f,
                      indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
