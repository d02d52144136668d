# Two commands for a newcomer: `make demo` and `make test`. Each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit bench system-deps venv clean full-scenario

venv: $(STAMP)

# Reinstall whenever pyproject.toml changes; the stamp keeps repeat runs fast.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

# Debian's Prometheus, Alertmanager, promtool and amtool (tests of alerts/ and the e2e suite).
system-deps:
	@if command -v promtool >/dev/null && command -v amtool >/dev/null \
	    && command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: prometheus prometheus-alertmanager"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        prometheus prometheus-alertmanager >/dev/null; \
	else \
	    echo "note: prometheus/prometheus-alertmanager missing and not root; their tests will skip (fail in CI)"; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure, so an empty run is red.
test: venv system-deps lint typecheck
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit tests/property $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/svmon demo $(DEMO_ARGS)

bench: venv
	$(PY) bench/throughput.py $(BENCH_ARGS)

full-scenario: venv
	$(PY) -m pytest -m slow tests/e2e/test_full_scenario.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
