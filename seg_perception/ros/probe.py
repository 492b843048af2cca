"""seg_node under test, for the demo and the benchmarks: the node in its own process and a probe node beside it.

``NodeProcess`` runs ``python -m seg_perception.ros.seg_node --ros-args ...`` with the given parameters and ends
it with a signal, keeping its exit status. ``Probe`` is the node's camera and viewer: on a ROS context of its
own, spun by a background thread, it publishes frames to the node's inputs and keeps, by header stamp, when
each of the node's outputs arrived (and, if asked, what of it). Both are context managers:

    with NodeProcess('/bench', {'model': manifest}) as node, Probe('bench', '/bench') as probe:
        probe.wait_for_node(node, timeout_s=60.0)
        stamp = probe.send(array_to_image(rgb, probe.header()))
        probe.wait_for_answers([stamp], timeout_s=5.0)
        latency_ns = probe.arrivals['labels'][stamp] - stamp
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Callable, Dict, Iterable, Optional

import rclpy
from rclpy.duration import Duration
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from .seg_node import AMBIGUOUS_TOPIC, COLOR_TOPIC, COMPRESSED_TOPIC, DRIVABLE_TOPIC, IMAGE_TOPIC, LABELS_TOPIC

# the node's image outputs a probe can listen to, by short name
OUTPUT_TOPICS = {'labels': LABELS_TOPIC, 'color': COLOR_TOPIC, 'drivable': DRIVABLE_TOPIC,
                 'ambiguous': AMBIGUOUS_TOPIC}


class NodeNotReady(RuntimeError):
    """seg_node exited, or did not come up or answer in time; the message says which, and how its output ends."""


def stamp_ns(stamp) -> int:
    """A builtin_interfaces/Time (a header's stamp) in nanoseconds, whatever its fields hold.

    Not rclpy's Time.from_msg: it raises on the negative and out-of-range stamps that malformed input carries
    (the node answers a frame with its stamp as it came).
    """
    return stamp.sec * 10 ** 9 + stamp.nanosec


def node_command(namespace: str, params: Dict[str, object]) -> list:
    """The command line of seg_node in ``namespace`` with ``params`` ({name: value}; booleans as true/false)."""
    command = [sys.executable, '-m', 'seg_perception.ros.seg_node', '--ros-args', '-r', f'__ns:={namespace}']
    for name, value in params.items():
        command += ['-p', f'{name}:={str(value).lower() if isinstance(value, bool) else value}']
    return command


class NodeProcess:
    """seg_node in its own process: started with its parameters (again after it ended), ended by a signal."""

    def __init__(self, namespace: str, params: Dict[str, object], domain_id: Optional[int] = None,
                 output: Optional[IO] = None, cwd: Optional[str] = None):
        """Prepare the command; ``start()`` (or ``with``) runs it.

        ``domain_id``: the node's ROS domain (None: ROS_DOMAIN_ID as it is); ``output``: a file that takes the
        node's stdout and stderr (None: this process's own); ``cwd``: its working directory (None: this one).
        """
        self.command = node_command(namespace, params)
        self.env = dict(os.environ, PYTHONUNBUFFERED='1')
        if domain_id is not None:
            self.env['ROS_DOMAIN_ID'] = str(domain_id)
        self.output, self.cwd = output, cwd
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> 'NodeProcess':
        """Start the node; after it ended, a new one."""
        if self.running:
            raise RuntimeError(f'seg_node is running already (pid {self.process.pid})')
        self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=self.output,
                                        stderr=None if self.output is None else subprocess.STDOUT)
        return self

    @property
    def running(self) -> bool:
        """Whether the node's process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the node (the latest one started)."""
        return self.process.pid

    @property
    def returncode(self) -> Optional[int]:
        """The node's exit status (negative: the signal that ended it); None while it runs."""
        return self.process.poll()

    def stop(self, signum: int = signal.SIGINT, timeout_s: float = 10.0) -> Optional[int]:
        """Send ``signum`` if the node still runs and wait for it; its exit status, None if it had to be killed."""
        if self.running:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode

    def memory_mb(self, field: str = 'VmRSS') -> Optional[float]:
        """The node's resident memory now (VmRSS; VmHWM: the largest so far), MiB; None when it is gone."""
        try:
            with open(f'/proc/{self.pid}/status') as f:
                for line in f:
                    if line.startswith(field + ':'):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> Optional[float]:
        """User + system CPU time of the node so far, seconds; None when it is gone."""
        try:
            with open(f'/proc/{self.pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def output_tail(self, chars: int = 2000) -> str:
        """The last ``chars`` characters the node wrote to ``output`` ('' when it writes to this process's own)."""
        if self.output is None:
            return ''
        self.output.flush()
        fd = self.output.fileno()
        size = os.fstat(fd).st_size
        # pread leaves the file offset, which the node's process shares, where it is
        return os.pread(fd, chars, max(0, size - chars)).decode(errors='replace')

    def not_ready(self, what: str) -> NodeNotReady:
        """NodeNotReady saying ``what``, with the end of the node's output."""
        tail = self.output_tail()
        return NodeNotReady(f'{what}; its output ends:\n{tail}' if tail else what)

    def __enter__(self) -> 'NodeProcess':
        """Start the node."""
        return self.start()

    def __exit__(self, *exc_info) -> None:
        """Stop the node (SIGINT)."""
        self.stop()


@contextlib.contextmanager
def spinning(domain_id: Optional[int] = None):
    """(context, executor) on a ROS context of its own, the executor spun by a background thread until the end.

    ``domain_id``: the ROS domain (None: ROS_DOMAIN_ID). Nodes created on the context are destroyed with it.
    """
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = SingleThreadedExecutor(context=context)

    def spin():
        # executor.spin(), carrying on past InvalidHandle: rclpy raises it building the wait set when a node is
        # destroyed meanwhile (seen on Jazzy), which would end the thread and leave every later node unspun
        while context.ok():
            try:
                executor.spin_once(timeout_sec=0.5)
            except InvalidHandle:
                continue
            except (ExternalShutdownException, ShutdownException):
                break
    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield context, executor
    finally:
        executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown(context=context)
        thread.join(timeout=2.0)    # a spinning thread left at interpreter exit aborts in rclpy's C++ code


class Probe:
    """seg_node's camera and viewer: publishes frames to its inputs and keeps what arrives on its outputs.

    ``arrivals[kind]`` maps the stamp (ns) of each message that arrived on output ``kind`` (a key of
    OUTPUT_TOPICS) to its arrival time (time.time_ns()); with ``keep``, ``kept[kind]`` maps it to
    ``keep(message)``. Inputs: ``image`` and, with ``compressed``, ``image/compressed``, reliable, keep-last
    ``depth``.
    """

    def __init__(self, name: str, namespace: str = '', domain_id: Optional[int] = None, depth: int = 10,
                 compressed: bool = False, outputs: Iterable[str] = ('labels',),
                 keep: Optional[Callable] = None):
        """Create the probe node ``name`` in ``namespace`` on ROS domain ``domain_id`` (None: ROS_DOMAIN_ID)."""
        self.arrivals: Dict[str, Dict[int, int]] = {kind: {} for kind in outputs}
        self.kept: Dict[str, Dict[int, object]] = {kind: {} for kind in self.arrivals} if keep else {}
        self._keep = keep
        self._arrived = threading.Condition()
        self._last_ns = 0
        with contextlib.ExitStack() as stack:       # closed here if what follows fails, else by close()
            self.context, self.executor = stack.enter_context(spinning(domain_id))
            self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
            qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
            self.image_pub = self.node.create_publisher(Image, IMAGE_TOPIC, qos)
            self.compressed_pub = self.node.create_publisher(CompressedImage, COMPRESSED_TOPIC, qos) \
                if compressed else None
            self.publishers = [p for p in (self.image_pub, self.compressed_pub) if p is not None]
            for kind in self.arrivals:
                self.node.create_subscription(Image, OUTPUT_TOPICS[kind], self._receiver(kind),
                                              QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
            self.executor.add_node(self.node)
            self._stack = stack.pop_all()

    def _receiver(self, kind: str):
        def receive(msg):
            now = time.time_ns()
            stamp = stamp_ns(msg.header.stamp)
            with self._arrived:
                self.arrivals[kind][stamp] = now
                if self._keep:
                    self.kept[kind][stamp] = self._keep(msg)
                self._arrived.notify_all()
        return receive

    def header(self, frame_id: str = 'camera') -> Header:
        """A header stamped now, never twice with the same stamp: answers are found by their stamp."""
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = divmod(self._last_ns, 10 ** 9)
        return header

    def send(self, msg) -> int:
        """Publish an Image, or a CompressedImage (with ``compressed``), to the node; its stamp, ns."""
        if isinstance(msg, CompressedImage):
            if self.compressed_pub is None:
                raise ValueError('this probe has no image/compressed publisher: make it with compressed=True')
            self.compressed_pub.publish(msg)
        else:
            self.image_pub.publish(msg)
        return stamp_ns(msg.header.stamp)

    def connected(self) -> bool:
        """Whether the node subscribes to this probe's inputs and publishes every output it listens to."""
        return all(p.get_subscription_count() for p in self.publishers) and all(
            self.node.count_publishers(OUTPUT_TOPICS[kind]) for kind in self.arrivals)

    def wait_for_node(self, node: NodeProcess, timeout_s: float) -> None:
        """Wait until ``node`` is connected (see connected); NodeNotReady if it exits first or time is up."""
        deadline = time.monotonic() + timeout_s
        while not self.connected():
            self._check(node, deadline, timeout_s)
            time.sleep(0.1)

    def wait_until_answered(self, node: NodeProcess, make_msg: Callable, timeout_s: float,
                            every_s: float = 1.0) -> None:
        """Send ``make_msg()`` (a freshly stamped frame) every ``every_s`` until one is answered with labels.

        The node is then up and its backend warmed up; NodeNotReady if it exits first or ``timeout_s`` is up.
        """
        deadline = time.monotonic() + timeout_s
        self.wait_for_node(node, timeout_s)
        sent = []
        while True:
            sent.append(self.send(make_msg()))
            with self._arrived:
                if self._arrived.wait_for(lambda: any(s in self.arrivals['labels'] for s in sent), every_s):
                    return
            self._check(node, deadline, timeout_s)

    def _check(self, node: NodeProcess, deadline: float, timeout_s: float) -> None:
        if not node.running:
            raise node.not_ready(f'seg_node exited with code {node.returncode} before it was ready')
        if time.monotonic() > deadline:
            raise node.not_ready(f'seg_node did not come up within {timeout_s:.0f} s')

    def wait_for_answers(self, stamps: Iterable[int], kinds: Iterable[str] = ('labels',), timeout_s: float = 10.0,
                         node: Optional[NodeProcess] = None) -> bool:
        """Wait until outputs ``kinds`` arrived for all ``stamps``; False if they did not in ``timeout_s``.

        With ``node``, False as soon as it has exited.
        """
        stamps, kinds = list(stamps), list(kinds)
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while not all(s in self.arrivals[k] for k in kinds for s in stamps):
                left = deadline - time.monotonic()
                if left <= 0 or (node is not None and not node.running):
                    return False
                self._arrived.wait(min(left, 0.1))
        return True

    def take(self, stamp: int, kind: str = 'labels'):
        """Remove the answer of ``kind`` stamped ``stamp``; what ``keep`` kept of it, or None if it has not arrived."""
        with self._arrived:
            self.arrivals[kind].pop(stamp, None)
            return self.kept[kind].pop(stamp, None) if self.kept else None

    def clear(self) -> None:
        """Forget every answer that arrived so far."""
        with self._arrived:
            for store in (*self.arrivals.values(), *self.kept.values()):
                store.clear()

    def wait_for_delivery(self, timeout_s: float = 10.0) -> None:
        """Wait until the node acknowledged everything this probe published (its inputs are reliable)."""
        for publisher in self.publishers:
            publisher.wait_for_all_acked(Duration(seconds=timeout_s))

    def close(self) -> None:
        """Stop spinning and shut the probe's context down (which destroys its node)."""
        self._stack.close()

    def __enter__(self) -> 'Probe':
        """The probe."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the probe."""
        self.close()
