# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions with hashes of every runtime and dev dependency: a fresh machine next month installs
# what was tested. `make lock` refreshes it after a change to pyproject.toml's dependencies.
LOCK := requirements.lock
# The same versions for the runtime dependencies alone: what the Docker image installs.
RUNTIME_LOCK := requirements-runtime.lock

.PHONY: run test check lint format schema migrate demo bench clean install docs-images lock

$(STAMP): pyproject.toml $(LOCK)
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Universal (any OS), for the oldest Python we support; the hashes are PyPI's.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --quiet --output-file $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --constraint $(LOCK) --universal --python-version 3.11 \
		--generate-hashes --quiet --output-file $(RUNTIME_LOCK)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/calltrax serve --host $${HOST:-0.0.0.0} --port $${PORT:-8000}

migrate: $(STAMP)
	$(BIN)/calltrax migrate

demo: $(STAMP)
	$(BIN)/calltrax demo

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(STAMP)
	$(BIN)/strawberry export-schema graph.schema:schema --output schema.graphql

test: $(STAMP) check
	$(BIN)/pytest $(PYTEST_ARGS)

# Tests write their screenshots to temp folders; this refreshes the README's (needs Chromium).
docs-images: $(STAMP)
	CALLTRAX_DASHBOARD_PNG=$(CURDIR)/docs/dashboard.png $(BIN)/pytest -q tests/public_dashboard/test_page_in_chromium.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
