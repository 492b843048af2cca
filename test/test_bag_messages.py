"""Message facts shared by the bag tools and the node: the header stamp in nanoseconds, grey frames as RGB."""

import numpy as np

from conftest import SECOND, bag_image_msg
from seg_perception.bags.messages import as_rgb, image_array, stamp_ns


def test_the_stamp_of_a_message_its_header_and_its_time_are_the_same_nanoseconds():
    msg = bag_image_msg(np.zeros((2, 3), np.uint8), 7 * SECOND + 123, 'mono8')
    assert stamp_ns(msg) == stamp_ns(msg.header) == stamp_ns(msg.header.stamp) == 7 * SECOND + 123
    msg.header.stamp.sec = -2       # what a broken driver sends stays comparable, below zero
    assert stamp_ns(msg) == -2 * SECOND + 123


def test_a_grey_frame_becomes_three_equal_channels_and_colour_stays_as_it_is():
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rgb = as_rgb(image_array(bag_image_msg(grey, SECOND, 'mono8')))
    assert rgb.shape == (2, 3, 3) and rgb.flags['C_CONTIGUOUS']
    assert all(np.array_equal(rgb[:, :, c], grey) for c in range(3))
    colour = np.random.default_rng(0).integers(0, 255, (2, 3, 3), np.uint8)
    assert np.array_equal(as_rgb(colour[:, ::-1]), colour[:, ::-1]) and as_rgb(colour[:, ::-1]).flags['C_CONTIGUOUS']
