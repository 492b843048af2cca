"""seg_perception: real-time semantic segmentation for driving, a pure core and a thin ROS 2 shell.

>>> from seg_perception import Segmenter
>>> seg = Segmenter.default()
>>> result = seg.segment(rgb)          # H x W x 3 uint8 RGB
>>> result.labels, result.classes, result.palette

README.md's "Python API" shows the rest: the camera model and the temporal check.
"""

__version__ = '0.1.0'

# Public names and the module each lives in. They are imported on first use, so that `import seg_perception`
# (and `import seg_perception.models`) stays light: no ONNX Runtime or PyTorch until a Segmenter is asked for.
_LAZY = {
    'Segmenter': 'segmenter',
    'Segmentation': 'segmenter',
    'CameraModel': 'camera',
    'TemporalFlipCheck': 'ambiguity',
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(f'.{_LAZY[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
