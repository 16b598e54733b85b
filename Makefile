# Every target bootstraps .venv by itself: a fresh clone needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=
# `make demo -- --duration 30` passes what follows `--` on, like ARGS="--duration 30" does.
TARGETS := install demo test lint bench clean
PASSED := $(filter-out $(TARGETS),$(MAKECMDGOALS))

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pms-bridge demo $(ARGS) $(PASSED)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS) $(PASSED)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS) $(PASSED)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The words after `--` are arguments, not targets: let make accept them and do nothing.
ifneq ($(PASSED),)
$(PASSED):
	@:
endif
