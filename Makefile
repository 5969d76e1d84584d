# `make run` and `make test` work from a fresh clone with nothing but python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint schemas bench bench-venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	@echo "splitd is at $(BIN)/splitd (or: . $(BIN)/activate)" >&2
	$(BIN)/splitd run $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Needs the capnp tool (Debian: capnproto); .ci/run installs it.
schemas:
	capnp compile -o- ipc/capnp/*.capnp > /dev/null
	capnp compile -o- ipc/capnp/core/*.capnp > /dev/null

# The anchors bench/restart.py measures splitd against, in a venv of their own.
BENCH_VENV ?= .bench-venv
$(BENCH_VENV)/bin/circusd:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q supervisor==4.3.0 circus==0.19.0

bench-venv: $(BENCH_VENV)/bin/circusd

bench: $(VENV)/.installed-test bench-venv
	$(BIN)/python -m bench.calls
	$(BIN)/python -m bench.restart
	$(BIN)/python -m bench.start
	$(BIN)/python -m bench.orphans
	$(BIN)/python -m bench.node
	$(BIN)/python -m bench.rpc
	$(BIN)/python -m bench.mining
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache .hypothesis
