"""Finding and checking model files: a JSON manifest beside the ONNX graph (and optional torch weights).

A model is addressed by its manifest (``engines/<name>.json``) or by one of its files (``<name>.onnx``,
``<name>.pt``), whose sibling manifest is then read. Every file is checked against the manifest's SHA-256
before use, so that a stale or half-copied model fails at start with a message that names the file.
"""

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

DEFAULT_MODEL = 'pspnet_lite0_camvid_wiseft'
MODEL_DIR_ENV = 'SEG_PERCEPTION_MODEL_DIR'


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file (here rather than in export.py, so that loading a model never imports torch)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


class ModelFileError(RuntimeError):
    """A model file is missing, unreadable, or does not match its manifest."""


def model_dirs() -> List[str]:
    """Folders searched for models by name, in order."""
    dirs = []
    if os.environ.get(MODEL_DIR_ENV):
        dirs.append(os.environ[MODEL_DIR_ENV])
    # a source checkout or `pip install -e .`: engines/ beside the package
    dirs.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'engines'))
    # a colcon install: share/seg_perception/engines
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(os.path.join(get_package_share_directory('seg_perception'), 'engines'))
    except Exception:  # noqa: BLE001 - not in a ROS workspace, or the package is not installed there
        pass
    dirs.append(os.path.join(sys.prefix, 'share', 'seg_perception', 'engines'))
    return dirs


@dataclass
class ModelFiles:
    """A model's manifest and the folder its files live in."""

    manifest_path: str
    manifest: Dict

    @classmethod
    def load(cls, path_or_name: str) -> 'ModelFiles':
        """Read the manifest for a manifest path, a model file path, or a model name found in :func:`model_dirs`."""
        path = _find_manifest(path_or_name)
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            raise ModelFileError(f'cannot read model manifest {path}: {e}') from None
        for key in ('name', 'classes', 'input', 'files', 'sha256'):
            if key not in manifest:
                raise ModelFileError(f'model manifest {path} lacks the field {key!r}; re-export the model')
        return cls(path, manifest)

    @property
    def folder(self) -> str:
        """Folder of the manifest, which file names in it are relative to."""
        return os.path.dirname(os.path.abspath(self.manifest_path))

    @property
    def name(self) -> str:
        """The model's name."""
        return self.manifest['name']

    @property
    def classes(self) -> Tuple[str, ...]:
        """Class names in label-id order."""
        return tuple(self.manifest['classes'])

    @property
    def input_hw(self) -> Tuple[int, int]:
        """The network's input height and width."""
        return int(self.manifest['input']['height']), int(self.manifest['input']['width'])

    @property
    def mean_std(self) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
        """Input normalisation on 0..255 RGB (applied inside the ONNX graph; the torch backend needs it)."""
        norm = self.manifest['input']['normalisation']
        return tuple(norm['mean']), tuple(norm['std'])

    @property
    def class_bias(self) -> Optional[Tuple[float, ...]]:
        """Per-class offsets added to the logits before the arg-max (seg_perception.training.class_bias), or None.

        The ONNX graph carries them already; the torch backend adds them from here.
        """
        record = self.manifest.get('class_bias')
        if not record:
            return None
        values = tuple(float(v) for v in record['values'])
        if len(values) != len(self.classes):
            raise ModelFileError(f'model manifest {self.manifest_path}: class_bias has {len(values)} values for '
                                 f'{len(self.classes)} classes')
        return values

    def path(self, role: str, verify: bool = True) -> str:
        """Path of the file with ``role`` ('onnx', 'torch', ...), checked against the manifest's sha256."""
        files = self.manifest['files']
        if role not in files:
            raise ModelFileError(f'model {self.name} ({self.manifest_path}) has no {role!r} file; it has '
                                 f'{sorted(files)}')
        path = os.path.join(self.folder, files[role])
        if not os.path.isfile(path):
            raise ModelFileError(f'model file {path} is missing (listed in {self.manifest_path})')
        if verify:
            expected = self.manifest['sha256'].get(role)
            actual = sha256_file(path)
            if expected != actual:
                raise ModelFileError(f'model file {path} does not match its manifest {self.manifest_path} '
                                     f'(sha256 {actual[:12]}..., expected {str(expected)[:12]}...): the file is '
                                     f'stale or damaged; re-export it or restore the matching manifest')
        return path


def _find_manifest(path_or_name: str) -> str:
    candidates = []
    if os.path.splitext(path_or_name)[1] == '.json':
        candidates.append(path_or_name)
    elif os.path.splitext(path_or_name)[1] in ('.onnx', '.pt', '.engine', '.plan'):
        if not os.path.isfile(path_or_name):
            raise ModelFileError(f'model file {path_or_name} does not exist')
        candidates.append(os.path.splitext(path_or_name)[0] + '.json')
    else:
        candidates += [os.path.join(d, path_or_name + '.json') for d in model_dirs()]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise ModelFileError(f'no model manifest for {path_or_name!r}: looked for {", ".join(candidates)}; '
                         f'pass the path of a model .json/.onnx, or set {MODEL_DIR_ENV}')


def default_model(name: Optional[str] = None) -> ModelFiles:
    """The shipped default model (or another model by name from :func:`model_dirs`)."""
    return ModelFiles.load(name or DEFAULT_MODEL)
