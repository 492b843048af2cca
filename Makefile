# Two commands on a fresh machine (Python 3.10+ with pip and venv):
#   make demo   installs the node and runs it on the bundled sample sequence; results in out/
#   make test   installs the test tools and runs the test suite
# Both install into the project's virtual environment .venv (made on first use), or into the active one when
# a virtual environment is activated (VIRTUAL_ENV set); never into the system Python.
#   make test-jazzy   the ROS 2 node's tests again on ROS 2 Jazzy's wheels, in a virtual environment of their own
PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
JAZZY_VENV := .venv-jazzy
# the tests that run rclpy, its messages or the node: on Jazzy as on Kilted
ROS_TESTS := test/test_seg_node.py test/test_probe.py test/test_bag.py test/test_demo.py test/test_fuzz.py \
	test/test_soak.py test/test_conversions.py test/test_launch_config.py test/test_no_torch.py \
	test/test_parameters.py test/test_diagnostics.py test/test_streams.py
# torch first and pinned, so that the CPU build is what pip takes (an unpinned torch would pull a multi-GB CUDA
# build). Where pip's index has only CUDA builds of the pin (PyPI's Linux x86_64 wheels), name PyTorch's CPU index:
#   make test TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu'
TORCH := torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: install install-test install-jazzy demo test test-jazzy bench

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

$(JAZZY_VENV)/bin/python:
	$(PYTHON) -m venv $(JAZZY_VENV)

install: $(VENV_PYTHON)
	$(PIP) install -q -e '.[ros]'

install-test: $(VENV_PYTHON)
	$(PIP) install -q $(TORCH_PIP_ARGS) $(TORCH)
	$(PIP) install -q -e '.[ros,test]'

install-jazzy: $(JAZZY_VENV)/bin/python
	$(JAZZY_VENV)/bin/python -m pip install -q $(TORCH_PIP_ARGS) $(TORCH)
	$(JAZZY_VENV)/bin/python -m pip install -q -e '.[ros-jazzy,torch,plots]' pytest

demo: install
	$(VENV_PYTHON) -m seg_perception.cli demo --out out

test: install-test
	$(VENV_PYTHON) -m pytest -q

test-jazzy: install-jazzy
	$(JAZZY_VENV)/bin/python -m pytest -q $(ROS_TESTS)

bench: install
	$(VENV_PYTHON) -m seg_perception.cli bench --sizes 480x360 800x600 --frames 50
	$(VENV_PYTHON) benchmarks/node_latency.py --sizes 480x360 800x600 --frames 60 --rate 4
