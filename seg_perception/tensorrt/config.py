"""Engine build configurations: one YAML per shipped model in ``engines/``, read by :func:`load_config`.

Example (``engines/pspnet_lite0_camvid.yaml``)::

    onnx: pspnet_lite0_camvid.onnx       # relative to this file; its manifest (.json) sits beside it
    precisions: [fp16, int8]             # what `build-engine --config` builds; the first is the default
    batch: {min: 1, opt: 1, max: 4}      # the optimisation profile: 1..max cameras in one run
    workspace_mb: 2048                   # TensorRT's scratch memory limit while building
    timing_cache: cache/timing.cache     # tactic timings, reused by every later build on this GPU
    calibration:                         # INT8 only: a folder of images, or a bag and its image topic
      images: ../seg_perception/data/sample/frame_*.jpg
      limit: 500
      batch_size: 8
      cache: cache/pspnet_lite0_camvid_int8.calib
    keep_fp16: ['/Softmax', '/TopK']     # layer-name regexes kept in FP16 in INT8 builds

Relative paths are relative to the YAML file. Every error names the file and the field, says what was
expected and what was found.
"""

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from ..model_files import model_dirs
from .files import PRECISIONS

DEFAULT_WORKSPACE_MB = 2048
TOP_KEYS = ('onnx', 'precisions', 'batch', 'workspace_mb', 'timing_cache', 'calibration', 'keep_fp16')
CALIBRATION_KEYS = ('images', 'bag', 'topic', 'limit', 'batch_size', 'cache')


class ConfigError(ValueError):
    """An engine build configuration that cannot be used; the message names the file and the field."""


@dataclass
class CalibrationConfig:
    """Where INT8 calibration images come from and where the calibration cache goes."""

    images: str = ''            # folder of images, or
    bag: str = ''               # a rosbag2 bag (folder) ...
    topic: str = ''             # ... and its Image or CompressedImage topic
    limit: int = 500            # at most this many images
    batch_size: int = 8
    cache: str = ''             # calibration cache file: read when present (no images needed then), else written


@dataclass
class EngineConfig:
    """How to build a model's engines."""

    path: str                                   # the YAML file
    onnx: str                                   # absolute path of the ONNX file
    precisions: Tuple[str, ...] = ('fp16',)
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    timing_cache: str = ''
    calibration: Optional[CalibrationConfig] = None
    keep_fp16: Tuple[str, ...] = ()
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def manifest(self) -> str:
        """The model manifest beside the ONNX file."""
        return os.path.splitext(self.onnx)[0] + '.json'


def _int(path, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f'{path}: {name} must be an integer >= {minimum}, got {value!r}')
    return value


def _str(path, name, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(f'{path}: {name} must be a non-empty string, got {value!r}')
    return value


def parse_config(data: Any, path: str) -> EngineConfig:
    """An EngineConfig from the parsed YAML ``data`` of the file ``path`` (relative paths resolved against it)."""
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping with {", ".join(TOP_KEYS)}, got {type(data).__name__}')
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f'{path}: unknown field(s) {", ".join(map(str, unknown))}; known: {", ".join(TOP_KEYS)}')
    if 'onnx' not in data:
        raise ConfigError(f'{path}: missing field onnx (the ONNX file, relative to this file)')
    folder = os.path.dirname(os.path.abspath(path))

    def resolve(value):
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(folder, value))

    config = EngineConfig(path=path, onnx=resolve(_str(path, 'onnx', data['onnx'])))
    if not config.onnx.endswith('.onnx'):
        raise ConfigError(f'{path}: onnx must name a .onnx file, got {data["onnx"]!r}')

    precisions = data.get('precisions', ['fp16'])
    if isinstance(precisions, str):
        precisions = [precisions]
    if not isinstance(precisions, list) or not precisions:
        raise ConfigError(f'{path}: precisions must be a non-empty list of {", ".join(PRECISIONS)}, '
                          f'got {precisions!r}')
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ConfigError(f'{path}: precisions: {", ".join(map(repr, bad))} unknown; expected {", ".join(PRECISIONS)}')
    config.precisions = tuple(precisions)

    batch = data.get('batch', {})
    if isinstance(batch, int) and not isinstance(batch, bool):
        batch = {'max': batch}
    if not isinstance(batch, dict) or set(batch) - {'min', 'opt', 'max'}:
        raise ConfigError(f'{path}: batch must be a mapping with min, opt, max (e.g. {{min: 1, opt: 1, max: 4}}), '
                          f'got {batch!r}')
    config.max_batch = _int(path, 'batch.max', batch.get('max', 1))
    config.min_batch = _int(path, 'batch.min', batch.get('min', 1))
    config.opt_batch = _int(path, 'batch.opt', batch.get('opt', config.min_batch))
    if not config.min_batch <= config.opt_batch <= config.max_batch:
        raise ConfigError(f'{path}: batch needs min <= opt <= max, got min {config.min_batch}, opt '
                          f'{config.opt_batch}, max {config.max_batch}')

    config.workspace_mb = _int(path, 'workspace_mb', data.get('workspace_mb', DEFAULT_WORKSPACE_MB), 16)
    if data.get('timing_cache'):
        config.timing_cache = resolve(_str(path, 'timing_cache', data['timing_cache']))

    keep = data.get('keep_fp16', []) or []
    if not isinstance(keep, list) or not all(isinstance(k, str) and k for k in keep):
        raise ConfigError(f'{path}: keep_fp16 must be a list of layer-name regular expressions, got {keep!r}')
    for pattern in keep:
        try:
            re.compile(pattern)
        except re.error as e:
            raise ConfigError(f'{path}: keep_fp16: {pattern!r} is not a regular expression: {e}') from None
    config.keep_fp16 = tuple(keep)

    calibration = data.get('calibration')
    if calibration is not None:
        config.calibration = _calibration(calibration, path, resolve)
    if 'int8' in config.precisions and config.calibration is None:
        raise ConfigError(f'{path}: precisions include int8 but there is no calibration section (images: FOLDER, '
                          f'or bag: BAG with topic: TOPIC)')
    return config


def _calibration(data, path, resolve) -> CalibrationConfig:
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: calibration must be a mapping with {", ".join(CALIBRATION_KEYS)}, '
                          f'got {data!r}')
    unknown = sorted(set(data) - set(CALIBRATION_KEYS))
    if unknown:
        raise ConfigError(f'{path}: calibration: unknown field(s) {", ".join(map(str, unknown))}; known: '
                          f'{", ".join(CALIBRATION_KEYS)}')
    images, bag, cache = data.get('images'), data.get('bag'), data.get('cache')
    if bool(images) == bool(bag):
        raise ConfigError(f'{path}: calibration needs exactly one of images (a folder) or bag (with topic), '
                          f'got {"both" if images else "neither"}')
    if bag and not data.get('topic'):
        raise ConfigError(f'{path}: calibration: bag {bag!r} needs topic (the Image or CompressedImage topic)')
    return CalibrationConfig(
        images=resolve(_str(path, 'calibration.images', images)) if images else '',
        bag=resolve(_str(path, 'calibration.bag', bag)) if bag else '',
        topic=_str(path, 'calibration.topic', data['topic']) if bag else '',
        limit=_int(path, 'calibration.limit', data.get('limit', 500)),
        batch_size=_int(path, 'calibration.batch_size', data.get('batch_size', 8)),
        cache=resolve(_str(path, 'calibration.cache', cache)) if cache else '')


def load_config(path: str) -> EngineConfig:
    """Read and check the build configuration at ``path`` (ConfigError says what is wrong and where)."""
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f'cannot read engine build configuration {path}: {e.strerror}') from None
    except yaml.YAMLError as e:
        raise ConfigError(f'{path} is not valid YAML: {e}') from None
    return parse_config(data, path)


def find_config(model_name: str) -> Optional[str]:
    """The build configuration ``<model_name>.yaml`` in the model folders (model_files.model_dirs), or None."""
    for folder in model_dirs():
        candidate = os.path.join(folder, model_name + '.yaml')
        if os.path.isfile(candidate):
            return candidate
    return None
