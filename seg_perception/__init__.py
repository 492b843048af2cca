"""seg_perception: real-time semantic segmentation for driving, a pure core and a thin ROS 2 shell.

>>> from seg_perception import Segmenter
>>> seg = Segmenter.default()
>>> result = seg.segment(rgb)          # H x W x 3 uint8 RGB
>>> result.labels, result.classes, result.palette
"""

__version__ = '0.1.0'


def __getattr__(name):
    # Segmenter pulls in the backends; import it on first use so that `import seg_perception.models` stays light.
    if name in ('Segmenter', 'Segmentation'):
        from . import segmenter
        return getattr(segmenter, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
