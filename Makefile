# Two commands for a newcomer: `make demo` and `make test`. Each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit bench system-deps monitoring-deps kafka-libs venv clean full-scenario live-incidents

venv: $(STAMP)

# Reinstall whenever pyproject.toml changes; the stamp keeps repeat runs fast.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

# Debian packages svmon runs for real, each installed only when missing, with one apt-get update.
# prometheus and prometheus-alertmanager are needed by both `make demo` (`svmon demo --prometheus`
# runs them beside the daemon: daemon/tools/monitoring.py) and `make test` (promtool and amtool test
# alerts/; the e2e suite). The rest is for the suite only: a JDK and Maven (Apache Kafka is fetched
# from Maven Central and run on the JDK: tests/apache_kafka.py), chromium with fonts-noto-cjk (the
# headless browser check of the notices, which are Chinese: without a CJK font every glyph prints as
# a box; tests/integration/test_notice_browser.py), and postgresql, whose server binaries
# tests/postgres.py starts a private cluster from when no server answers (it looks for the same
# /usr/lib/postgresql/*/bin/initdb). createcluster.conf is written first because the package would
# otherwise create and start a system cluster on 5432, which the suite would then use instead of its
# own. It is read by the package's postinst (configure_version in postgresql-common), and ucf keeps
# our copy when postgresql-common installs its own template.
CREATECLUSTER_CONF := /etc/postgresql-common/createcluster.conf

# Shell fragments of the two recipes below: each check adds to $$missing, then install-missing runs.
MONITORING_CHECKS = \
	for tool in promtool amtool prometheus prometheus-alertmanager; do \
	    command -v $$tool >/dev/null || missing="prometheus prometheus-alertmanager"; \
	done;
TEST_ONLY_CHECKS = \
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing="$$missing postgresql"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc' >/dev/null || missing="$$missing fonts-noto-cjk";
# $(call install-missing,what happens without them): apt-get install $$missing as root, else a note.
install-missing = \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $${missing\# }"; \
	    case "$$missing" in *postgresql*) \
	        mkdir -p $(dir $(CREATECLUSTER_CONF)); \
	        grep -Eqs '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*(false|off)' $(CREATECLUSTER_CONF) \
	            || printf '%s\n' "\# svmon's make system-deps: no system cluster, the tests start their own" \
	                "create_main_cluster = false" >> $(CREATECLUSTER_CONF);; \
	    esac; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	        $$missing >/dev/null; \
	else \
	    echo "note: Debian packages missing and not root: $${missing\# }; $(1)"; \
	fi

system-deps:
	@missing=""; $(MONITORING_CHECKS) $(TEST_ONLY_CHECKS) $(call install-missing,their tests will skip (fail in CI))

# Only what `svmon demo --prometheus` needs; the demo itself says so when they are missing.
monitoring-deps:
	@missing=""; $(MONITORING_CHECKS) $(call install-missing,svmon demo --prometheus will say what to install)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure, so an empty run is red.
# Apache Kafka's jars, fetched once into ~/.cache/svmon; a failed fetch says so in one line and fails
# the run under CI=true (elsewhere its tests skip with that reason).
kafka-libs: venv system-deps
	$(PY) -m tests.apache_kafka

# --durations: the slowest tests are named at the end of every run, to keep the suite in its budget.
test: venv system-deps kafka-libs lint typecheck
	$(PY) -m pytest -m "not slow" --durations=15 $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit tests/property $(PYTEST_ARGS)

# With Debian's Prometheus and Alertmanager when they are there (monitoring-deps installs them as
# root): the summary then lists the firing alerts. On a terminal the demo goes live after the year.
demo: venv monitoring-deps
	$(VENV)/bin/svmon demo $$(command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null \
	    && echo --prometheus) $(DEMO_ARGS)

# The bench runs in a virtualenv of its own, .venv/bench (inside .venv: ignored, linted by nobody,
# removed by `make clean`): its extra, Quix Streams (the peer it is compared with), caps pydantic
# below what .venv resolves, and `make test` must keep running on .venv as it is. Reinstalled when
# pyproject.toml changes; svmon itself runs there too, so both use one pydantic.
bench:
	@test -x $(VENV)/bench/bin/python || $(PYTHON) -m venv $(VENV)/bench
	@test $(VENV)/bench/.installed-stamp -nt pyproject.toml || { \
	    $(VENV)/bench/bin/python -m pip install --quiet --upgrade pip \
	    && $(VENV)/bench/bin/python -m pip install --quiet -e '.[bench]' \
	    && touch $(VENV)/bench/.installed-stamp; }
	$(VENV)/bench/bin/python bench/throughput.py $(BENCH_ARGS)

# Slow (about an hour): every live-demo incident fires its alert and resolves, with the committed rules.
live-incidents: venv system-deps
	$(PY) -m pytest -m slow tests/e2e/test_live_incidents.py $(PYTEST_ARGS)

full-scenario: venv
	$(PY) -m pytest -m slow tests/e2e/test_full_scenario.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
