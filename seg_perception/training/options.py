"""The options of ``seg-perception train``, apart from the training code so that they load without PyTorch.

``seg-perception --help`` and every other subcommand build the whole parser; keeping these definitions free of
torch lets the inference-only install (no ``[train]`` extra) show ``train --help`` and run the rest.
"""

import argparse
import json
from typing import Dict, Tuple


def _json_object(text: str) -> Dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f'not JSON: {exc}') from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object such as {{"refine": true}}, got {text!r}')
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number from 0 to 1, got {text!r}') from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f'expected a number from 0 to 1, got {text!r}')
    return value


def _scale_range(text: str) -> Tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected LO,HI such as 0.75,1.5, got {text!r}') from None
    if not 0 < lo <= hi <= 8:
        raise argparse.ArgumentTypeError(f'expected 0 < LO <= HI <= 8, got {text!r}')
    return lo, hi


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``seg-perception train``."""
    parser.add_argument('--model', default='pspnet_lite0',
                        help='architecture name from seg_perception.models.names() (an unknown name lists them)')
    parser.add_argument('--arch-kwargs', type=_json_object, default={},
                        help='JSON object of constructor options, e.g. \'{"refine": true}\' (kept in the manifest)')
    parser.add_argument('--dataset', choices=('camvid', 'cityscapes', 'rendered', 'bag'), default='camvid',
                        help='training data: CamVid (SegNet split), Cityscapes, rendered street scenes, or a '
                             'recorded bag with a ground-truth topic')
    parser.add_argument('--root', '--camvid', dest='root', default='../shared/datasets/camvid',
                        help='dataset root (CamVid SegNet layout, or Cityscapes leftImg8bit/ + gtFine/), or the '
                             'bag for --dataset bag')
    parser.add_argument('--image-topic', default='/carla/ego_vehicle/rgb_front/image',
                        help='--dataset bag: the camera topic')
    parser.add_argument('--gt-topic', default='/carla/ego_vehicle/semantic_segmentation_front/image',
                        help='--dataset bag: the ground-truth label-image topic (paired with frames by stamp)')
    parser.add_argument('--gt-format', default='carla_palette',
                        help='--dataset bag: carla, carla_legacy, carla_palette, cityscapes or camvid (labels '
                             'are read as the shared taxonomy\'s ids)')
    parser.add_argument('--encoder-weights', choices=('imagenet', 'none'), default='imagenet',
                        help='start the encoder from ImageNet weights (the *_lite0 models) or from scratch')
    parser.add_argument('--rendered', type=int, default=0, help='add this many rendered scenes to the train set')
    parser.add_argument('--rendered-hazards', action='store_true',
                        help='render the hazard suite\'s cases (trailers across the road, tunnels, ...) for --rendered')
    parser.add_argument('--rendered-varied', action='store_true',
                        help='varied --rendered frames: camera height, field of view, pitch, aspect, hood, white '
                             'vehicles, dusk and night, wet roads (with --rendered-hazards: every other frame)')
    parser.add_argument('--init-from', default='', help='start from these weights (a shipped .pt or a checkpoint)')
    parser.add_argument('--iters', type=int, default=2000, help='training iterations (the poly schedule spans them)')
    parser.add_argument('--batch-size', type=int, default=8, help='per process (per GPU with torchrun)')
    parser.add_argument('--crop-height', type=int, default=288, help='training crop height, pixels')
    parser.add_argument('--crop-width', type=int, default=384, help='training crop width, pixels')
    parser.add_argument('--scale-range', type=_scale_range, default=(0.75, 1.5), metavar='LO,HI',
                        help='random rescaling of each training image before the crop (default 0.75,1.5)')
    parser.add_argument('--rare-crops', type=_share, default=0.0,
                        help='share of crops placed on a pixel of a class present in the image, drawn inversely to '
                             'its pixel share (default 0: crops anywhere)')
    parser.add_argument('--augment', choices=('standard', 'robust'), default='standard',
                        help='standard: scale, crop, flip, colour jitter; robust: also sensor noise, blur, weather, '
                             'exposure, low light, colour, JPEG, aspect and roll (albumentations; '
                             'seg_perception.training.robust_augment)')
    parser.add_argument('--augment-strength', type=float, default=1.0,
                        help='--augment robust: magnitude of every corruption, 0 (none) to 2 (default 1)')
    parser.add_argument('--augment-p', type=float, default=1.0,
                        help='--augment robust: scale of every group\'s probability, 0 (scale, crop, flip only) to 4 '
                             '(default 1)')
    parser.add_argument('--exclude-seq', nargs='+', default=[], metavar='PREFIX',
                        help='leave out the training frames whose names start with PREFIX (a CamVid sequence such as '
                             '0006R0, held out to choose on)')
    parser.add_argument('--lr', type=float, default=1e-3, help='peak learning rate (AdamW, poly decay power 0.9)')
    parser.add_argument('--weight-decay', type=float, default=1e-4, help='AdamW weight decay')
    parser.add_argument('--loss', choices=('ce', 'bootstrap', 'ce+lovasz'), default='ce',
                        help='cross-entropy, FRRN\'s bootstrapped cross-entropy over the hardest pixels, or '
                             'cross-entropy plus the Lovasz-softmax loss (on the main output)')
    parser.add_argument('--bootstrap-fraction', type=float, default=1 / 64,
                        help='share of pixels the bootstrapped loss keeps (FRRN: 512 x 64 of 1024 x 2048 = 1/64)')
    parser.add_argument('--class-weight-power', type=float, default=0.0,
                        help='median-frequency balancing exponent (0 = off, 1 = SegNet)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the batches, augmentation and initialisation (a resumed run continues it)')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads for training (0 = PyTorch\'s default)')
    parser.add_argument('--cpu', action='store_true', help='train on the CPU even when CUDA is available')
    parser.add_argument('--no-amp', action='store_true', help='no mixed precision on CUDA')
    parser.add_argument('--limit', type=int, default=0, help='use only the first N images of each split')
    parser.add_argument('--out', default='runs/train', help='checkpoint and log folder (resumes from last.pt)')
    parser.add_argument('--restart', action='store_true', help='ignore an existing checkpoint')
    parser.add_argument('--stop-after', type=int, default=0,
                        help='stop after this many iterations in this run (the schedule still spans --iters)')
    parser.add_argument('--budget-min', type=float, default=0,
                        help='train for this many minutes of wall-clock time with the poly schedule spanning '
                             'the time instead of --iters (a fixed budget to compare models by; not resumable)')
    parser.add_argument('--time-limit-min', type=float, default=0,
                        help='stop (with a checkpoint) after this many minutes; the same command resumes')
    parser.add_argument('--log-every', type=int, default=10, help='append the mean loss to log.csv every N iterations')
    parser.add_argument('--save-every', type=int, default=100, help='write the checkpoint every N iterations')
    parser.add_argument('--val', action='store_true', help='evaluate on the val split at the end')
    parser.add_argument('--val-every', type=int, default=0, help='also evaluate every N iterations (val.csv)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--export', default='', help='folder to write ONNX + manifest into after training')
    parser.add_argument('--name', default='model', help='file name of the exported model (<name>.onnx, .pt, .json)')
    parser.add_argument('--input-height', type=int, default=360, help='network input height of the exported model')
    parser.add_argument('--input-width', type=int, default=480, help='network input width of the exported model')
    parser.add_argument('--hardware', default='2-core x86_64 CPU',
                        help='what the training ran on, recorded in the manifest')
