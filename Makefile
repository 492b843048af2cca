# Two commands on a fresh machine (Python 3.10+ with pip):
#   make demo   installs the node and runs it on the bundled sample sequence; results in out/
#   make test   installs the test tools and runs the test suite
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install install-test demo test bench

install:
	$(PIP) install -q -e '.[ros]'

# torch first and pinned: the CPU build (an unpinned torch would pull a multi-GB CUDA build)
install-test:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[ros,test]'

demo: install
	$(PYTHON) -m seg_perception.cli demo --out out

test: install-test
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) -m seg_perception.cli bench --sizes 480x360 800x600 --frames 50
	$(PYTHON) benchmarks/node_latency.py --sizes 480x360 800x600 --frames 60 --rate 4
