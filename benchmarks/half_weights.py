"""Store a model's ONNX weights as float16 (or int8) and measure what that changes: labels, margin, size and time.

    python benchmarks/half_weights.py runs/frrn_cpu_40/export/frrn_cpu_camvid.json --out engines \\
        --camvid ../shared/datasets/camvid --threads 2
    python benchmarks/half_weights.py runs/frrn_a_40/export/frrn_a_camvid.json --int8 --out engines \\
        --camvid ../shared/datasets/camvid --threads 2

Writes ``<name>.onnx`` (float16 weights, float32 arithmetic: see seg_perception.export.half_weights; with
``--int8``, int8 weights with one scale per output channel: seg_perception.export.int8_weights) and its
manifest into ``--out``, the ONNX file only (``--keep-torch`` copies the .pt too), and prints the share of
labels that differ from the float32 model's on CamVid val at full resolution through ``Segmenter`` (rendered
street frames without ``--camvid``). A model ships this way only when fewer than 0.5% of the labels change.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from seg_perception import datasets
from seg_perception.export import half_weights, int8_weights
from seg_perception.model_files import ModelFileError, ModelFiles, sha256_file
from seg_perception.segmenter import Segmenter

MAX_CHANGED = 0.005
# storage name -> (rewrite, what the manifest says of it)
STORAGE = {
    'float16': (half_weights, 'float16 in the ONNX file, cast to float32 when loaded '
                              '(seg_perception.export.half_weights)'),
    'int8': (int8_weights, 'int8 in the ONNX file, one float32 scale per output channel, rebuilt as float32 by '
                           'DequantizeLinear (seg_perception.export.int8_weights)'),
}


def frames(args):
    """RGB frames to compare on."""
    if args.camvid:
        return datasets.load_camvid(args.camvid, 'val', args.limit).images
    return datasets.rendered_scenes(args.limit or 20, seed=1).images


def run(seg, images):
    """Labels, margins and median ms per frame."""
    labels, margins, times = [], [], []
    for img in images:
        t = time.perf_counter()
        out = seg.segment(img)
        times.append((time.perf_counter() - t) * 1e3)
        labels.append(out.labels)
        margins.append(out.margin_net)
    return labels, margins, float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('manifest', help='manifest of the float32 model')
    parser.add_argument('--out', required=True, help='folder for the converted model and its manifest')
    parser.add_argument('--camvid', help='CamVid root: compare on its val split (else rendered frames)')
    parser.add_argument('--limit', type=int, default=0, help='first N frames only')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--keep-torch', action='store_true', help='copy the .pt file too')
    parser.add_argument('--int8', action='store_true',
                        help='int8 weights, one scale per output channel (a quarter of float32), not float16')
    args = parser.parse_args(argv)

    try:
        src = ModelFiles.load(args.manifest)
        src.path('onnx')
    except ModelFileError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    name = src.name
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # convert beside a copy of the manifest first, so that --out may be the source's own folder
        onnx_tmp = os.path.join(tmp, name + '.onnx')
        storage = 'int8' if args.int8 else 'float16'
        rewrite, description = STORAGE[storage]
        counts = rewrite(src.path('onnx'), onnx_tmp)
        manifest = json.loads(json.dumps(src.manifest))
        manifest['files'] = {'onnx': name + '.onnx'}
        if args.keep_torch:
            manifest['files']['torch'] = os.path.basename(src.path('torch'))
        manifest['sha256'] = {'onnx': sha256_file(onnx_tmp)}
        manifest['weights_storage'] = description + '; arithmetic in float32'
        tmp_manifest = os.path.join(tmp, name + '.json')
        with open(tmp_manifest, 'w') as f:
            json.dump(manifest, f, indent=2)
        images = frames(args)
        ref = Segmenter.from_model(args.manifest, threads=args.threads)
        half = Segmenter.from_model(tmp_manifest, threads=args.threads)
        labels_ref, margin_ref, ms_ref = run(ref, images)
        labels_half, margin_half, ms_half = run(half, images)
        changed = float(np.mean([np.mean(a != b) for a, b in zip(labels_ref, labels_half)]))
        margin_diff = float(max(np.abs(a - b).max() for a, b in zip(margin_ref, margin_half)))
        figures = {'frames': len(images), 'source': 'camvid val' if args.camvid else 'rendered street frames',
                   'labels_changed': round(changed, 6), 'max_margin_difference': round(margin_diff, 5),
                   'ms_per_frame_median_float32': round(ms_ref, 1),
                   f'ms_per_frame_median_{storage}_weights': round(ms_half, 1), **counts}
        manifest['weights_storage_check'] = figures
        with open(tmp_manifest, 'w') as f:
            json.dump(manifest, f, indent=2)
            f.write('\n')
        print(f'# python benchmarks/half_weights.py {" ".join(sys.argv[1:] if argv is None else argv)}')
        print(json.dumps(figures, indent=2))
        if changed >= MAX_CHANGED:
            print(f'{changed:.2%} of the labels change (limit {MAX_CHANGED:.1%}): not written', file=sys.stderr)
            return 1
        shutil.copy2(onnx_tmp, os.path.join(args.out, name + '.onnx'))
        shutil.copy2(tmp_manifest, os.path.join(args.out, name + '.json'))
        if args.keep_torch and os.path.abspath(os.path.dirname(src.path('torch'))) != os.path.abspath(args.out):
            shutil.copy2(src.path('torch'), args.out)
    print(f'written: {os.path.join(args.out, name + ".onnx")} and its manifest')
    return 0


if __name__ == '__main__':
    sys.exit(main())
