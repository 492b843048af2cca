"""Every architecture of the registry, measured the same way: parameters, GMACs, ONNX Runtime CPU time.

    python benchmarks/architectures.py --no-timing        # parameters and GMACs only (seconds, no compute)
    python benchmarks/architectures.py --threads 2        # plus ONNX Runtime CPU time (minutes: 0.5-1 GB models)

How each column is measured:

- parameters: all of the model's parameters, frozen ones included (FCN's fixed bilinear upsampling) and
  training-time auxiliary heads too (PSPNet's is about 2.4 M of its 49.1 M), with the number of classes the
  paper's figure is for (21 PASCAL VOC for FCN, DeepLab and DeconvNet, 19 Cityscapes for FRRN and PSPNet,
  2 for the biomedical nets), so that "ours" and "paper" count the same thing;
- GMACs: multiply-accumulates of convolutions, transposed convolutions and matrix products at a 512 x 1024
  input with 11 classes (CamVid), counted by ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2)
  on the meta device, i.e. from the shapes alone: no memory, no arithmetic, and no scaling from a smaller
  input. Element-wise operations (ReLU, batch norm, additions, pooling, resizing) are not counted;
- ONNX Runtime ms: the deployable graph (uint8 NHWC in, labels and margin out, see ``export.py``) of the
  untrained model with 11 classes, exported at 480 x 360 (W x H) and run with the CPU execution provider and
  ``--threads`` intra-op threads; the median of ``--runs`` runs after one warm-up run (``--big-runs`` for
  models over 100 M parameters). Models that need sides divisible by 16 or 32 and do not pad inside their
  graph (FRRN) are exported at the next larger size, given in the last column; the others pad internally.
"""

import argparse
import io
import os
import sys
import time

import numpy as np

# registry name -> (paper, parameters the paper gives (None: it gives none), classes its figure counts)
PAPERS = {
    'fcn32s': ('Long et al., CVPR 2015 (FCN-32s)', 134e6, 21),
    'fcn16s': ('Long et al., CVPR 2015 (FCN-16s)', 134e6, 21),
    'fcn8s': ('Long et al., CVPR 2015 (FCN-8s)', 134e6, 21),
    'deeplab_largefov': ('Chen et al., ICLR 2015 (DeepLab v1 LargeFOV)', 20.5e6, 21),
    'deeplab_v2_aspp': ('Chen et al., TPAMI 2017 (DeepLab v2 ASPP-L, ResNet-101)', None, 21),
    'deconvnet': ('Noh et al., ICCV 2015 (DeconvNet)', 252e6, 21),
    'unet': ('Ronneberger et al., MICCAI 2015 (U-Net)', None, 2),
    'deep_contextual': ('Chen et al., AAAI 2016 (Deep Contextual Networks)', None, 2),
    'fusionnet': ('Quan et al., arXiv 2016 (FusionNet)', None, 2),
    'frrn_a': ('Pohlen et al., CVPR 2017 (FRRN A)', 17.7e6, 19),
    'frrn_b': ('Pohlen et al., CVPR 2017 (FRRN B)', 24.8e6, 19),
    'pspnet': ('Zhao et al., CVPR 2017 (PSPNet, ResNet-50)', None, 19),
    'frrn_cpu': ('not from a paper: FRRN A at half width', None, 19),
    'pspnet_lite0': ('not from a paper: PSPNet head on EfficientNet-Lite0', None, 19),
}
CLASSES = 11                # CamVid
GMAC_HW = (512, 1024)
TIMING_HW = (360, 480)
MEAN, STD = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)


def parameters(name: str, num_classes: int) -> int:
    """Parameter count of ``name`` built on the meta device (no memory is allocated)."""
    import torch

    from seg_perception import models

    with torch.device('meta'):
        net = models.create(name, num_classes=num_classes)
    return sum(p.numel() for p in net.parameters())


def gmacs(name: str, hw=GMAC_HW) -> float:
    """Convolution and matrix-product GMACs of one forward pass at ``hw``, counted from shapes on meta."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from seg_perception import models

    with torch.device('meta'):
        net = models.create(name, num_classes=CLASSES).eval()
        x = torch.empty(1, 3, *hw)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x)
    return counter.get_total_flops() / 2 / 1e9


def timing_size(name: str):
    """The export size for timing: 480 x 360, or the next size the model accepts if it does not pad itself."""
    from seg_perception import models

    import torch

    with torch.device('meta'):
        divisor = getattr(models.create(name, num_classes=CLASSES), 'size_divisor', 1)
    if name.startswith('frrn'):
        return tuple(-(-s // divisor) * divisor for s in TIMING_HW)
    return TIMING_HW    # the others pad inside their graph (or need no padding)


def onnxruntime_ms(name: str, hw, threads: int, runs: int) -> float:
    """Median ONNX Runtime CPU time (ms) of the deployable graph of untrained ``name`` at ``hw``."""
    import onnxruntime as ort
    import torch

    from seg_perception import models
    from seg_perception.export import export_onnx

    torch.manual_seed(0)
    net = models.create(name, num_classes=CLASSES).eval()
    buffer = io.BytesIO()
    export_onnx(net, buffer, hw, MEAN, STD)
    del net
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=['CPUExecutionProvider'])
    image = np.random.default_rng(0).integers(0, 256, (1, *hw, 3), dtype=np.uint8)
    session.run(None, {'image': image})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {'image': image})
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main() -> int:
    """Print the markdown table and the command that made it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=list(PAPERS), help='registry names (default: all)')
    parser.add_argument('--no-timing', action='store_true', help='parameters and GMACs only')
    parser.add_argument('--threads', type=int, default=2, help='ONNX Runtime intra-op threads')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per model (median)')
    parser.add_argument('--big-runs', type=int, default=2, help='timed runs for models over 100 M parameters')
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)    # exporting is single-threaded work; leave the cores to ONNX Runtime's timing
    print('# python benchmarks/architectures.py ' + ' '.join(sys.argv[1:]))
    print(f'# parameters with the paper\'s number of classes; GMACs at {GMAC_HW[1]} x {GMAC_HW[0]} (W x H), '
          f'{CLASSES} classes, convolutions and matrix products only (FlopCounterMode, MACs = FLOPs / 2)')
    if not args.no_timing:
        print(f'# ONNX Runtime CPU execution provider, {args.threads} threads, {os.cpu_count()} CPU cores, median '
              f'of {args.runs} runs ({args.big_runs} over 100 M parameters) after a warm-up, untrained weights')
    header = '| model | paper | parameters, ours (M) | parameters, paper (M) | GMACs at 1024 x 512 |'
    rule = '|---|---|---|---|---|'
    if not args.no_timing:
        header += f' ONNX Runtime CPU ms at 480 x 360 ({args.threads} threads) | timed input (W x H) |'
        rule += '---|---|'
    print(header)
    print(rule)
    for name in args.models:
        paper, paper_params, paper_classes = PAPERS[name]
        ours = parameters(name, paper_classes)
        row = (f'| `{name}` | {paper} | {ours / 1e6:.1f} | '
               f'{"—" if paper_params is None else f"{paper_params / 1e6:.1f}"} | {gmacs(name):.0f} |')
        if not args.no_timing:
            hw = timing_size(name)
            runs = args.big_runs if ours > 100e6 else args.runs
            row += f' {onnxruntime_ms(name, hw, args.threads, runs):.0f} | {hw[1]} x {hw[0]} |'
        print(row, flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
