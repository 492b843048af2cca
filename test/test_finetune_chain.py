"""Fine-tuning on your own camera, end to end: a bag in CARLA's layout -> train -> class-bias -> the node's model.

The chain of doc/training.md ("Fine-tuning on your own camera") on a small generated drive: rendered street
frames written by carla-capture's bag writer on carla-ros-bridge's topics, the semantic camera as CARLA's
CityScapesPalette (what the bridge publishes), 2:1 like a wide camera. ``train --dataset bag --init-from`` the
shipped weights for a few iterations at a tiny input, ``class-bias`` on the bag's train split, then the model
with the offsets loads in ``Segmenter.from_model`` (what the node's ``model`` parameter does) and segments a
frame of the camera.
"""

import json

import numpy as np
import pytest

from seg_perception import datasets
from seg_perception.bags.carla_capture import CARLA_TOPICS, CameraSpec, CaptureBag
from seg_perception.cli import main
from seg_perception.model_files import default_model
from seg_perception.taxonomy import (CAMVID_CLASSES, CARLA_PALETTE, CARLA_TAGS, TAXONOMY_CLASSES, taxonomy_lut,
                                     to_taxonomy)

SPEC = CameraSpec(width=128, height=64, fov_deg=90.0)      # 2:1
FRAMES = 5                                                  # 4 train, 1 val (every 5th)
INPUT = ['--input-height', '48', '--input-width', '64']


def carla_palette_bgra(labels_camvid: np.ndarray) -> np.ndarray:
    """CamVid labels as the BGRA image of CARLA's semantic camera in CityScapesPalette (void: unlabeled)."""
    carla_to_taxonomy = taxonomy_lut(CARLA_TAGS)
    colours = np.zeros((256, 3), np.uint8)          # unlabeled's black for void and anything unscored
    for t in range(len(TAXONOMY_CLASSES)):
        colours[t] = CARLA_PALETTE[int(np.flatnonzero(carla_to_taxonomy[:len(CARLA_TAGS)] == t)[0])]
    rgb = colours[to_taxonomy(labels_camvid, CAMVID_CLASSES)]
    return np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
    """A bag of FRAMES rendered ticks in carla-capture's layout, with the frames and their CamVid labels."""
    data = datasets.rendered_scenes(FRAMES, seed=7, height=SPEC.height, width=SPEC.width)
    path = str(tmp_path_factory.mktemp('drive') / 'bag')
    with CaptureBag(path, SPEC, layout='carla_palette') as bag:
        for i, (rgb, labels) in enumerate(zip(data.images, data.labels)):
            bgra = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
            bag.write(i, (i + 1) * 50_000_000, bgra, carla_palette_bgra(labels))
    return path, data


def test_the_bag_reads_back_as_the_renderer_drew_it(drive):
    path, data = drive
    train = datasets.load('bag', path, 'train', image_topic=CARLA_TOPICS['image'], gt_topic=CARLA_TOPICS['semantic'],
                          gt_format='carla_palette')
    assert len(train) == 4 and train.classes == TAXONOMY_CLASSES
    assert np.array_equal(train.images[0], data.images[0])
    assert np.array_equal(train.labels[0], to_taxonomy(data.labels[0], CAMVID_CLASSES))


def test_fine_tuning_chain_from_a_carla_bag_to_the_segmenter(drive, tmp_path, capsys):
    torch = pytest.importorskip('torch')
    pytest.importorskip('onnx')
    from seg_perception.segmenter import Segmenter

    bag, data = drive
    shipped = default_model()
    weights = shipped.path('torch')
    arch_kwargs = json.dumps(shipped.manifest['arch_kwargs'])
    # the documented chain, the defaults of --image-topic, --gt-topic and --gt-format being carla-capture's
    assert main(['train', '--dataset', 'bag', '--root', bag, '--init-from', weights,
                 '--model', shipped.manifest['architecture'], '--arch-kwargs', arch_kwargs,
                 '--iters', '3', '--batch-size', '2', '--crop-height', '48', '--crop-width', '64', '--lr', '1e-4',
                 '--threads', '1', '--no-progress', '--out', str(tmp_path / 'run'),
                 '--export', str(tmp_path / 'export'), '--name', 'my_camera', *INPUT]) == 0
    out = capsys.readouterr().out
    assert 'labels read as the classes of' in out             # taxonomy ids -> the CamVid head's own channels
    manifest = json.loads((tmp_path / 'export' / 'my_camera.json').read_text())
    assert manifest['classes'] == list(CAMVID_CLASSES) and manifest['input']['height'] == 48
    assert main(['class-bias', '--dataset', 'bag', '--root', bag, '--split', 'train', '--rounds', '1',
                 '--model', str(tmp_path / 'export' / 'my_camera.json'), '--threads', '1', '--no-progress',
                 '--out', str(tmp_path / 'biased')]) == 0
    biased = tmp_path / 'biased' / 'my_camera.json'
    assert len(json.loads(biased.read_text())['class_bias']['values']) == len(CAMVID_CLASSES)

    # the weights start from the shipped ones: after 3 small steps they are near them, not a fresh initialisation
    start = torch.load(weights, map_location='cpu', weights_only=False)['state_dict']
    tuned = torch.load(str(tmp_path / 'biased' / 'my_camera.pt'), map_location='cpu', weights_only=False)
    tuned = tuned.get('state_dict', tuned)
    layers = [k for k, v in start.items() if v.is_floating_point() and v.ndim == 4]
    for key in (layers[0], 'head.2.weight'):
        change = float((tuned[key].float() - start[key].float()).norm() / start[key].float().norm())
        assert 0 < change < 0.1, (key, change)

    seg = Segmenter.from_model(str(biased), threads=1)      # what the node's model parameter loads
    frame = data.images[1]
    for aspect in ('squash', 'letterbox', 'tiles'):
        seg.aspect = aspect
        out = seg.segment(frame)
        assert out.labels.shape == frame.shape[:2] and out.classes == CAMVID_CLASSES
        assert out.labels.max() < len(CAMVID_CLASSES) and np.isfinite(out.margin_net).all()
