"""TensorRT engine files: their names, the facts beside them, and whether one may run here.

A serialized engine only runs on the GPU architecture and the TensorRT version it was built with, and only
means something for the ONNX graph it was built from. Each engine therefore carries those facts twice: in its
file name (for people) and in a JSON file beside it (for :func:`find_engine`)::

    engines/cache/pspnet_lite0_camvid_fp16_sm90_trt10.3.0_db6179f533a9.engine
    engines/cache/pspnet_lite0_camvid_fp16_sm90_trt10.3.0_db6179f533a9.json

At start the node asks :func:`resolve_engine` for the engine of a model, precision and batch size on this GPU.
It never runs an engine whose facts do not match, and with ``engine_rebuild='auto'`` it rebuilds only when no
matching engine exists (a matching engine is reused at every later start).

Pure Python: nothing here imports TensorRT, so all of it is tested on machines without a GPU.
"""

import datetime
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, List, Optional, Tuple

from ..backends import BackendUnavailable
from ..model_files import ModelFiles, sha256_file

PRECISIONS = ('fp32', 'fp16', 'int8')
REBUILD_POLICIES = ('never', 'auto')
ENGINE_DIR_ENV = 'SEG_PERCEPTION_ENGINE_DIR'
HASH_CHARS = 12         # of the ONNX sha256 in the file name; the JSON keeps all 64
FACTS_VERSION = 1


class EngineStale(BackendUnavailable):
    """No engine matches this model, precision, batch size, GPU and TensorRT version; the message says why."""


@dataclass(frozen=True)
class Platform:
    """What an engine is bound to on the machine that runs it."""

    compute_capability: str         # '9.0' for an H100, '8.7' for a Jetson Orin
    tensorrt_version: str           # trt.__version__, e.g. '10.3.0'
    gpu_name: str = ''              # for people; not part of the match

    @property
    def sm(self) -> str:
        """The compute capability as in CUDA's architecture names: '9.0' -> 'sm90'."""
        return 'sm' + self.compute_capability.replace('.', '')


@dataclass
class EngineFacts:
    """What an engine was built from and for: written beside every engine, checked before it runs."""

    model: str
    precision: str
    compute_capability: str
    tensorrt_version: str
    onnx_sha256: str
    input_hw: Tuple[int, int]
    min_batch: int
    max_batch: int
    opt_batch: int = 1
    gpu_name: str = ''
    keep_fp16: Tuple[str, ...] = ()
    workspace_mb: int = 0
    built_utc: str = ''
    facts_version: int = FACTS_VERSION
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The facts as the JSON text written beside the engine."""
        data = asdict(self)
        data['input_hw'] = list(self.input_hw)
        data['keep_fp16'] = list(self.keep_fp16)
        return json.dumps(data, indent=2) + '\n'

    @classmethod
    def from_json(cls, text: str, source: str = '<text>') -> 'EngineFacts':
        """Facts read back from :meth:`to_json`'s text; ValueError naming ``source`` if they are incomplete."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValueError(f'{source} is not JSON: {e}') from None
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ('model', 'precision', 'compute_capability', 'tensorrt_version', 'onnx_sha256',
                               'input_hw', 'min_batch', 'max_batch') if k not in data]
        if missing:
            raise ValueError(f'{source} lacks {", ".join(missing)}; rebuild the engine')
        data = {k: v for k, v in data.items() if k in known}
        data['input_hw'] = tuple(int(v) for v in data['input_hw'])
        data['keep_fp16'] = tuple(data.get('keep_fp16', ()))
        return cls(**data)


def engine_name(model: str, precision: str, platform: Platform, onnx_sha256: str) -> str:
    """File name (without folder) of the engine for ``model`` at ``precision`` on ``platform``."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision {precision!r}: expected one of {", ".join(PRECISIONS)}')
    version = re.sub(r'[^0-9A-Za-z.]+', '-', platform.tensorrt_version)
    return f'{model}_{precision}_{platform.sm}_trt{version}_{onnx_sha256[:HASH_CHARS]}.engine'


def facts_path(engine_path: str) -> str:
    """The JSON beside an engine."""
    return os.path.splitext(engine_path)[0] + '.json'


def engine_dir(model: ModelFiles, override: Optional[str] = None) -> str:
    """Where built engines of ``model`` live: ``override``, else $SEG_PERCEPTION_ENGINE_DIR, else cache/ beside it."""
    return override or os.environ.get(ENGINE_DIR_ENV) or os.path.join(model.folder, 'cache')


def onnx_sha256(model: ModelFiles) -> str:
    """SHA-256 of the model's ONNX file as it is now (ModelFileError if it does not match its manifest)."""
    return sha256_file(model.path('onnx'))


def write_engine(engine_path: str, serialized: bytes, facts: EngineFacts) -> None:
    """Write an engine and its facts; each file appears whole (written aside, then renamed)."""
    os.makedirs(os.path.dirname(os.path.abspath(engine_path)), exist_ok=True)
    if not facts.built_utc:
        facts.built_utc = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    for path, data in ((engine_path, bytes(serialized)), (facts_path(engine_path), facts.to_json().encode())):
        with open(path + '.part', 'wb') as f:
            f.write(data)
        os.replace(path + '.part', path)


def mismatches(facts: EngineFacts, *, model: str, precision: str, platform: Platform, onnx_sha256: str,
               input_hw: Tuple[int, int], batch: int) -> List[str]:
    """Why an engine with ``facts`` may not run this model, precision and batch here; [] when it may."""
    reasons = []
    if facts.model != model:
        reasons.append(f'built for model {facts.model}, not {model}')
    if facts.precision != precision:
        reasons.append(f'built in {facts.precision}, {precision} asked for')
    if facts.onnx_sha256 != onnx_sha256:
        reasons.append(f'the ONNX file changed since the build (sha256 {onnx_sha256[:HASH_CHARS]}, engine built '
                       f'from {facts.onnx_sha256[:HASH_CHARS]})')
    if facts.tensorrt_version != platform.tensorrt_version:
        reasons.append(f'built with TensorRT {facts.tensorrt_version}, this machine has TensorRT '
                       f'{platform.tensorrt_version}')
    if facts.compute_capability != platform.compute_capability:
        gpu = f' ({platform.gpu_name})' if platform.gpu_name else ''
        reasons.append(f'built for compute capability {facts.compute_capability}'
                       f'{f" ({facts.gpu_name})" if facts.gpu_name else ""}, this GPU{gpu} is '
                       f'{platform.compute_capability}')
    if tuple(facts.input_hw) != tuple(input_hw):
        reasons.append(f'built for input {facts.input_hw[1]}x{facts.input_hw[0]}, the model takes '
                       f'{input_hw[1]}x{input_hw[0]}')
    if not facts.min_batch <= batch <= facts.max_batch:
        reasons.append(f'batch range {facts.min_batch}..{facts.max_batch} does not cover {batch} '
                       f'(one image per camera)')
    return reasons


@dataclass
class EngineLookup:
    """The result of :func:`find_engine`: the engine to run, or why there is none."""

    expected: str                                   # where a matching engine would be (or is) written
    path: Optional[str] = None                      # a matching engine, when one exists
    rejected: List[Tuple[str, List[str]]] = field(default_factory=list)     # (engine, reasons) of the others

    @property
    def ok(self) -> bool:
        """A matching engine was found."""
        return self.path is not None

    def why(self) -> str:
        """One message: which engines were considered and why none may run."""
        if self.ok:
            return f'engine {self.path} matches'
        if not self.rejected:
            return f'no engine built yet (looked for {self.expected})'
        lines = [f'no engine matches (looked for {self.expected}); rejected:']
        lines += [f'  {path}: {"; ".join(reasons)}' for path, reasons in self.rejected]
        return '\n'.join(lines)


def find_engine(model: ModelFiles, precision: str, platform: Platform, batch: int = 1,
                folder: Optional[str] = None, onnx_hash: Optional[str] = None) -> EngineLookup:
    """The engine of ``model`` at ``precision`` for ``batch`` images on ``platform``, or why there is none.

    Looks in :func:`engine_dir` at the engine with the expected name and at every other engine of the same model,
    so that the message can say what is there and why it does not fit (another TensorRT, another GPU, an older
    ONNX file, a batch range too small).
    """
    folder = engine_dir(model, folder)
    onnx_hash = onnx_hash or onnx_sha256(model)
    expected = os.path.join(folder, engine_name(model.name, precision, platform, onnx_hash))
    lookup = EngineLookup(expected)
    if not os.path.isdir(folder):
        return lookup
    wanted = dict(model=model.name, precision=precision, platform=platform, onnx_sha256=onnx_hash,
                  input_hw=model.input_hw, batch=batch)
    names = sorted(n for n in os.listdir(folder) if n.startswith(model.name + '_') and n.endswith('.engine'))
    # the expected name first: when it matches, it is the one to run
    names.sort(key=lambda n: os.path.join(folder, n) != expected)
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(facts_path(path)) as f:
                facts = EngineFacts.from_json(f.read(), facts_path(path))
        except FileNotFoundError:
            lookup.rejected.append((path, [f'no {os.path.basename(facts_path(path))} beside it (facts unknown)']))
            continue
        except ValueError as e:
            lookup.rejected.append((path, [str(e)]))
            continue
        reasons = mismatches(facts, **wanted)
        if reasons:
            lookup.rejected.append((path, reasons))
        elif lookup.path is None:
            lookup.path = path
    return lookup


def check_engine(path: str, model: ModelFiles, precision: str, platform: Platform, batch: int = 1) -> str:
    """``path`` if that engine may run ``model`` at ``precision`` with ``batch`` images here; else EngineStale."""
    try:
        with open(facts_path(path)) as f:
            facts = EngineFacts.from_json(f.read(), facts_path(path))
    except FileNotFoundError:
        raise EngineStale(f'engine {path} refused: no {os.path.basename(facts_path(path))} beside it, so what it '
                          f'was built from is unknown; rebuild it with '
                          f'`{build_command(model, precision, batch)}`') from None
    except ValueError as e:
        raise EngineStale(f'engine {path} refused: {e}') from None
    reasons = mismatches(facts, model=model.name, precision=precision, platform=platform,
                         onnx_sha256=onnx_sha256(model), input_hw=model.input_hw, batch=batch)
    if reasons:
        raise EngineStale(f'engine {path} refused: {"; ".join(reasons)}; rebuild it with '
                          f'`{build_command(model, precision, batch)}`')
    return path


@dataclass
class ResolvedEngine:
    """The engine to deserialize, and whether (and why) it was built at this start."""

    path: str
    rebuilt: bool = False
    reason: str = ''


def build_command(model: ModelFiles, precision: str, batch: int) -> str:
    """The command that builds the engine :func:`resolve_engine` looked for."""
    return f'seg-perception build-engine --model {model.manifest_path} --precision {precision} --max-batch {batch}'


def resolve_engine(model: ModelFiles, precision: str, platform: Platform, *, batch: int = 1,
                   policy: str = 'never', build: Optional[Callable[[str], None]] = None,
                   folder: Optional[str] = None) -> ResolvedEngine:
    """The engine to run for ``model`` at ``precision`` with ``batch`` images per run, under ``policy``.

    ``never``: a missing, stale or mismatched engine raises EngineStale saying why and how to build one.
    ``auto``: the same case calls ``build(expected_path)`` once, then checks the result like any other engine;
    an engine that matches is used as it is, so a start never rebuilds a good engine.
    """
    if policy not in REBUILD_POLICIES:
        raise ValueError(f'engine_rebuild {policy!r}: expected one of {", ".join(REBUILD_POLICIES)}')
    onnx_hash = onnx_sha256(model)
    lookup = find_engine(model, precision, platform, batch, folder, onnx_hash)
    if lookup.ok:
        return ResolvedEngine(lookup.path)
    if policy == 'never' or build is None:
        how = 'no builder is available' if policy == 'auto' else 'engine_rebuild is never'
        raise EngineStale(f'TensorRT engine for {model.name} ({precision}, batch {batch}) refused: {lookup.why()}\n'
                          f'{how}; build it with `{build_command(model, precision, batch)}` or set '
                          f'engine_rebuild to auto')
    build(lookup.expected)
    built = find_engine(model, precision, platform, batch, folder, onnx_hash)
    if not built.ok:
        raise EngineStale(f'rebuilt the TensorRT engine for {model.name} ({precision}) but it still does not match: '
                          f'{built.why()}')
    return ResolvedEngine(built.path, rebuilt=True, reason=lookup.why())
