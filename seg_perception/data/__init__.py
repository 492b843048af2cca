"""Bundled data: the rendered sample sequence (sample/) and the script that makes it (make_sample.py)."""
