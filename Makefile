# One-word targets. Everything runs inside .venv, created on first use.
# CTRADER_PROTO_SOURCE (a folder with one sub-folder per proto release) avoids the download; e.g.
#   export CTRADER_PROTO_SOURCE=../shared/proto

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run

.PHONY: install demo proto generate check-generated goldens lint format typecheck test pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[sandbox-tls]'
	touch $(RUN_STAMP)

install: $(STAMP)

demo: $(RUN_STAMP)
	$(VENV)/bin/ctrader demo

proto: install
	$(PY) -m codegen fetch

generate: proto
	$(PY) -m codegen generate

check-generated: proto
	$(PY) -m codegen check

goldens: install
	$(PY) tests/generator/update_goldens.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

typecheck: install
	$(PY) -m mypy

pytest: proto
	PYTHONASYNCIODEBUG=1 $(PY) -m pytest

test: check-generated lint typecheck pytest

bench: proto
	$(PY) bench/codec.py
	$(PY) bench/client.py

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .upb bench/.out
