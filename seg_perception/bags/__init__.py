"""Recorded drives (rosbag2 bags) read and written without ROS: no rclpy, no message packages.

``format`` finds a bag's files and holds the message definitions bags are written with; ``messages`` decodes
the camera and label-image messages of a bag into numpy arrays; ``evaluate`` judges the node from a recorded
drive (``seg-perception eval-bag``) by the rule in ``hazards`` and ``report`` writes its HTML report;
``dataset`` pairs a bag's frames with its ground truth for training; ``carla_capture`` writes a CARLA drive
straight into a bag (``seg-perception carla-capture``).
"""
