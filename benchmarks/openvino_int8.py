"""Quantise a model's ONNX graph to int8 with NNCF, and write it only if it passes the gate on CamVid val.

    python benchmarks/openvino_int8.py engines/pspnet_lite0_camvid.json --camvid ../shared/datasets/camvid \\
        --calib-images ../shared/datasets/camvid/train --calib-frames 64 --out engines/int8 --threads 2

NNCF's post-training quantisation (``nncf.quantize``, its ONNX backend) calibrates on ``--calib-frames``
frames taken evenly from ``--calib-images`` (a folder or glob, e.g. CamVid train) or from ``--calib-bag`` BAG's
``--calib-topic`` TOPIC, read and sized as for the TensorRT INT8 calibration
(seg_perception.tensorrt.calibration), and writes an ONNX graph with QuantizeLinear/DequantizeLinear pairs
(int8 weights per output channel, int8 activations), which the openvino backend runs with
``inference_precision int8``. The gate, on CamVid val through ``Segmenter`` at full resolution (the same path
for both): the int8 model's labels equal to the float32 model's on ONNX Runtime on at least 99.5% of the pixels,
and its val mIoU within 0.3 points of the float32 model's. Only then are ``<name>_int8.onnx`` and its manifest
(``--name``; a name of its own, so that it never stands in for the float model) written to ``--out``; otherwise
the exit status is 1 and the message says which gate failed (as half_weights.py does). Needs ``pip install nncf``
(or ``pip install -e '.[int8]'``) and OpenVINO.
"""

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from seg_perception import datasets, metrics
from seg_perception.model_files import ModelFileError, ModelFiles, sha256_file
from seg_perception.segmenter import Segmenter
from seg_perception.tensorrt.calibration import CalibrationDataError, bag_images, folder_images

MIN_EQUAL = 0.995           # labels equal to the float32 model's, share of CamVid val pixels
MAX_MIOU_DROP = 0.3         # val mIoU points


def calibration_frames(args, input_hw):
    """``--calib-frames`` network-sized frames, spread evenly over the folder or the bag topic."""
    if args.calib_bag:
        if not args.calib_topic:
            raise CalibrationDataError('--calib-bag needs --calib-topic')
        return list(bag_images(args.calib_bag, args.calib_topic, input_hw, args.calib_frames, args.calib_every))
    everything = folder_images(args.calib_images, input_hw)
    return list(itertools.islice(everything, 0, None, args.calib_every))[:args.calib_frames]


def quantise(onnx_path: str, frames, out_path: str, subset_size: int) -> dict:
    """nncf.quantize the ONNX graph at ``onnx_path`` on ``frames``; write it to ``out_path``; what was done."""
    import nncf
    import onnx

    model = onnx.load(onnx_path)
    dataset = nncf.Dataset(frames, lambda frame: {'image': frame[None]})
    t = time.perf_counter()
    quantised = nncf.quantize(model, dataset, subset_size=subset_size)
    onnx.save(quantised, out_path)
    ops = [node.op_type for node in quantised.graph.node]
    return {'nncf': nncf.__version__, 'quantise_s': round(time.perf_counter() - t, 1),
            'quantize_linear_ops': ops.count('QuantizeLinear'), 'dequantize_linear_ops': ops.count('DequantizeLinear')}


def evaluate(reference: Segmenter, candidate: Segmenter, val) -> dict:
    """Labels equal to the reference's, both mIoUs and median ms per frame, on the labelled frames ``val``."""
    n = len(val.classes)
    confusions = [np.zeros((n, n), np.int64), np.zeros((n, n), np.int64)]
    equal = pixels = 0
    times = ([], [])
    for rgb, truth in zip(val.images, val.labels):
        outs = []
        for k, seg in enumerate((reference, candidate)):
            t = time.perf_counter()
            outs.append(seg.segment(rgb).labels)
            times[k].append((time.perf_counter() - t) * 1e3)
            confusions[k] += metrics.confusion_matrix(truth, outs[k], n, val.ignore_index)
        equal += int(np.count_nonzero(outs[0] == outs[1]))
        pixels += outs[0].size
    miou = [metrics.summary(c, val.classes)['miou'] for c in confusions]
    return {'frames': len(val.images), 'labels_equal': round(equal / pixels, 5), 'miou_float32_onnxruntime':
            round(miou[0], 2), 'miou_int8_openvino': round(miou[1], 2),
            'ms_per_frame_median_float32_onnxruntime': round(float(np.median(times[0])), 1),
            'ms_per_frame_median_int8_openvino': round(float(np.median(times[1])), 1)}


def gate_failures(figures: dict) -> list:
    """Which gates the figures fail, as sentences; [] when the model may be written."""
    failed = []
    if figures['labels_equal'] < MIN_EQUAL:
        failed.append(f'labels equal to float32 on {figures["labels_equal"]:.2%} of CamVid val pixels, the gate is '
                      f'{MIN_EQUAL:.1%}')
    drop = figures['miou_float32_onnxruntime'] - figures['miou_int8_openvino']
    if drop > MAX_MIOU_DROP:
        failed.append(f'val mIoU {figures["miou_int8_openvino"]:.2f} is {drop:.2f} points below float32\'s '
                      f'{figures["miou_float32_onnxruntime"]:.2f}, the gate is {MAX_MIOU_DROP}')
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('manifest', help='manifest of the float32 model')
    parser.add_argument('--out', required=True, help='folder for the int8 model and its manifest (if it passes)')
    parser.add_argument('--camvid', required=True, help='CamVid root: the gate runs on its val split')
    parser.add_argument('--calib-images', help='calibration images: a folder or a glob (e.g. CamVid train)')
    parser.add_argument('--calib-bag', help='calibration bag (instead of --calib-images), with --calib-topic')
    parser.add_argument('--calib-topic', help='the bag\'s camera topic (Image or CompressedImage)')
    parser.add_argument('--calib-frames', type=int, default=64, help='calibration frames (default 64)')
    parser.add_argument('--calib-every', type=int, default=0,
                        help='take every n-th image or message (default: spread --calib-frames over a folder, 1 '
                             'for a bag)')
    parser.add_argument('--limit', type=int, default=0, help='first N val frames only (the gate needs all: 0)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--name', default=None, help='name of the int8 model (default: the model\'s, _int8 added)')
    args = parser.parse_args(argv)
    if not args.calib_images and not args.calib_bag:
        parser.error('give --calib-images FOLDER or --calib-bag BAG --calib-topic TOPIC')
    try:
        import nncf  # noqa: F401 - only to say what to install
    except ImportError:
        print("error: the int8 quantisation needs NNCF: pip install nncf (or pip install -e '.[int8]')",
              file=sys.stderr)
        return 2
    try:
        src = ModelFiles.load(args.manifest)
        onnx_path = src.path('onnx')
    except ModelFileError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.calib_every == 0 and args.calib_images:
        count = len([f for f in os.listdir(args.calib_images)]) if os.path.isdir(args.calib_images) else 0
        args.calib_every = max(1, count // max(args.calib_frames, 1))
    args.calib_every = max(1, args.calib_every)
    try:
        frames = calibration_frames(args, src.input_hw)
    except CalibrationDataError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    name = args.name or f'{src.name}_int8'
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = os.path.join(tmp, name + '.onnx')
        done = quantise(onnx_path, frames, int8_path, len(frames))
        manifest = json.loads(json.dumps(src.manifest))
        manifest['name'] = name
        manifest['quantised_from'] = {'model': src.name, 'onnx_sha256': src.manifest['sha256']['onnx']}
        manifest['files'] = {'onnx': name + '.onnx'}
        manifest['sha256'] = {'onnx': sha256_file(int8_path)}
        source = (f'bag {args.calib_bag} topic {args.calib_topic}' if args.calib_bag else args.calib_images)
        manifest['quantisation'] = {
            'method': 'NNCF post-training quantisation (nncf.quantize, ONNX backend): int8 weights per output '
                      'channel, int8 activations; run it with backend openvino, openvino_precision int8',
            'calibration': f'{len(frames)} frames, every {args.calib_every}th of {source}', **done}
        tmp_manifest = os.path.join(tmp, name + '.json')
        with open(tmp_manifest, 'w') as f:
            json.dump(manifest, f, indent=2)
        val = datasets.load_camvid(args.camvid, 'val', args.limit)
        reference = Segmenter.from_model(args.manifest, backend='onnxruntime', threads=args.threads)
        candidate = Segmenter.from_model(tmp_manifest, backend='openvino', inference_precision='int8',
                                         threads=args.threads, engine_dir=os.path.join(tmp, 'cache'))
        figures = {**evaluate(reference, candidate, val), 'backend': candidate.backend.describe(),
                   'calibration': manifest['quantisation']['calibration'], **done}
        failed = gate_failures(figures)
        if args.limit:
            failed.append(f'--limit {args.limit}: the gate needs every val frame')
        figures['gate'] = 'passed' if not failed else 'failed: ' + '; '.join(failed)
        manifest['quantisation']['gate'] = figures
        command = f'python benchmarks/openvino_int8.py {" ".join(sys.argv[1:] if argv is None else argv)}'
        manifest['validation'] = {'dataset': f'camvid val ({figures["frames"]} frames), full resolution, void '
                                             f'ignored, through Segmenter on OpenVINO int8',
                                  'miou': figures['miou_int8_openvino'], 'command': command}
        with open(tmp_manifest, 'w') as f:
            json.dump(manifest, f, indent=2)
            f.write('\n')
        print(f'# {command}')
        print(json.dumps(figures, indent=2))
        if failed:
            print('not written: ' + '; '.join(failed), file=sys.stderr)
            return 1
        os.makedirs(args.out, exist_ok=True)
        shutil.copy2(int8_path, os.path.join(args.out, name + '.onnx'))
        shutil.copy2(tmp_manifest, os.path.join(args.out, name + '.json'))
    print(f'written: {os.path.join(args.out, name + ".onnx")} and its manifest')
    return 0


if __name__ == '__main__':
    sys.exit(main())
