# Every target bootstraps .venv by itself: a fresh clone needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every install takes exact versions and hashes from the lock; `make lock` upgrades it.
DEV_LOCK := requirements/dev.lock
PROD_LOCK := requirements/prod.lock
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet
ARGS ?=
# `make demo -- --duration 30` passes what follows `--` on, like ARGS="--duration 30" does.
TARGETS := install demo test test-system-pg lint bench lock clean ts-client
PASSED := $(filter-out $(TARGETS),$(MAKECMDGOALS))

.PHONY: install demo test test-system-pg lint bench lock clean ts-client

$(STAMP): pyproject.toml $(DEV_LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pms-bridge demo $(ARGS) $(PASSED)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS) $(PASSED)

# The capture and migrate suites again on the machine's own PostgreSQL (e.g. Debian's 15), when
# it has one, and the booking connections' JIT test (the embedded server has no JIT).
SYSTEM_PG_TESTS := tests/integration/capture/test_trigger_basic.py \
	tests/integration/api/test_booking_connections.py tests/integration/capture/test_migrate.py \
	tests/integration/capture/test_capture_correctness.py \
	tests/integration/capture/test_crash_recovery.py tests/integration/capture/test_malformed.py \
	tests/integration/capture/test_partitions.py \
	$(wildcard tests/integration/capture/test_logical_*.py)
test-system-pg: $(STAMP)
	@bindir=$$(pg_config --bindir 2>/dev/null); \
	if [ -x "$$bindir/postgres" ]; then \
		echo "capture, migrate and JIT suites on $$($$bindir/postgres --version)"; \
		PMS_BRIDGE_TEST_PG_BINDIR=$$bindir $(BIN)/python -m pytest -q $(SYSTEM_PG_TESTS); \
	else echo "no system PostgreSQL (pg_config --bindir): skipped"; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS) $(PASSED)

# Re-resolves both locks to the newest releases the ranges in pyproject.toml allow; the image's
# build stage takes the build backend from build.lock, at the dev lock's versions.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --upgrade -o $(PROD_LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev --extra demo \
		$(LOCK_FLAGS) --upgrade -o $(DEV_LOCK)
	$(BIN)/uv pip compile requirements/build.in -c $(DEV_LOCK) $(LOCK_FLAGS) -o requirements/build.lock

# The TypeScript client's OpenAPI document and its generated types, from the API's code.
ts-client: $(STAMP)
	$(BIN)/python -m api.openapi --write clients/typescript/openapi.json
	cd clients/typescript && npm ci --cache .npm-cache --no-audit --no-fund && npm run generate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The words after `--` are arguments, not targets: let make accept them and do nothing.
ifneq ($(PASSED),)
$(PASSED):
	@:
endif
