# Two commands: `make run` starts the app, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# A portable llama.cpp build: pip's wheel cache ignores CMAKE_ARGS, so a cached wheel must run on any x86-64.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export ANONYMIZED_TELEMETRY := False

.PHONY: run test audit clean

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/.dev
	$(PY) -m pytest

# Known vulnerabilities in the pinned requirements (top-level pins, as pinned). --strict: a package that cannot be
# looked up fails the audit instead of counting as "no known vulnerabilities" (what happens offline).
audit: $(VENV)/.dev
	$(PY) -m pip_audit --strict --no-deps --disable-pip -r requirements-dev.txt

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache test-output
