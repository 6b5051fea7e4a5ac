# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint format schema migrate demo bench clean install docs-images

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

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
