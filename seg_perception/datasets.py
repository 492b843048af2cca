"""Labelled image sets for training and evaluation: CamVid (SegNet layout), Cityscapes, rendered scenes, bags.

A dataset here is just two aligned lists, RGB uint8 images and uint8 label maps whose void pixels carry
``ignore_index``. Evaluation (``eval``, ``robustness``, ``scenarios``) reads them as the training does, so they
are in the core; the training's augmentation is ``seg_perception.training.augmentation``.
"""

import os
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from .taxonomy import (CAMVID_CLASSES, CAMVID_VOID, CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_TRAIN_ID, CITYSCAPES_VOID,
                       TAXONOMY_CLASSES, TAXONOMY_IGNORE, taxonomy_lut)

__all__ = ['LabelledImages', 'load', 'load_camvid', 'load_cityscapes', 'relabel', 'rendered_scenes',
           'select_sequences']


@dataclass
class LabelledImages:
    """Images (H x W x 3 RGB uint8) with label maps (H x W uint8) and the class names of the label ids."""

    images: List[np.ndarray]
    labels: List[np.ndarray]
    classes: Tuple[str, ...]
    ignore_index: int
    names: List[str]

    def __len__(self) -> int:
        return len(self.images)


def load_camvid(root: str, split: str = 'train', limit: int = 0) -> LabelledImages:
    """Load a CamVid split from ``root`` (``train.txt`` / ``val.txt`` list ``image label`` pairs)."""
    list_file = os.path.join(root, f'{split}.txt')
    if not os.path.isfile(list_file):
        raise FileNotFoundError(f'CamVid list {list_file} not found; expected the SegNet layout with '
                                f'{split}.txt, {split}/ and {split}annot/ under {root}')
    images, labels, names = [], [], []
    with open(list_file) as f:
        pairs = [line.split() for line in f if line.strip()]
    for image_path, label_path in pairs[:limit or None]:
        image_path = _resolve(root, image_path)
        label_path = _resolve(root, label_path)
        rgb, lab = _image_and_labels(image_path, cv2.imread(label_path, cv2.IMREAD_UNCHANGED), label_path)
        images.append(rgb)
        labels.append(lab)
        names.append(os.path.basename(image_path))
    return LabelledImages(images, labels, CAMVID_CLASSES, CAMVID_VOID, names)


def load_cityscapes(root: str, split: str = 'train', limit: int = 0) -> LabelledImages:
    """Load a Cityscapes split (``leftImg8bit/<split>/<city>/*`` with ``gtFine`` trainIds, or ids mapped to them)."""
    import glob

    pattern = os.path.join(root, 'leftImg8bit', split, '*', '*_leftImg8bit.png')
    paths = sorted(glob.glob(pattern))[:limit or None]
    if not paths:
        raise FileNotFoundError(f'no Cityscapes images match {pattern}; expected the standard layout')
    lut = np.full(256, CITYSCAPES_VOID, np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    images, labels, names = [], [], []
    for path in paths:
        base = path.replace(os.sep + 'leftImg8bit' + os.sep, os.sep + 'gtFine' + os.sep)[:-len('leftImg8bit.png')]
        train_ids = base + 'gtFine_labelTrainIds.png'
        if os.path.isfile(train_ids):
            lab = cv2.imread(train_ids, cv2.IMREAD_UNCHANGED)
        else:
            ids = cv2.imread(base + 'gtFine_labelIds.png', cv2.IMREAD_UNCHANGED)
            lab = None if ids is None else lut[ids]
        rgb, lab = _image_and_labels(path, lab, f'its gtFine labels under {os.path.dirname(base)}')
        images.append(rgb)
        labels.append(lab)
        names.append(os.path.basename(path))
    return LabelledImages(images, labels, CITYSCAPES_CLASSES, CITYSCAPES_VOID, names)


def _image_and_labels(image_path: str, labels, labels_name: str):
    """(RGB, uint8 labels) of one labelled frame; OSError naming both files when either could not be read."""
    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None or labels is None:
        raise OSError(f'cannot read {image_path} or {labels_name}')
    return bgr[:, :, ::-1].copy(), labels.astype(np.uint8)


def _resolve(root: str, path: str) -> str:
    # SegNet's lists carry absolute paths of the machine they were made on; keep the last two components.
    if os.path.isfile(path):
        return path
    parts = path.replace('\\', '/').split('/')
    return os.path.join(root, *parts[-2:])


def rendered_scenes(n: int, seed: int = 0, height: int = 360, width: int = 480,
                    hazards: bool = False, varied: bool = False) -> LabelledImages:
    """``n`` frames of the project's procedural road scenes (CamVid ids) with exact labels.

    ``hazards``: alternate the hazard suite's cases (trailers and truck sides across the road, overpasses,
    tunnel exits, low sun) with plain streets; frame i uses scenario seed ``50000 + seed * 100003 + i``, far from
    the seeds the scenario figures are measured on (0..199 for tuning, 1000..1299 held out).

    ``varied``: frames of :func:`seg_perception.sim.scenes.varied_options` (camera height, field of view, pitch,
    aspect, hood, white vehicles, dusk or night, wet roads), frame i from seed ``70000 + seed * 100003 + i``; their
    sizes are ``VARIED_SIZES`` times ``height / 360`` (``width`` is not used), so one set holds several sizes.
    Each is named for what it drew, e.g. ``varied_0_12_night_wet_hood``. With ``hazards`` too, the even frames
    are hazard cases and the odd ones varied.
    """
    from .sim.scenes import render_frame, render_scene, varied_options

    images, labels, names = [], [], []
    for i in range(n):
        if hazards and (not varied or i % 2 == 0):
            from .sim.scenarios import scenario

            frame = scenario(50000 + seed * 100003 + i, hazardous=i % 2 == 0).render(height, width)
            rgb, lab, name = frame.rgb, frame.labels, f'scene_{seed}_{i}'
        elif varied:
            options = varied_options(70000 + seed * 100003 + i, height / 360.0)
            frame = render_frame(70000 + seed * 100003 + i, **options)
            rgb, lab, name = frame.rgb, frame.labels, '_'.join([f'varied_{seed}_{i}'] + _varied_tags(options))
        else:
            rgb, lab = render_scene(seed * 100003 + i, height=height, width=width, t=float(i % 7) * 0.3)
            name = f'scene_{seed}_{i}'
        images.append(rgb)
        labels.append(lab)
        names.append(name)
    return LabelledImages(images, labels, CAMVID_CLASSES, CAMVID_VOID, names)


def _varied_tags(options: dict) -> List[str]:
    """What a varied frame drew beyond its camera: its light, a wet road, white vehicles, a hood."""
    return ([options['light']] if options.get('light', 'day') != 'day' else []) \
        + (['wet'] if options.get('wet') else []) + (['white'] if options.get('white_vehicles') else []) \
        + (['hood'] if options.get('hood') else [])


def load(name: str, root: str, split: str, limit: int = 0, seed: int = 0, **bag_topics) -> LabelledImages:
    """A labelled split by dataset name: camvid, cityscapes, rendered (``limit`` frames) or bag.

    ``bag``: ``root`` is a rosbag2 bag; ``bag_topics`` (image_topic, gt_topic, gt_format) say where its frames
    and ground truth are (seg_perception.bags.dataset; reads the bag with rosbags, no ROS needed).
    """
    if name == 'bag':
        from .bags.dataset import load_bag

        return LabelledImages(**load_bag(root, split, limit, **bag_topics)._asdict())
    if name == 'camvid':
        return load_camvid(root, split, limit=limit)
    if name == 'cityscapes':
        return load_cityscapes(root, split, limit=limit)
    if name == 'rendered':
        # val frames come from other seeds than train frames
        return rendered_scenes(limit or 64, seed=seed + (0 if split == 'train' else 10_000))
    raise ValueError(f'unknown dataset {name!r}; use camvid, cityscapes, rendered or bag')


def select_sequences(data: LabelledImages, include: Sequence[str] = (), exclude: Sequence[str] = (),
                     what: str = 'the split') -> LabelledImages:
    """The frames whose names start with one of ``include`` (all when empty) and with none of ``exclude``.

    CamVid's names begin with their sequence (``0001TP``, ``0006R0``, ``0016E5``, ``Seq05VD``), so a prefix keeps or
    leaves out whole sequences. ValueError when a prefix matches no frame (a typo would otherwise go unnoticed).
    """
    for prefix in (*include, *exclude):
        if not any(name.startswith(prefix) for name in data.names):
            found = sorted({name.split('_')[0] for name in data.names})
            raise ValueError(f'no frame of {what} starts with {prefix!r}; its frames begin with '
                             f'{", ".join(found[:8])}{", ..." if len(found) > 8 else ""}')
    keep = [i for i, name in enumerate(data.names)
            if (not include or name.startswith(tuple(include))) and not (exclude and name.startswith(tuple(exclude)))]
    return LabelledImages([data.images[i] for i in keep], [data.labels[i] for i in keep], data.classes,
                          data.ignore_index, [data.names[i] for i in keep])


def relabel(data: LabelledImages, classes: Sequence[str], what: str = 'the data') -> LabelledImages:
    """``data`` with its labels as ids of ``classes``, through the shared taxonomy; ``data`` itself if they match.

    For fine-tuning a model on data labelled in other classes (a bag's taxonomy ids, a CamVid model): each
    class of ``data`` goes to the one class of ``classes`` with its taxonomy class. Unscored pixels (void,
    classes outside the taxonomy) become TAXONOMY_IGNORE (255). ValueError when a labelled class of ``data`` has
    no class, or several, in ``classes``: the model could not learn it, or the labels would be ambiguous.
    """
    classes = tuple(classes)
    if tuple(data.classes) == classes:
        return data
    to_tax, from_model = taxonomy_lut(data.classes), taxonomy_lut(classes)
    lut = np.full(256, TAXONOMY_IGNORE, np.uint8)
    problems = []
    for source, name in enumerate(data.classes):
        if to_tax[source] == TAXONOMY_IGNORE:
            continue
        targets = np.flatnonzero(from_model[:len(classes)] == to_tax[source])
        if len(targets) != 1:
            problems.append(f'{name} ({TAXONOMY_CLASSES[to_tax[source]]}: '
                            f'{" / ".join(classes[t] for t in targets) or "no class"})')
        else:
            lut[source] = targets[0]
    if problems:
        raise ValueError(f'{what} is labelled in {", ".join(data.classes)}, which does not map one to one onto the '
                         f'model\'s {", ".join(classes)}: {"; ".join(problems)}')
    if data.ignore_index < 256:
        lut[data.ignore_index] = TAXONOMY_IGNORE
    return LabelledImages(data.images, [lut[lab] for lab in data.labels], classes, TAXONOMY_IGNORE, data.names)
