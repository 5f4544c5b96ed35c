# From Value to GPT — set-up, lab, tests.  `make help` lists the targets.
#
# Everything runs inside .venv; its bin/ is put first on PATH for every command
# make starts, so `jupyter`, `pytest` and `python` are the venv's.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Jupyter looks for the python3 kernel in the venv before ~/.local, so the
# notebooks always run on the venv's Python.
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NOTEBOOKS   := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SANITIZE    := tests/nbval_sanitize.cfg
# pip options for the torch install only, e.g. a CUDA index (see README).
TORCH_PIP_ARGS ?=
# Set to 1 to allow a CUDA build of torch (several GB) on a GPU machine.
ALLOW_CUDA_TORCH ?= 0

.DEFAULT_GOAL := help
.PHONY: help setup lab test test-helpers test-notebooks execute bench clean dot

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

# The stamp makes set-up idempotent: a second `make test` installs nothing
# unless requirements.txt or pyproject.toml changed.
$(STAMP): requirements.txt pyproject.toml | $(PY)
	@# Refuse to pull a multi-GB CUDA torch by accident: ask pip what it would install first.
	@if ! $(PY) -c 'import torch' 2>/dev/null && [ "$(ALLOW_CUDA_TORCH)" != 1 ]; then \
	  $(PY) -m pip install --quiet --dry-run --ignore-installed --report $(VENV)/torch-plan.json \
	    $(TORCH_PIP_ARGS) "$$(grep -E '^torch==' requirements.txt)"; \
	  $(PY) -c 'import json,sys; p=json.load(open("$(VENV)/torch-plan.json")); n=[i["metadata"]["name"] for i in p["install"]]; sys.exit("pip would install a CUDA build of torch ("+", ".join(x for x in n if x.startswith("nvidia"))+"). For the CPU build run: make $(MAKECMDGOALS) TORCH_PIP_ARGS=\"--index-url https://download.pytorch.org/whl/cpu\"; to accept the CUDA build: ALLOW_CUDA_TORCH=1") if any(x.startswith("nvidia") for x in n) else None'; \
	fi
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$$(grep -E '^torch==' requirements.txt)"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course .venv)" >/dev/null
	touch $(STAMP)

setup: $(STAMP) dot  ## create .venv and install everything (idempotent)

# graphviz's `dot` renders the computation graphs of lessons 01-02.
dot:
	@command -v dot >/dev/null 2>&1 && exit 0; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "graphviz's 'dot' is missing: install it (apt: sudo apt-get install graphviz; brew: brew install graphviz; conda: conda install -c conda-forge graphviz), then run make again" >&2; exit 1; fi; \
	echo "installing graphviz (Debian package) for its 'dot' program"; \
	$$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq graphviz >/dev/null; \
	command -v dot >/dev/null || { echo "installing graphviz failed; install it by hand: sudo apt-get install graphviz" >&2; exit 1; }

lab: setup  ## set up, then open the course in JupyterLab
	jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

test: setup test-helpers test-notebooks  ## set up, then run pytest on helpers/ and strict nbval on every notebook

test-helpers: setup  ## pytest tests/ (gradients against PyTorch, data, notebooks saved with outputs)
	pytest -q tests/

# Strict nbval: stored outputs are compared (no --nbval-lax). Serial on purpose:
# pytest-xdist would scatter one notebook's cells over several kernels. Stored
# outputs are made on the CPU (make execute) and compared on the CPU, whatever
# GPU the machine has, so they compare everywhere.
test-notebooks: setup  ## strict nbval: re-run every notebook and compare its stored outputs
	COURSE_DEVICE=cpu pytest -q --nbval --nbval-current-env --nbval-sanitize-with $(SANITIZE) \
	  --nbval-cell-timeout 900 $(if $(NB),$(NB),notebooks/)

execute: setup  ## re-run notebooks in place, in order, fresh kernel each (NB=path for one)
	@for nb in $(if $(NB),$(NB),$(NOTEBOOKS)); do \
	  echo "executing $$nb"; \
	  COURSE_DEVICE=cpu jupyter nbconvert --to notebook --execute --inplace --log-level=WARN \
	    --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=1800 \
	    --ExecutePreprocessor.record_timing=False "$$nb"; \
	done

bench: setup  ## benchmarks: print speed figures (installs the `bench` extra)
	$(PY) -m pip install --quiet -e '.[bench]' --no-build-isolation
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) "$$b"; done

clean:  ## remove .venv and caches (.ipynb_checkpoints too); keeps data/ and runs/
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info helpers/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
