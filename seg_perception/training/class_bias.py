"""Per-class logit offsets that maximise mIoU, chosen on the split a model was trained on.

Class-weighted training (median-frequency balancing, as SegNet did on CamVid) moves every decision boundary: a
weighted class wins pixels it would lose at equal cost, so the arg-max over-predicts weighted classes that look
like their neighbours (pedestrian, fence, bicyclist) and still under-predicts the thinnest, whose pixels are mostly
boundary (pole). IoU punishes both. One offset per class, added to the logits before the arg-max, moves the
boundaries back; the offsets are chosen by coordinate ascent on the mIoU of a labelled split (the training split:
never the split whose figures are reported). They change the labels and the softmax margin and nothing else, and
cost one Add in the deployed graph (:class:`seg_perception.export.DeployGraph`).

Offsets that only serve mIoU could move pixels where the node's safety rests: an obstacle's pixels into the
drivable road or into the sky (the accident this project exists for), or a tree's or a tunnel portal's into a
vehicle, which the floating-vehicle check alarms on. So by default the search keeps three orders
(:func:`safety_orders`): a drivable class never takes pixels from an obstacle class, nor does sky, and a vehicle
class never takes them from a static obstacle (offset of the first <= offset of the second). A move that would
break one carries the other class along, so every offset tried keeps them.

Usable from a script::

    model, mean, std = class_bias.load_torch_model(ModelFiles.load('pspnet_lite0_camvid'))
    logits, labels = class_bias.collect_logits(model, data, mean, std, input_hw=(360, 480))
    found = class_bias.search(logits, labels, len(data.classes))
"""

import argparse
import json
import os
import shutil
import sys
import time
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .. import framing, metrics
from ..framing import DEFAULT_ASPECT
from ..model_files import ModelFiles, ModelFileError
from ..taxonomy import drivable_ids, obstacle_ids, sky_ids, static_ids, vehicle_ids

STEPS = (1.0, 0.5, 0.25)
ROUNDS = 3


def load_torch_model(model: ModelFiles):
    """The registry model of ``model``'s torch weights (float32, eval mode) and its normalisation."""
    from ..backends.torch_backend import load_module

    mean, std = model.mean_std
    return load_module(model), mean, std


def collect_logits(module, data, mean: Sequence[float], std: Sequence[float], input_hw: Tuple[int, int],
                   stride: int = 2, progress: bool = False,
                   aspect: str = DEFAULT_ASPECT) -> Tuple[np.ndarray, np.ndarray]:
    """Raw logits (P x C float32) and labels (P int64) at every ``stride``-th pixel both ways, void dropped.

    Images go into the network the way Segmenter sends them (``aspect``: seg_perception.framing; a frame of the
    network's aspect is resized to it, area or bilinear), the windows' logits merged back; label maps follow to
    the frame's size at the network's scale by nearest neighbour.
    """
    import torch

    if stride < 1:
        raise ValueError(f'stride must be at least 1, got {stride}')
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    h, w = input_hw
    all_logits, all_labels = [], []
    items = zip(data.images, data.labels)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, total=len(data), desc='logits', unit='frame')
    with torch.inference_mode():
        for image, labels in items:
            plan = framing.plan(image.shape[:2], (h, w), aspect)
            windows, _ = framing.network_images(image, plan, mean)
            ch, cw = plan.content_hw
            if labels.shape != (ch, cw):
                labels = cv2.resize(labels, (cw, ch), interpolation=cv2.INTER_NEAREST_EXACT)
            x = (torch.from_numpy(np.ascontiguousarray(windows)).permute(0, 3, 1, 2).float() - mean_t) / std_t
            out = module(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            merged = framing.merge(list(out.float().permute(0, 2, 3, 1).numpy()), plan)
            logits = merged[::stride, ::stride].reshape(-1, out.shape[1])
            labels = labels[::stride, ::stride].reshape(-1).astype(np.int64)
            keep = (labels >= 0) & (labels < out.shape[1])
            all_logits.append(logits[keep])
            all_labels.append(labels[keep])
    return np.concatenate(all_logits), np.concatenate(all_labels)


def confusion(logits: np.ndarray, labels: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Confusion matrix (truth x prediction) of the arg-max of ``logits + bias``."""
    pred = np.argmax(logits + bias.astype(logits.dtype), axis=1)
    return metrics.confusion_matrix(labels, pred, logits.shape[1])


def mean_iou(conf: np.ndarray) -> float:
    """mIoU (0..1) over the classes present in the truth or the prediction."""
    iou = metrics.iou_per_class(conf)
    return float(np.nanmean(iou))


def safety_orders(classes: Sequence[str]) -> List[Tuple[int, int]]:
    """Pairs (a, b): class a must never take pixels from class b, so offset[a] <= offset[b].

    Drivable and sky classes never take pixels from obstacle classes; vehicle classes never take them from
    static obstacles (seg_perception.taxonomy names them).
    """
    obstacles = obstacle_ids(classes)
    pairs = [(a, b) for a in drivable_ids(classes) + sky_ids(classes) for b in obstacles]
    pairs += [(a, b) for a in vehicle_ids(classes) for b in static_ids(classes)]
    return [(a, b) for a, b in pairs if a != b]


def _keep_orders(bias: np.ndarray, orders: Sequence[Tuple[int, int]], raised: bool) -> np.ndarray:
    """Restore offset[a] <= offset[b] for every order after one offset moved (raised: pull b up, else a down)."""
    changed = True
    while changed:
        changed = False
        for a, b in orders:
            if bias[a] > bias[b] + 1e-6:
                if raised:
                    bias[b] = bias[a]
                else:
                    bias[a] = bias[b]
                changed = True
    return bias


def centred(bias: np.ndarray) -> np.ndarray:
    """The same offsets with the median class at 0.

    Adding one constant to every logit changes no label and no softmax margin, so only the differences mean
    anything, and most classes then read 0.
    """
    bias = np.asarray(bias, np.float32)
    return bias - np.float32(np.median(bias))


def search(logits: np.ndarray, labels: np.ndarray, num_classes: int, steps: Sequence[float] = STEPS,
           rounds: int = ROUNDS, orders: Sequence[Tuple[int, int]] = ()) -> Dict:
    """Coordinate ascent on mIoU: each round tries every class's offset +/- each step, keeping what improves.

    Starts from zero offsets; every offset tried keeps ``orders`` (pairs (a, b): offset[a] <= offset[b], see
    :func:`safety_orders`). Returns the offsets, the mIoU and per-class IoU before and after, and the rounds.
    """
    if logits.ndim != 2 or logits.shape[1] != num_classes or len(logits) != len(labels):
        raise ValueError(f'logits must be P x {num_classes} with one label per row, got {logits.shape} and '
                         f'{labels.shape}')
    if rounds < 1 or not steps or any(s <= 0 for s in steps):
        raise ValueError(f'rounds must be >= 1 and steps positive, got rounds {rounds}, steps {list(steps)}')
    if any(not (0 <= a < num_classes and 0 <= b < num_classes) or a == b for a, b in orders):
        raise ValueError(f'orders must pair two different class ids below {num_classes}, got {list(orders)}')
    bias = np.zeros(num_classes, np.float32)
    before = confusion(logits, labels, bias)
    best = mean_iou(before)
    history = []
    for _ in range(rounds):
        for c in range(num_classes):
            for step in sorted({s * sign for s in steps for sign in (-1, 1)}):
                trial = bias.copy()
                trial[c] += step
                trial = _keep_orders(trial, orders, step > 0)
                score = mean_iou(confusion(logits, labels, trial))
                if score > best + 1e-6:
                    best, bias = score, trial
        history.append({'bias': [round(float(b), 4) for b in bias], 'miou': round(100 * best, 2)})
    bias = centred(bias)
    after = confusion(logits, labels, bias)
    return {'bias': bias, 'miou_before': 100 * mean_iou(before), 'miou_after': 100 * best,
            'iou_before': 100 * metrics.iou_per_class(before), 'iou_after': 100 * metrics.iou_per_class(after),
            'rounds': history}


def write_model(model: ModelFiles, module, bias: Sequence[float], folder: str, name: str, record: Dict) -> str:
    """Export ``module`` with ``bias`` into ``folder``: ONNX (offsets in the graph), the .pt, and the manifest.

    The manifest is ``model``'s with the new files, their sha256, and ``class_bias`` (the offsets and ``record``);
    its validation figures are dropped, since they were measured without the offsets. Returns its path.
    """
    from ..export import carried_fields, export_onnx, write_manifest

    os.makedirs(folder, exist_ok=True)
    bias = [round(float(b), 4) for b in bias]
    export_onnx(module, os.path.join(folder, name + '.onnx'), model.input_hw, *model.mean_std, class_bias=bias)
    src = model.path('torch')
    dst = os.path.join(folder, name + '.pt')
    if os.path.abspath(src) != os.path.abspath(dst):
        shutil.copyfile(src, dst)
    m = model.manifest
    extra = carried_fields(m)
    extra['class_bias'] = {'values': bias, **record}
    training = dict(m.get('training', {}))
    training['base_model'] = f'{m["name"]} (sha256 of its .pt {m["sha256"].get("torch", "?")[:16]}...)'
    path = os.path.join(folder, name + '.json')
    write_manifest(path, name=name, architecture=m.get('architecture', ''), arch_kwargs=m.get('arch_kwargs', {}),
                   classes=model.classes, input_hw=model.input_hw, mean=model.mean_std[0],
                   std=model.mean_std[1], files={'onnx': name + '.onnx', 'torch': name + '.pt'},
                   training=training, validation={}, extra=extra)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``seg-perception class-bias`` options."""
    parser.add_argument('--model', required=True, help='model manifest/.pt path or name; needs its .pt weights')
    parser.add_argument('--dataset', choices=('camvid', 'cityscapes', 'rendered', 'bag'), default='camvid',
                        help='labelled data the model was trained on (its classes must match the model\'s)')
    parser.add_argument('--root', default='../shared/datasets/camvid', help='dataset root (bag: the bag)')
    parser.add_argument('--split', default='train',
                        help='the split to choose the offsets on (default train; never the one you report)')
    parser.add_argument('--limit', type=int, default=0, help='first N frames only (rendered: number of frames)')
    parser.add_argument('--exclude-seq', nargs='+', default=[], metavar='PREFIX',
                        help='leave out the frames whose names start with PREFIX (a sequence held out to choose on)')
    parser.add_argument('--sequence', nargs='+', default=[], metavar='PREFIX',
                        help='only the frames whose names start with PREFIX: choose on a sequence the model did not '
                             'train on (e.g. 0006R0 after train --exclude-seq 0006R0)')
    parser.add_argument('--stride', type=int, default=2, help='score every N-th pixel both ways (default 2)')
    parser.add_argument('--rounds', type=int, default=ROUNDS, help=f'coordinate-ascent rounds (default {ROUNDS})')
    parser.add_argument('--unconstrained', action='store_true',
                        help='drop the safety orders (drivable and sky never take obstacle pixels, vehicles never '
                             'take static obstacles\' pixels); mIoU alone then decides')
    parser.add_argument('--out', required=True, help='folder to write the model with the offsets into')
    parser.add_argument('--name', default='', help='model name (default: the input model\'s)')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads for torch (0 = all cores)')
    parser.add_argument('--image-topic', default='/carla/ego_vehicle/rgb_front/image',
                        help='--dataset bag: the camera topic (default: carla-capture\'s, as train)')
    parser.add_argument('--gt-topic', default='/carla/ego_vehicle/semantic_segmentation_front/image',
                        help='--dataset bag: the ground-truth label-image topic (paired with frames by stamp)')
    parser.add_argument('--gt-format', default='carla_palette',
                        help='--dataset bag: carla, carla_legacy, carla_palette, cityscapes or camvid')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args, command_line: str) -> int:
    """Choose offsets and write the model: 0 when done, 2 with one line on stderr for what cannot work."""
    import torch

    from .. import datasets

    try:
        if args.stride < 1 or args.rounds < 1:
            raise ValueError(f'--stride and --rounds must be at least 1, got {args.stride} and {args.rounds}')
        model = ModelFiles.load(args.model)
        module, mean, std = load_torch_model(model)
        bag = dict(image_topic=args.image_topic, gt_topic=args.gt_topic, gt_format=args.gt_format) \
            if args.dataset == 'bag' else {}
        data = datasets.load(args.dataset, args.root, args.split, args.limit, **bag)
        if args.exclude_seq or args.sequence:
            data = datasets.select_sequences(data, include=args.sequence, exclude=args.exclude_seq,
                                             what=f'{args.dataset} {args.split}')
        # a bag's taxonomy ids as the model's own (a model fine-tuned from the CamVid one keeps CamVid's classes)
        data = datasets.relabel(data, model.classes, f'{args.dataset} {args.split}')
    except (ValueError, OSError, ModelFileError, KeyError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    logits, labels = collect_logits(module, data, mean, std, model.input_hw, args.stride, not args.no_progress)
    orders = [] if args.unconstrained else safety_orders(model.classes)
    found = search(logits, labels, len(model.classes), rounds=args.rounds, orders=orders)
    wall = time.perf_counter() - t0
    record = {
        'chosen_on': f'{args.dataset} {args.split}'
                     + (f' sequence {", ".join(args.sequence)}' if args.sequence else '')
                     + (f' without {", ".join(args.exclude_seq)}' if args.exclude_seq else '')
                     + f' ({len(data)} frames, one pixel in {args.stride} both ways, '
                     f'{len(labels)} labelled pixels)',
        'objective': 'mIoU of the arg-max of logits + offsets, coordinate ascent from zero, steps '
                     f'+/-{", ".join(f"{s:g}" for s in STEPS)}, {args.rounds} rounds',
        'orders': [f'{model.classes[a]} <= {model.classes[b]}' for a, b in orders],
        f'{args.split}_miou_before': round(found['miou_before'], 2),
        f'{args.split}_miou_after': round(found['miou_after'], 2),
        'command': command_line,
        'wall_s': round(wall, 1),
    }
    path = write_model(model, module, found['bias'], args.out, args.name or model.name, record)
    print(f'{"class":<12} {"offset":>7} {"IoU before":>11} {"IoU after":>10}   ({args.dataset} {args.split})')
    for c, name in enumerate(model.classes):
        print(f'{name:<12} {found["bias"][c]:>7.2f} {found["iou_before"][c]:>11.1f} {found["iou_after"][c]:>10.1f}')
    print(f'{"mIoU":<12} {"":>7} {found["miou_before"]:>11.2f} {found["miou_after"]:>10.2f}')
    print(f'wrote {path} ({wall:.0f} s); measure it on another split: seg-perception eval --model {path}')
    print(json.dumps({'class_bias': [float(b) for b in found['bias']]}))
    return 0
