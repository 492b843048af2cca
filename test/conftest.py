"""Shared fixtures: a tiny deployable model made on the fly, so tests never need the shipped weights."""

import os
import sys

import numpy as np
import pytest

from seg_perception.taxonomy import CAMVID_CLASSES, class_palette

# The colours the palette model tells apart and painted frames are painted in: CamVid's classes in the one
# colour table (each CamVid class has a taxonomy class of its own, so the 11 colours differ).
CAMVID_COLOURS = class_palette(CAMVID_CLASSES)

# A painted frame's grey range is that of the palette (under 140 grey levels), and its flat colours repeat most
# neighbouring pixels: test-time denoising would stretch its contrast and smooth it as pixelated, changing the
# colours a test reads (seg_perception.denoise). Tests that read frames by their colour turn both off with these
# settings (the node's parameter names).
NO_STRETCH = {'denoise_stretch_below_range': 0.0, 'denoise_deblock_above_repeated': 1.0}

HERE = os.path.dirname(os.path.abspath(__file__))
TINY_HW = (48, 64)


def _tiny_net(num_classes):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Tiny(nn.Module):
        """Two convolutions: enough to give distinct, deterministic labels for a colour."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, num_classes, 1)

        def forward(self, x):
            size = x.shape[-2:]
            y = self.conv2(F.relu(self.conv1(F.avg_pool2d(x, 2))))
            return F.interpolate(y, size=size, mode='bilinear', align_corners=False)

    torch.manual_seed(0)
    return Tiny().eval()


@pytest.fixture(scope='module')
def ros(request):
    """(context, executor) on the test module's own ROS domain (its DOMAIN_ID), spun by a background thread."""
    from seg_perception.ros.probe import spinning

    with spinning(request.module.DOMAIN_ID) as (context, executor):
        yield context, executor


@pytest.fixture(autouse=True)
def torch_default_determinism():
    """Every test starts and ends with torch's default: deterministic algorithms off.

    train() turns them on for the whole process, and a session fixture that trains would leave them on for every
    later test (and a warning from each non-deterministic operation they run).
    """
    def reset():
        torch = sys.modules.get('torch')
        if torch is not None:
            torch.use_deterministic_algorithms(False)
    reset()
    yield
    reset()


@pytest.fixture(scope='module')
def single_thread_torch():
    """Tiny inputs gain nothing from intra-op threads, and on a busy 2-core machine they lose 10-100x."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory):
    """Path of the manifest of a tiny exported model (classes = CamVid's 11) at 48 x 64."""
    from seg_perception.export import export_onnx, write_manifest

    folder = tmp_path_factory.mktemp('tiny_model')
    net = _tiny_net(len(CAMVID_CLASSES))
    mean, std = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
    export_onnx(net, str(folder / 'tiny.onnx'), TINY_HW, mean, std)
    return str(write_manifest(str(folder / 'tiny.json'), name='tiny', architecture='tiny', arch_kwargs={},
                              classes=CAMVID_CLASSES, input_hw=TINY_HW, mean=mean,
                              std=std, files={'onnx': 'tiny.onnx'}) and folder / 'tiny.json')


@pytest.fixture
def rgb_frame():
    """A 120 x 160 RGB frame with structure (sky-like top, road-like bottom)."""
    rng = np.random.default_rng(0)
    img = np.zeros((120, 160, 3), np.uint8)
    img[:50] = (140, 170, 220)
    img[50:] = (90, 90, 95)
    return np.clip(img + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)


def _palette_net():
    import torch
    import torch.nn as nn

    class NearestPaletteColour(nn.Module):
        """Labels each pixel with the CamVid class whose colour (CAMVID_COLOURS) is nearest.

        Painted frames then mean what their colours say: a test can paint a hazard (a trailer in the sky's
        colour) and know the labels the node works with.
        """

        def __init__(self):
            super().__init__()
            palette = torch.tensor(CAMVID_COLOURS, dtype=torch.float32)
            self.score = nn.Conv2d(3, len(CAMVID_COLOURS), 1)
            with torch.no_grad():       # -|x - p|^2 = 2 x.p - |p|^2 - |x|^2, and |x|^2 is the same for all p
                self.score.weight.copy_(2 * palette[:, :, None, None] / 1000.0)
                self.score.bias.copy_(-(palette ** 2).sum(1) / 1000.0)

        def forward(self, x):
            return self.score(x)

    return NearestPaletteColour().eval()


@pytest.fixture(scope='session')
def palette_model(tmp_path_factory):
    """Path of the manifest of a model that labels each pixel by its nearest class colour, at 120 x 160."""
    from seg_perception.export import export_onnx, write_manifest

    folder = tmp_path_factory.mktemp('palette_model')
    hw = (120, 160)
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)     # the net takes raw 0..255 colours
    export_onnx(_palette_net(), str(folder / 'palette.onnx'), hw, mean, std)
    write_manifest(str(folder / 'palette.json'), name='palette', architecture='palette', arch_kwargs={},
                   classes=CAMVID_CLASSES, input_hw=hw, mean=mean, std=std,
                   files={'onnx': 'palette.onnx'})
    return str(folder / 'palette.json')


def painted_street(hazard=False):
    """A 120 x 160 street painted in class colours: sky above row 54, road between pavements below.

    With ``hazard``, a trailer painted in the sky's colour crosses the road, rows 58..87, from kerb to kerb. As a
    camera gives it, with a little seeded sensor noise (sigma 2 grey levels, far from any colour's neighbour): a
    frame of flat colours alone reads as one scaled up from a low resolution (trust's ``blocky``).
    """
    sky, road, sidewalk, building = (CAMVID_COLOURS[CAMVID_CLASSES.index(c)] for c in
                                     ('sky', 'road', 'sidewalk', 'building'))
    img = np.zeros((120, 160, 3), np.uint8)
    img[:54] = sky
    img[:54, :20] = img[:54, 140:] = building
    img[54:] = sidewalk
    img[54:, 20:140] = road
    if hazard:
        img[58:88, 10:150] = sky
    noise = np.random.default_rng(0).normal(0.0, 2.0, img.shape)
    return np.clip(np.round(img + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope='session')
def painted_frames():
    """{'clear': painted_street(), 'hazard': painted_street(hazard=True)} (see painted_street)."""
    return {'clear': painted_street(), 'hazard': painted_street(hazard=True)}


# --- bags written with rosbags, as the recorder, carla-capture and eval-bag read them ---------------------------

SECOND = 1_000_000_000


def bag_image_msg(pixels, stamp_ns, encoding):
    """A rosbags sensor_msgs/Image of ``pixels`` stamped ``stamp_ns``, frame 'camera'."""
    from seg_perception.bags.format import TYPESTORE

    types = TYPESTORE.types
    pixels = np.ascontiguousarray(pixels, np.uint8)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    header = types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=stamp_ns // SECOND, nanosec=stamp_ns % SECOND),
        frame_id='camera')
    return types['sensor_msgs/msg/Image'](header=header, height=pixels.shape[0], width=pixels.shape[1],
                                          encoding=encoding, is_bigendian=0, step=pixels.shape[1] * channels,
                                          data=pixels.reshape(-1))


def write_bag(path, messages):
    """An MCAP bag at ``path`` of ``messages``: (topic, receive time ns, rosbags message), in any order."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from seg_perception.bags.format import TYPESTORE

    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    connections = {}
    for topic, receive_ns, msg in sorted(messages, key=lambda m: m[1]):
        if topic not in connections:
            connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=TYPESTORE)
        writer.write(connections[topic], receive_ns, TYPESTORE.serialize_cdr(msg, msg.__msgtype__))
    writer.close()
