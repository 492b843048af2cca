"""How many camera frames reach a subscriber, by QoS: why ``reliability: auto`` matches the publishers.

A reliable publisher (as most camera drivers and ``ros2 bag play`` are) runs in a child process and sends N
rgb8 frames at 10 Hz; this process subscribes with a best-effort and with a reliable subscription, both
keep-last 1, and counts the frames each receives. Prints a table and the command that made it.

    python benchmarks/qos_delivery.py --sizes 800x600 1920x1080 --frames 30
"""

import argparse
import os
import random
import subprocess
import sys
import time

PUBLISHER = r'''
import sys, time
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
w, h, n, topic = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rclpy.init()
node = rclpy.create_node('qos_delivery_camera')
pub = node.create_publisher(Image, topic, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
msg = Image(height=h, width=w, encoding='rgb8', step=w * 3)
msg.data = np.random.default_rng(0).integers(0, 256, h * w * 3, dtype=np.uint8).tobytes()
deadline = time.time() + 20
while pub.get_subscription_count() < 2 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(1.0)
for i in range(n):
    msg.header.frame_id = str(i)
    pub.publish(msg)
    time.sleep(0.1)
time.sleep(2.0)
node.destroy_node()
rclpy.shutdown()
'''


def measure(width: int, height: int, frames: int):
    """(best-effort count, reliable count) for one frame size."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    topic = f'/qos_delivery_{os.getpid()}_{width}x{height}'
    rclpy.init()
    node = rclpy.create_node('qos_delivery_probe')
    got = {'best_effort': set(), 'reliable': set()}
    for name, policy in (('best_effort', ReliabilityPolicy.BEST_EFFORT), ('reliable', ReliabilityPolicy.RELIABLE)):
        node.create_subscription(Image, topic, lambda m, name=name: got[name].add(m.header.frame_id),
                                 QoSProfile(depth=1, reliability=policy))
    child = subprocess.Popen([sys.executable, '-c', PUBLISHER, str(width), str(height), str(frames), topic])
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while child.poll() is None:
        executor.spin_once(timeout_sec=0.05)
    end = time.time() + 1.0
    while time.time() < end:
        executor.spin_once(timeout_sec=0.05)
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown()
    return len(got['best_effort']), len(got['reliable'])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['800x600', '1920x1080'])
    parser.add_argument('--frames', type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(100, 200)))
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.split('x'))
        rows.append((size, *measure(w, h, args.frames)))
    print('# python benchmarks/qos_delivery.py ' + ' '.join(sys.argv[1:]))
    print(f'# reliable publisher in another process, {args.frames} rgb8 frames at 10 Hz, Fast DDS defaults')
    print('| frame | best-effort subscriber received | reliable subscriber received |')
    print('|---|---|---|')
    for size, best_effort, reliable in rows:
        print(f'| {size} | {best_effort} of {args.frames} | {reliable} of {args.frames} |')


if __name__ == '__main__':
    main()
