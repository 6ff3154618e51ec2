# Each target sets up .venv/ first when needed (dev/setup_env.sh is
# idempotent: seconds on a ready machine, ~10-20 minutes on a new one).
PYTHON := .venv/bin/python

LINT_PATHS := vsa_mm tests tools benchmarks configs dev setup.py

#: The oldest torch that CI tests, beside the pinned one (docs/environment.md).
OLDEST_TORCH := 2.1.2
OLDEST_VENV_LOG := .venv-torch$(OLDEST_TORCH).log

.PHONY: setup demo lint format test test-quick test-torch test-cuda gpu-check bench docs-tables

setup:
	bash dev/setup_env.sh

demo: setup
	$(PYTHON) dev/run_demo.py

lint: setup
	$(PYTHON) -m flake8 $(LINT_PATHS)
	$(PYTHON) -m isort --check-only --diff $(LINT_PATHS)
	$(PYTHON) -m yapf --diff --recursive $(LINT_PATHS)

format: setup
	$(PYTHON) -m isort $(LINT_PATHS)
	$(PYTHON) -m yapf --in-place --recursive $(LINT_PATHS)

# The oldest stack's venv downloads while the set-up compiles mmcv; its
# tests run after the pinned suite.
test:
	@bash dev/test_torch.sh $(OLDEST_TORCH) --build-only > $(OLDEST_VENV_LOG) 2>&1 & \
	builder=$$!; \
	$(MAKE) lint && $(PYTHON) -m pytest; status=$$?; \
	if ! wait $$builder; then cat $(OLDEST_VENV_LOG); exit 1; fi; \
	[ $$status -eq 0 ] && bash dev/test_torch.sh $(OLDEST_TORCH)

# The torch-range tests on another torch, in .venv-torch<TORCH>/:
# make test-torch TORCH=2.4.1
test-torch:
	bash dev/test_torch.sh $(TORCH)

test-quick: lint
	$(PYTHON) -m pytest -m "not slow"

test-cuda: setup
	$(PYTHON) -m pytest -m cuda -n 0 -rs

# On a GPU machine: CUDA set-up, the GPU benchmarks and the cuda tier, one
# report (work_dirs/gpu_check/report.md); dev/gpu_check.sh lists the steps.
gpu-check:
	bash dev/gpu_check.sh

bench: setup
	$(PYTHON) benchmarks/bench_vsa_layer.py --rounds 41

docs-tables: setup
	$(PYTHON) dev/update_docs.py --benchmarks
