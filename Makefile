# gonb -- build/test entry points.  Everything runs through .venv/bin/..., no activation needed.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: .venv export check-sync compile nbtest nbexec pytest pytest-compiled pytest-pure pytest-install test demo lab clean

# ---- virtualenv -------------------------------------------------------------
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# (re)install whenever setup.py, pyproject.toml or settings.ini is newer than the stamp (the editable
# install compiles too, as `make compile`, where a C compiler is present); also register the venv's own
# python as Jupyter kernel "python3" (in .venv/share/jupyter/kernels, which a venv's jupyter searches
# before ~/.local/share/jupyter)
$(STAMP): $(BIN)/python setup.py pyproject.toml settings.ini
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (gonb .venv)"
	touch $(STAMP)

.venv: $(STAMP)

# ---- nbdev ------------------------------------------------------------------
export: .venv
	$(BIN)/nbdev_export

check-sync: .venv
	BIN=$(BIN) bash tools/check_sync.sh

# cells marked `#| slow` are skipped (tst_flags = slow); run them with: make nbtest NBTEST_FLAGS="--flags slow"
NBTEST_FLAGS ?=
nbtest: .venv
	$(BIN)/nbdev_test --n_workers 2 --timing $(NBTEST_FLAGS)

# run every nbs/*.ipynb (except _*.ipynb) top to bottom in a real kernel; notebooks are not modified
nbexec: .venv
	@out="$$(mktemp -d /tmp/gonb-nbexec-XXXXXX)"; \
	shopt -s nullglob; nbs=(); \
	for nb in nbs/*.ipynb; do [[ "$$(basename "$$nb")" == _* ]] || nbs+=("$$nb"); done; \
	if [[ $${#nbs[@]} -eq 0 ]]; then echo "nbexec: ERROR: no notebooks found in nbs/" >&2; exit 1; fi; \
	echo "nbexec: kernel python3 -> $$($(BIN)/jupyter kernelspec list --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["kernelspecs"]["python3"]["spec"]["argv"][0])')"; \
	failed=(); \
	for nb in "$${nbs[@]}"; do \
	  echo "nbexec: $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --output-dir "$$out" \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
	    --log-level=WARN "$$nb" || failed+=("$$nb"); \
	done; \
	if [[ $${#failed[@]} -ne 0 ]]; then \
	  echo "nbexec: FAILED: $${failed[*]} (executed copies in $$out)" >&2; exit 1; fi; \
	rm -rf "$$out"; echo "nbexec: OK ($${#nbs[@]} notebooks)"

# ---- the compiled build (nbs/15_compiled.ipynb) -------------------------------
# gonb/__compiled__/<build id>/: Cython builds the exported modules when a C compiler is present (a
# no-op while the build matches the source); without one it says so in one line and succeeds. A build
# that a running process (a Jupyter kernel) still uses is kept; `pip install .` builds into the install
compile: .venv
	$(BIN)/python -m gonb.compiled build

# ---- tests ------------------------------------------------------------------
# `make pytest` runs the suite in whatever mode the environment selects (GONB_PURE_PYTHON,
# GONB_REQUIRE_COMPILED); pytest-compiled and pytest-pure pin the mode
PYTEST_ARGS ?=
pytest: .venv
	@rc=0; $(BIN)/python -m pytest -q tests/ $(PYTEST_ARGS) || rc=$$?; \
	if [[ $$rc -eq 5 ]]; then echo "pytest: ERROR: no tests were collected in tests/" >&2; fi; \
	exit $$rc

# with a C compiler the whole suite runs compiled, and GONB_REQUIRE_COMPILED=1 makes a missing build
# fail instead of testing pure Python twice; without one there is nothing compiled to test
pytest-compiled: compile
	@if $(BIN)/python -c 'import sys, gonb.compiled as c; sys.exit(bool(c.toolchain_missing()))'; then \
	  echo "pytest: compiled (GONB_REQUIRE_COMPILED=1)"; \
	  env -u GONB_PURE_PYTHON GONB_REQUIRE_COMPILED=1 $(MAKE) --no-print-directory pytest PYTEST_ARGS="-m 'not slow'"; \
	else echo "pytest: no C compiler here: the compiled pass is skipped"; fi

# the pure pass keeps `make test` in its budget: the soak runs 5 s (30 s in the compiled pass), and the
# lab's smoke run (~20 s of subprocess servers, most of them not gonb) runs in the compiled pass only
PURE_SOAK_SECONDS ?= 5
pytest-pure: .venv
	@echo "pytest: pure Python (GONB_PURE_PYTHON=1)"
	env -u GONB_REQUIRE_COMPILED GONB_PURE_PYTHON=1 GONB_SOAK_SECONDS=$(PURE_SOAK_SECONDS) $(MAKE) --no-print-directory pytest \
	  PYTEST_ARGS="-m 'not slow' --deselect tests/test_bench.py::test_bench_smoke"

# tests/test_install.py (marked slow, ~2 min): wheels built from this tree, installed into fresh venvs; what
# they run does not depend on this process's mode, so `make test` runs them once, not in each pass
pytest-install: .venv
	$(MAKE) --no-print-directory pytest PYTEST_ARGS="-m slow"

# Which layer runs in which mode (budget: well under 10 min on 2 cores; measured in README.md):
# - the notebooks (nbtest, nbexec) run pure Python: each runs its own chapter's cells, which are pure
#   whatever the mode, and GONB_PURE_PYTHON=1 keeps what they import pure too, as the text reads;
# - pytest runs the whole suite in both modes, both poller backends each: compiled first, then pure;
#   then the slow install tests once.
test: .venv
	$(MAKE) --no-print-directory check-sync
	$(MAKE) --no-print-directory compile
	env -u GONB_REQUIRE_COMPILED GONB_PURE_PYTHON=1 $(MAKE) --no-print-directory nbtest
	env -u GONB_REQUIRE_COMPILED GONB_PURE_PYTHON=1 $(MAKE) --no-print-directory nbexec
	$(MAKE) --no-print-directory pytest-compiled
	$(MAKE) --no-print-directory pytest-pure
	$(MAKE) --no-print-directory pytest-install

# ---- misc -------------------------------------------------------------------
# builds first (when a C compiler is present) and says which mode runs
demo: .venv
	$(BIN)/nbdev_export
	$(BIN)/python -m gonb.compiled build
	$(BIN)/python -m gonb.compiled status
	$(BIN)/python examples/demo.py

# jupyter refuses to start as root without --allow-root (CI/dev machines here run as root)
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: .venv
	$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 $(LAB_ROOT) nbs/

clean:
	rm -rf $(VENV) build dist _docs _proc .pytest_cache .hypothesis *.egg-info gonb/__compiled__
	find . -path ./.git -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 -r rm -rf
