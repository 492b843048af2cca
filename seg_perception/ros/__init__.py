"""The thin ROS 2 shell around the pure core: message <-> array conversion and the segmentation node.

Everything here imports rclpy or message packages; everything outside ``ros/`` works without ROS.
"""
