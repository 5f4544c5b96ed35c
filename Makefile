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
LOCK        := requirements.lock
# pip options for the torch install only; they replace the automatic choice of build
# (see README), e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128".
TORCH_PIP_ARGS ?=
# JupyterLab's settings for the course's environment (see $(LAB_SETTINGS) below).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

.DEFAULT_GOAL := help
.PHONY: help setup lab lint lock test test-helpers test-notebooks test-notebooks-simulated execute bench clean dot

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-26s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

# The stamp makes set-up idempotent: a second `make test` installs nothing
# unless requirements.txt, requirements.lock or pyproject.toml changed.
# 1. torch: helpers/torch_install.py asks pip which build it would install and picks
#    the one for this machine (CPU wheel, CPU index when there is no NVIDIA GPU, CUDA
#    build when there is one; TORCH_PIP_ARGS overrides), saying so in one line.
# 2. everything else at the versions of requirements.lock (torch's dependencies too).
$(STAMP): requirements.txt $(LOCK) pyproject.toml | $(PY)
	$(PY) -m helpers.torch_install install --pip-args="$(TORCH_PIP_ARGS)"
	$(PY) -m pip install --quiet -r requirements.txt -c $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course .venv)" >/dev/null
	touch $(STAMP)

# JupyterLab settings for the course's environment only: no "get notified about
# Jupyter news?" pop-up and no update check (both would contact jupyter.org).
$(LAB_SETTINGS): Makefile | $(STAMP)
	mkdir -p $(dir $@)
	printf '%s\n' '{"@jupyterlab/apputils-extension:notification":' \
	  '  {"fetchNews": "false", "checkForUpdates": false}}' > $@

setup: $(STAMP) $(LAB_SETTINGS) dot  ## create .venv and install everything (idempotent)

# requirements.txt holds the top-level pins (edit it by hand); requirements.lock every
# package of a clean install of it, so a new release of a dependency cannot change the
# notebooks' outputs. Regenerate the lock after editing requirements.txt.
lock:  ## regenerate requirements.lock: a clean install of requirements.txt in a temporary venv
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "installing requirements.txt into a temporary venv ($$tmp)"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m helpers.torch_install install --pip-args="$(TORCH_PIP_ARGS)"; \
	"$$tmp/venv/bin/python" -m pip install --quiet -r requirements.txt; \
	"$$tmp/venv/bin/python" -m pip list --format=freeze --exclude-editable \
	  | "$$tmp/venv/bin/python" -m helpers.torch_install lock > "$$tmp/lock"; \
	mv "$$tmp/lock" $(LOCK); \
	echo "$(LOCK): $$(grep -c '==' $(LOCK)) pinned packages"

# graphviz's `dot` renders the computation graphs of lessons 01-02.
dot:
	@command -v dot >/dev/null 2>&1 && exit 0; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "graphviz's 'dot' is missing: install it (apt: sudo apt-get install graphviz; brew: brew install graphviz; conda: conda install -c conda-forge graphviz), then run make again" >&2; exit 1; fi; \
	echo "installing graphviz (Debian package) for its 'dot' program"; \
	$$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq graphviz >/dev/null; \
	command -v dot >/dev/null || { echo "installing graphviz failed; install it by hand: sudo apt-get install graphviz" >&2; exit 1; }

lab: setup  ## set up, then open the course in JupyterLab at lesson 00
	jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS) \
	  notebooks/00_start_here.ipynb

# The three passes (pytest, which also runs every lesson without its solutions, and the two
# strict nbval passes) run side by side: each executes one notebook at a time, mostly on one
# core, so on 2 cores they take about half the time they take one after the other. Each
# pass's output is printed whole when it ends (--output-sync).
test: setup lint  ## set up, lint, then side by side: pytest on helpers/, strict nbval natively and on a simulated AVX2 CPU
	$(MAKE) --no-print-directory -j3 --output-sync=target test-helpers test-notebooks \
	  test-notebooks-simulated

lint: setup  ## ruff over helpers/, tests/, bench/ and the notebooks (rules in pyproject.toml)
	ruff check helpers tests bench notebooks

test-helpers: setup  ## pytest tests/ (gradients against PyTorch, data, notebooks saved with outputs)
	pytest -q tests/

# Strict nbval: stored outputs are compared (no --nbval-lax). Serial on purpose:
# pytest-xdist would scatter one notebook's cells over several kernels. Stored
# outputs are made on the CPU (make execute) and compared on the CPU, whatever
# GPU the machine has, so they compare everywhere.
test-notebooks: setup  ## strict nbval: re-run every notebook and compare its stored outputs
	COURSE_DEVICE=cpu pytest -q --nbval --nbval-current-env --nbval-sanitize-with $(SANITIZE) \
	  --nbval-cell-timeout 900 $(if $(NB),$(NB),notebooks/)

# Simulated CPUs: the same strict nbval with the math libraries told to use the kernels of
# another CPU. Float rounding differs between CPUs (PyTorch's ATen, MKL, oneDNN and OpenBLAS
# pick kernels per CPU) and training amplifies it, so a stored output that holds only on the
# machine that made it fails here the day it is written, not on a learner's laptop.
#   avx2: an AVX2 CPU without AVX-512 (most laptops, AMD Zen 1-3), all four libraries.
#   sse:  a CPU with SSE4 only (ATen's portable kernels), one thread.
SIM_CPU ?= avx2
SIM_ENV_avx2 := ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
                ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell
SIM_ENV_sse  := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
                ONEDNN_MAX_CPU_ISA=SSE41 OPENBLAS_CORETYPE=Nehalem OMP_NUM_THREADS=1
test-notebooks-simulated: setup  ## strict nbval on a simulated CPU (SIM_CPU=avx2, the default, or sse)
	@test -n "$(SIM_ENV_$(SIM_CPU))" || { echo "SIM_CPU=$(SIM_CPU) is not known: use avx2 or sse" >&2; exit 2; }
	@echo "strict nbval on a simulated CPU ($(SIM_CPU)): $(strip $(SIM_ENV_$(SIM_CPU)))"
	env $(SIM_ENV_$(SIM_CPU)) COURSE_DEVICE=cpu pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with $(SANITIZE) --nbval-cell-timeout 900 $(if $(NB),$(NB),notebooks/)

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
