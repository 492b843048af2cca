"""Frames of another aspect than the network's: squash, letterbox and tiles, on hand-made arrays."""

import numpy as np
import pytest

from seg_perception import framing
from seg_perception.backends import Backend
from seg_perception.framing import ASPECTS, merge, network_images, plan, to_network_size
from seg_perception.safety_config import SafetyConfig
from seg_perception.segmenter import Segmenter

from conftest import NO_STRETCH

NET = (48, 64)      # 4:3, as the shipped 408 x 544


def column_image(h, w):
    """H x W x 3 uint8 whose red channel is the column index (mod 256) and green the row index."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None, :] % 256
    img[..., 1] = np.arange(h)[:, None] % 256
    return img


def test_a_frame_of_the_networks_aspect_goes_in_as_today_in_every_mode():
    frame = column_image(360, 480)
    for aspect in ASPECTS:
        p = plan(frame.shape[:2], NET, aspect)
        images, content = network_images(frame, p)
        assert p.aspect == 'squash' and p.count == 1 and p.content_hw == NET
        assert np.array_equal(images[0], to_network_size(frame, NET)) and np.array_equal(content, images[0])


def test_letterbox_keeps_the_aspect_and_pads_with_the_fill_colour():
    frame = np.full((100, 200, 3), 200, np.uint8)       # 2:1
    p = plan(frame.shape[:2], NET, 'letterbox')
    assert p.content_hw == (32, 64) and p.offsets == ((-8, 0),)
    images, content = network_images(frame, p, fill=(127, 127, 127))
    assert images.shape == (1, *NET, 3) and content.shape == (32, 64, 3)
    assert (images[0, :8] == 127).all() and (images[0, 40:] == 127).all() and (images[0, 8:40] == 200).all()


def test_letterbox_padding_never_reaches_the_output():
    p = plan((100, 200), NET, 'letterbox')
    out = np.full(NET, 9, np.uint8)                     # the padding's rows say 9, the frame's rows 1
    out[8:40] = 1
    assert (merge([out], p) == 1).all()
    tall = plan((200, 100), NET, 'letterbox')           # a portrait frame pads left and right
    assert tall.content_hw == (48, 24) and tall.offsets == ((0, -20),)


def test_tiles_cover_every_column_once_from_the_window_whose_centre_is_nearest():
    p = plan((1024, 2048), (408, 544), 'tiles')
    assert p.content_hw == (408, 816) and p.offsets == ((0, 0), (0, 272)) and p.owned == ((0, 408), (408, 816))
    p = plan((1080, 1920), (408, 544), 'tiles')
    assert p.content_hw == (408, 725) and p.count == 2
    starts, stops = zip(*p.owned)
    assert starts[0] == 0 and stops[-1] == 725 and all(a == b for a, b in zip(stops, starts[1:]))
    for (_, x), (start, stop) in zip(p.offsets, p.owned):
        assert x <= start and stop <= x + 544           # every owned column lies inside its window


def test_tiles_put_each_column_back_where_it_was():
    frame = column_image(48, 200)                       # 25:6: at its own size, four windows of 64
    p = plan(frame.shape[:2], NET, 'tiles')
    assert p.content_hw == (48, 200) and p.count == 4
    images, content = network_images(frame, p)
    assert np.array_equal(content, frame)
    merged = merge([im[..., 0] for im in images], p)    # each window's red channel is its columns' index
    assert np.array_equal(merged, frame[..., 0])
    probs = merge([np.dstack([im[..., 0]] * 3).astype(np.float32) for im in images], p)     # H x W x C too
    assert probs.shape == (48, 200, 3) and np.array_equal(probs[..., 2], frame[..., 0])


def test_a_frame_that_would_need_more_than_max_tiles_windows_goes_in_as_letterbox():
    assert plan((48, 64 * framing.MAX_TILES), NET, 'tiles').count == framing.MAX_TILES
    for shape in ((48, 64 * framing.MAX_TILES + 1), (2, 640), (640, 2)):    # a strip, wide or tall
        p = plan(shape, NET, 'tiles')
        assert p == plan(shape, NET, 'letterbox') and p.count == 1


def test_segmenter_answers_a_strip_frame_with_one_network_image(segmenter):
    frame = column_image(2, 640)
    segmenter.aspect = 'tiles'
    out = segmenter.segment(frame)
    assert out.labels.shape == (2, 640) and segmenter.backend.batches[-1] == (1, *NET, 3)


def test_an_unknown_aspect_is_refused_with_the_choices():
    with pytest.raises(ValueError, match='aspect .crop.: expected one of squash, letterbox, tiles'):
        plan((10, 20), NET, 'crop')


class ColumnBackend(Backend):
    """Labels each pixel with its window's red channel // 16 (the column), margin 1; records the batches."""

    name = 'column'

    def __init__(self):
        self.batches = []

    def infer(self, images):
        self.batches.append(images.shape)
        return (images[..., 0] // 16).astype(np.uint8), np.ones(images.shape[:3], np.float32)


@pytest.fixture
def segmenter(tiny_model):
    from seg_perception.model_files import ModelFiles

    # the column backend reads each column's value: no contrast stretch of the flat test frames
    return Segmenter(ModelFiles.load(tiny_model), ColumnBackend(), safety=SafetyConfig.from_flat(NO_STRETCH))


def test_segmenter_labels_have_the_frames_shape_in_every_mode(segmenter):
    frame = column_image(100, 200)
    for aspect in ASPECTS:
        segmenter.aspect = aspect
        out = segmenter.segment(frame)
        assert out.labels.shape == frame.shape[:2] and out.drivable.shape == frame.shape[:2]
        assert out.freespace.shape == (200,)
    assert segmenter.backend.batches[-1] == (2, *NET, 3)     # tiles: both windows in one backend call


def test_segmenter_tiles_and_letterbox_keep_each_column_in_place(segmenter):
    frame = column_image(64, 256)
    expected = (frame[..., 0] // 16).astype(np.uint8)
    for aspect in ('letterbox', 'tiles'):
        segmenter.aspect = aspect
        labels = segmenter.segment(frame).labels
        assert np.mean(labels == expected) > 0.9, aspect   # off only at the resampled steps between columns
    segmenter.aspect = 'squash'                             # squash resamples the columns too: also in place
    assert np.mean(segmenter.segment(frame).labels == expected) > 0.9


def test_segmenter_letterbox_padding_never_leaks_into_the_labels(segmenter):
    class PadBackend(ColumnBackend):
        def infer(self, images):
            labels = np.where(images[..., 1] == 127, 7, 1).astype(np.uint8)     # the fill colour -> class 7
            return labels, np.ones(images.shape[:3], np.float32)

    segmenter.backend = PadBackend()
    segmenter.aspect = 'letterbox'
    frame = np.full((100, 200, 3), 30, np.uint8)
    assert (segmenter.segment(frame).labels == 1).all()
    segmenter.aspect = 'squash'
    assert (segmenter.segment(np.full((100, 200, 3), 127, np.uint8)).labels == 7).all()


def test_segment_batch_mixes_frames_of_several_shapes_in_one_call(segmenter):
    segmenter.aspect = 'tiles'
    frames = [column_image(100, 200), column_image(60, 80), column_image(90, 320)]
    outs = segmenter.segment_batch(frames)
    assert [o.labels.shape for o in outs] == [f.shape[:2] for f in frames]
    counts = [plan(f.shape[:2], NET, 'tiles').count for f in frames]
    assert segmenter.backend.batches == [(sum(counts), *NET, 3)] and counts == [2, 1, 3]


def test_the_default_aspect_is_one_of_the_modes():
    assert framing.DEFAULT_ASPECT in ASPECTS


def test_the_dense_crf_path_merges_the_windows_probabilities():
    pytest.importorskip('torch')
    from seg_perception import crf

    seg = Segmenter.default(backend='torch', threads=1)
    frame = np.zeros((60, 160, 3), np.uint8)
    frame[:25] = (140, 170, 220)        # sky over road
    frame[25:] = (90, 90, 95)
    seg.aspect = 'tiles'
    out = seg.segment(frame, crf=crf.DEEPLAB_LARGEFOV)
    assert out.labels.shape == frame.shape[:2] and 'crf' in out.timings_ms
    assert out.margin_net.shape == framing.plan(frame.shape[:2], seg.input_hw, 'tiles').content_hw == (408, 1088)
