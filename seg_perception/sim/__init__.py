"""Rendered driving: procedural street scenes with exact labels (``scenes``) and the hazard scenarios (``scenarios``).

Pure numpy and OpenCV; no ROS imports.
"""
