"""The node's diagnostics status as its readers find it: the status name, the keys of its values, the stamps format.

``seg_node`` publishes one ``DiagnosticStatus`` on /diagnostics per period (and at once when the alarm rises or a
frame is degraded), named ``'<node's full name>: segmentation'``. ``eval-bag`` reads the alarm values back from a
recorded drive (the degraded values have the same form); the fuzzer (benchmarks/fuzz_node.py) reads the frame
counts. The values are strings, as diagnostic_msgs carries them.
"""

from typing import Dict, Iterable, List, Tuple

STATUS_SUFFIX = ': segmentation'
ALARM_KEY = 'alarm'                 # 'true' while the newest frame (of any camera) has the alarm up, else 'false'
ALARM_COUNT_KEY = 'alarm frames'    # alarm frames since the node started
ALARM_STAMPS_KEY = 'alarm stamps'   # input stamps of the alarm frames since the last status
DEGRADED_KEY = 'degraded'           # 'true' while the newest frame (of any camera) is degraded (seg_perception.trust)
DEGRADED_COUNT_KEY = 'degraded frames'      # degraded frames since the node started
DEGRADED_REASONS_KEY = 'degraded reasons'   # the trust check's reasons, of the newest degraded frame(s)
DEGRADED_STAMPS_KEY = 'degraded stamps'     # input stamps of the degraded frames since the last status
FRAMES_KEY_PREFIX = 'frames '       # 'frames received', 'frames processed', ...: counts since the node started


def status_name(node_name: str) -> str:
    """The status name of the node whose fully qualified name is ``node_name`` ('/ns/seg_node' or 'ns/seg_node')."""
    return f'{node_name.lstrip("/")}{STATUS_SUFFIX}'


def frames_key(kind: str) -> str:
    """The key of a frame count: 'frames received', 'frames dropped', ..."""
    return f'{FRAMES_KEY_PREFIX}{kind}'


def frame_counts(values: Dict[str, str]) -> Dict[str, int]:
    """{kind: count} of the frame counts among a status's values ({key: value})."""
    return {k[len(FRAMES_KEY_PREFIX):]: int(v) for k, v in values.items() if k.startswith(FRAMES_KEY_PREFIX)}


def format_alarm_stamps(stamps_ns: Iterable[int]) -> str:
    """Input stamps as the ``ALARM_STAMPS_KEY`` (or ``DEGRADED_STAMPS_KEY``) value: 'sec.nanosec', space-separated."""
    return ' '.join(f'{s // 1_000_000_000}.{s % 1_000_000_000:09d}' for s in stamps_ns)


def parse_alarm_stamps(value: str) -> List[int]:
    """The stamps (ns) of an ``ALARM_STAMPS_KEY`` (or ``DEGRADED_STAMPS_KEY``) diagnostics value."""
    stamps = []
    for item in value.split():
        sec, _, nanosec = item.partition('.')
        stamps.append(int(sec) * 1_000_000_000 + int(nanosec or 0))
    return stamps


def parse_degraded_reasons(value: str) -> Tuple[str, ...]:
    """The trust reasons named in a ``DEGRADED_REASONS_KEY`` value ('noise, blur', 'left: noise; right: blur').

    Each camera's reasons follow its name and ': ' when the node has several cameras; 'none' and '' name none.
    Every reason once, in the order first named.
    """
    reasons = []
    for part in value.split(';'):
        part = part.strip()
        if ': ' in part:
            part = part.rsplit(': ', 1)[1]
        reasons += [r.strip() for r in part.split(',') if r.strip() and r.strip() != 'none']
    return tuple(dict.fromkeys(reasons))
