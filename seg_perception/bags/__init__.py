"""Recorded drives (rosbag2 bags) read without ROS: no rclpy, no message packages.

``messages`` decodes the camera and label-image messages of a bag into numpy arrays.
"""
