# Two commands: `make run` starts the app, `make test` runs every test. Both set themselves up.
# `make check` (lint, types, fast tests) is what a contributor runs before a commit.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# A portable llama.cpp build: pip's wheel cache ignores CMAKE_ARGS, so a cached wheel must run on any x86-64.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export ANONYMIZED_TELEMETRY := False

.PHONY: run test check audit clean

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/.dev
	$(PY) -m pytest

# Lint, types, and the tests that need no real model or server (under two minutes here).
check: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow and not e2e" -p no:randomly

# Known vulnerabilities in the pinned requirements (top-level pins, as pinned). --strict: a package that cannot be
# looked up fails the audit instead of counting as "no known vulnerabilities" (what happens offline).
audit: $(VENV)/.dev
	$(PY) -m pip_audit --strict --no-deps --disable-pip -r requirements-dev.txt

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output *.egg-info
