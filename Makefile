# Set-up lives here: `./memcli …` and `make test` both create or reuse .venv through `make venv`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch: 2.13.0 is the CPU build on this project's machines. Elsewhere, get the CPU wheel with
#   make venv TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=

.PHONY: venv test test-fast lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "memcli: installing into $(VENV) (first time: several minutes, llama.cpp compiles)" >&2
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q -e '.[dev,replica]'
	$(BIN)/python -m memcli.backends.prepare
	@touch $@

test: venv
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not integration"

# ruff (rules in pyproject's [tool.ruff]) and the layer contracts (pyproject's [tool.importlinter]);
# both run (and report) even when the first fails; both caches live inside the venv
lint: venv
	@status=0; \
	echo "$(BIN)/ruff check memcli tests benchmarks"; \
	$(BIN)/ruff check memcli tests benchmarks || status=1; \
	echo "$(BIN)/lint-imports"; \
	$(BIN)/lint-imports --no-logo --cache-dir $(VENV)/.import_linter_cache || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache
