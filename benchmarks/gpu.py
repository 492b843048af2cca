"""GPU figures: torch on CUDA, TensorRT engines where TensorRT is installed, parity with ONNX Runtime.

    python benchmarks/gpu.py                                        # shipped model, FRRN B, PSPNet; batch 1 and 4
    python benchmarks/gpu.py --models frrn_b --batches 1 --frames 50 --no-tensorrt

What is measured, per model, backend, precision, batch and input size:

- torch on CUDA, FP32 and FP16 (channels-last), FP16 with CUDA graphs: the deployable graph (uint8 NHWC in,
  labels and margin out) through ``TorchBackend.infer``, so a figure includes the upload of the uint8 batch and
  the download of labels and margin;
- TensorRT (only when ``tensorrt`` and ``pycuda`` import): engines built by ``tensorrt.build.build_engine`` in
  FP16 and INT8 (calibrated on the bundled sample frames), run by ``TensorRTBackend.infer``;
- parity: the share of pixels whose label equals ONNX Runtime's on the same frames (CUDA provider when
  installed, else CPU); FP16 should keep at least 99.5% (``--min-parity``) on the trained shipped model. FRRN B
  and PSPNet run with random weights (timing only; their parity is reported, not judged);
- the GPU pre/post-processing alone: upload of the uint8 batch, normalisation, softmax + top-2 + cast on the
  network's class scores, download of labels and margin, each timed with CUDA events.

Times are medians (and 90th percentiles) of ``--frames`` runs after ``--warmup`` runs. Without a CUDA GPU the
script says so and exits 0 having measured nothing.
"""

import argparse
import glob
import os
import shlex
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = 11                    # CamVid
RANDOM_MODELS = {'frrn_b': 'Pohlen et al. 2017, FRRN B (random weights)',
                 'pspnet': 'Zhao et al. 2017, PSPNet ResNet-50 (random weights)'}
MEAN, STD = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)


def sample_frames(hw, n):
    """``n`` of the bundled sample frames at ``hw``, as N x H x W x 3 uint8 RGB."""
    import cv2

    from seg_perception.segmenter import to_network_size

    files = sorted(glob.glob(os.path.join(ROOT, 'seg_perception', 'data', 'sample', 'frame_*.jpg')))
    images = [to_network_size(cv2.imread(f)[:, :, ::-1], hw) for f in files[:max(n, 1)]]
    while len(images) < n:
        images += images[:n - len(images)]
    return np.stack(images[:n])


def prepare(name, hw, folder):
    """(ModelFiles, torch module or None) of the shipped model, or of a random-weight registry model exported."""
    from seg_perception import models
    from seg_perception.export import export_onnx, write_manifest
    from seg_perception.model_files import ModelFiles, default_model
    from seg_perception.taxonomy import CAMVID_CLASSES

    if name == 'shipped':
        return default_model(), None
    import torch

    torch.manual_seed(0)
    module = models.create(name, num_classes=CLASSES).eval()
    stem = f'{name}_{hw[1]}x{hw[0]}'
    export_onnx(module, os.path.join(folder, stem + '.onnx'), hw, MEAN, STD)
    write_manifest(os.path.join(folder, stem + '.json'), name=stem, architecture=name, arch_kwargs={},
                   classes=CAMVID_CLASSES, input_hw=hw, mean=MEAN, std=STD,
                   files={'onnx': stem + '.onnx'})
    return ModelFiles.load(os.path.join(folder, stem + '.json')), module


def time_backend(backend, frames, batch, warmup, runs):
    """(median ms, p90 ms) of backend.infer on ``batch`` frames."""
    images = frames[:batch]
    for _ in range(warmup):
        backend.infer(images)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        backend.infer(images)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))


def parity(backend, frames, reference):
    """Share of pixels (%) where ``backend``'s labels equal the reference labels."""
    labels = np.concatenate([backend.infer(frames[i:i + 1])[0] for i in range(len(frames))])
    return 100.0 * float(np.mean(labels == reference))


def pre_post_ms(hw, batch, runs):
    """Median ms of each GPU pre/post-processing step for ``batch`` images at ``hw``, timed with CUDA events."""
    import torch

    h, w = hw
    host = torch.randint(0, 256, (batch, h, w, 3), dtype=torch.uint8).pin_memory()
    mean = torch.full((1, 3, 1, 1), 127.0, device='cuda')
    inv_std = torch.full((1, 3, 1, 1), 1 / 128.0, device='cuda')
    logits = torch.randn(batch, CLASSES, h, w, device='cuda', dtype=torch.float16)
    labels_host = torch.empty((batch, h, w), dtype=torch.uint8).pin_memory()
    margin_host = torch.empty((batch, h, w), dtype=torch.float32).pin_memory()
    state = {}

    def upload():
        state['image'] = host.to('cuda', non_blocking=True)

    def normalise():
        state['x'] = ((state['image'].permute(0, 3, 1, 2).float() - mean) * inv_std).half()

    def scores():
        top2, index = torch.softmax(logits.float(), dim=1).topk(2, dim=1)
        state['labels'], state['margin'] = index[:, 0].to(torch.uint8), top2[:, 0] - top2[:, 1]

    def download():
        labels_host.copy_(state['labels'], non_blocking=True)
        margin_host.copy_(state['margin'], non_blocking=True)

    figures = {}
    for name, step in (('upload', upload), ('normalise', normalise), ('softmax_top2', scores),
                       ('download', download)):
        times = []
        for i in range(runs + 5):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize()
            if i >= 5:
                times.append(start.elapsed_time(end))
        figures[name] = float(np.median(times))
    return figures


def main(argv=None) -> int:
    """Run the GPU benchmark; 0 also when there is no GPU (after saying so)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['shipped', 'frrn_b', 'pspnet'],
                        help='shipped (the model in engines/), frrn_b, pspnet')
    parser.add_argument('--size', default='1024x512', help='W x H for frrn_b and pspnet (the shipped model: its own)')
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 4])
    parser.add_argument('--frames', type=int, default=50, help='timed runs per figure')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--parity-frames', type=int, default=8)
    parser.add_argument('--min-parity', type=float, default=99.5, help='FP16 labels equal to ONNX Runtime, percent')
    parser.add_argument('--no-tensorrt', action='store_true', help='skip TensorRT even when installed')
    parser.add_argument('--out', default='', help='folder for exported models and engines (default: a temporary one)')
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        print('no PyTorch here: the GPU benchmark needs torch with CUDA; nothing measured')
        return 0
    if not torch.cuda.is_available():
        print(f'no CUDA GPU here (torch {torch.__version__}, torch.cuda.is_available() is False): nothing measured')
        return 0

    import onnxruntime as ort

    from seg_perception import backends

    width, height = (int(v) for v in args.size.lower().split('x'))
    folder = args.out or tempfile.mkdtemp(prefix='seg_gpu_')
    use_trt = not args.no_tensorrt
    if use_trt:
        try:
            from seg_perception.tensorrt.build import import_runtime
            import_runtime()
        except Exception as e:  # noqa: BLE001 - BackendUnavailable, or a broken install
            print(f'TensorRT part skipped: {e}')
            use_trt = False
    gpu = torch.cuda.get_device_name(0)
    print(f'# {gpu}, torch {torch.__version__}, ONNX Runtime {ort.__version__} '
          f'({", ".join(ort.get_available_providers())})')
    print(f'# python {" ".join(shlex.quote(a) for a in ["benchmarks/gpu.py", *sys.argv[1:]])}\n')

    rows, failures = [], []
    for name in args.models:
        model, module = prepare(name, (height, width), folder)
        hw = model.input_hw
        frames = sample_frames(hw, max(max(args.batches), args.parity_frames))
        reference_backend = backends.create('onnxruntime', model)
        reference = np.concatenate([reference_backend.infer(frames[i:i + 1])[0]
                                    for i in range(args.parity_frames)])
        label = 'shipped pspnet_lite0' if name == 'shipped' else name
        # (backend, precision, how to start it); started one at a time so that only one holds GPU memory
        candidates = [
            ('torch', 'fp32', dict(half=False, channels_last=False)),
            ('torch', 'fp16', dict(half=True, channels_last=True)),
            ('torch graphs', 'fp16', dict(half=True, channels_last=True, cuda_graphs=True)),
        ]
        if use_trt:
            candidates += [('tensorrt', 'fp16', None), ('tensorrt', 'int8', None)]
        for backend_name, precision, options in candidates:
            try:
                if options is None:
                    backend = trt_backend(model, precision, max(args.batches), folder)
                else:
                    backend = backends.create('torch', model, device='cuda', module=module, **options)
            except Exception as e:  # noqa: BLE001 - report and go on with the other variants
                print(f'{label} {backend_name} {precision}: could not start: {e}')
                continue
            agree = parity(backend, frames[:args.parity_frames], reference)
            if name == 'shipped' and precision == 'fp16' and agree < args.min_parity:
                failures.append(f'{label} {backend_name} {precision}: {agree:.2f}% < {args.min_parity}%')
            for batch in args.batches:
                median, p90 = time_backend(backend, frames, batch, args.warmup, args.frames)
                rows.append((label, f'{hw[1]}x{hw[0]}', backend_name, precision, batch, median, p90,
                             1e3 * batch / median, agree))
            del backend
            torch.cuda.empty_cache()

    print('| model | input | backend | precision | batch | median ms | p90 ms | frames/s | labels = ONNX Runtime |')
    print('|---|---|---|---|---|---|---|---|---|')
    for label, size, backend_name, precision, batch, median, p90, fps, agree in rows:
        print(f'| {label} | {size} | {backend_name} | {precision} | {batch} | {median:.2f} | {p90:.2f} | {fps:.0f} | '
              f'{agree:.2f}% |')

    print('\nGPU pre/post-processing alone (median ms; CUDA events):\n')
    print('| input | batch | upload uint8 | normalise | softmax + top-2 + cast | download labels + margin | total |')
    print('|---|---|---|---|---|---|---|')
    for batch in args.batches:
        steps = pre_post_ms((height, width), batch, args.frames)
        cells = ' | '.join(f'{steps[k]:.3f}' for k in ('upload', 'normalise', 'softmax_top2', 'download'))
        print(f'| {width}x{height} | {batch} | {cells} | {sum(steps.values()):.3f} |')
    if failures:
        print('\nparity below the threshold:\n  ' + '\n  '.join(failures))
        return 1
    return 0


def trt_backend(model, precision, max_batch, folder):
    """Build (or reuse) the engine of ``model`` at ``precision`` and open it."""
    from seg_perception.backends import create
    from seg_perception.tensorrt.build import BuildSettings, build_engine
    from seg_perception.tensorrt.config import CalibrationConfig
    from seg_perception.tensorrt.files import EngineStale

    calibration = CalibrationConfig(images=os.path.join(ROOT, 'seg_perception', 'data', 'sample', 'frame_*.jpg'),
                                    batch_size=8, cache=os.path.join(folder, f'{model.name}_int8.calib'))
    settings = BuildSettings(precision, max_batch=max_batch, timing_cache=os.path.join(folder, 'timing.cache'),
                             calibration=calibration, keep_fp16=('^/Softmax',) if precision == 'int8' else ())
    engines = os.path.join(folder, 'engines')
    try:
        return create('tensorrt', model, precision=precision, max_batch=max_batch, engine_dir=engines)
    except EngineStale:
        build_engine(model, settings, engines)
        return create('tensorrt', model, precision=precision, max_batch=max_batch, engine_dir=engines)


if __name__ == '__main__':
    raise SystemExit(main())
