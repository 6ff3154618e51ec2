# Each target sets up .venv/ first when needed (tools/setup_env.sh is
# idempotent: seconds on a ready machine, ~10-20 minutes on a new one).
PYTHON := .venv/bin/python

.PHONY: setup demo test bench

setup:
	bash tools/setup_env.sh

demo: setup
	$(PYTHON) benchmarks/bench_vsa_layer.py
	$(PYTHON) tools/visualize_windows.py --out outputs/vsa_windows.png

test: setup
	$(PYTHON) -m pytest

bench: setup
	$(PYTHON) benchmarks/bench_vsa_layer.py --rounds 41
