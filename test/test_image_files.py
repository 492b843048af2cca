"""The image and video reader: frames in RGB under their names, and sources it cannot read named in the error."""

import cv2
import numpy as np
import pytest

from seg_perception.image_files import ImageFileError, read_frames


def test_a_folder_gives_its_images_in_name_order_as_rgb_and_skips_what_does_not_decode(tmp_path, capsys):
    red = np.zeros((4, 6, 3), np.uint8)
    red[..., 0] = 255
    cv2.imwrite(str(tmp_path / 'b.png'), red[:, :, ::-1])
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((4, 6, 3), np.uint8))
    (tmp_path / 'c.png').write_bytes(b'not a png')
    (tmp_path / 'notes.txt').write_text('not an image name')
    frames = list(read_frames(str(tmp_path)))
    assert [name for name, _ in frames] == ['a', 'b']
    assert np.array_equal(frames[1][1], red)
    err = capsys.readouterr().err
    assert 'cannot decode' in err and 'c.png' in err


def test_a_video_gives_numbered_frames(tmp_path):
    path = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 5, (32, 24))
    for _ in range(3):
        writer.write(np.full((24, 32, 3), 128, np.uint8))
    writer.release()
    frames = list(read_frames(path))
    assert [name for name, _ in frames] == ['clip_000000', 'clip_000001', 'clip_000002']
    assert frames[0][1].shape == (24, 32, 3)


@pytest.mark.parametrize('make, words', [(lambda p: p.mkdir(), 'no image files'), (lambda p: None, 'not found'),
                                         (lambda p: p.write_bytes(b''), 'empty file')])
def test_a_source_that_cannot_be_read_is_an_error_naming_it(tmp_path, make, words):
    source = tmp_path / ('clip.mp4' if 'empty' in words else 'frames')
    make(source)
    with pytest.raises(ImageFileError, match=words) as error:
        list(read_frames(str(source)))
    assert str(source) in str(error.value) and isinstance(error.value, ValueError)
