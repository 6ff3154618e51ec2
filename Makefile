# Each target sets up .venv/ first when needed (tools/setup_env.sh is
# idempotent: seconds on a ready machine, ~10-20 minutes on a new one).
PYTHON := .venv/bin/python

.PHONY: setup demo test test-quick bench

setup:
	bash tools/setup_env.sh

demo: setup
	$(PYTHON) tools/run_demo.py

test: setup
	$(PYTHON) -m pytest

test-quick: setup
	$(PYTHON) -m pytest -m "not slow"

bench: setup
	$(PYTHON) benchmarks/bench_vsa_layer.py --rounds 41
