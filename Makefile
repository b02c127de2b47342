# The two commands of the README. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint screenshots bench-ingest clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet '.[dev]'
	@touch $(INSTALLED)

## make run: the embedded Threadline (SQLite, tasks inline, demo data) on http://127.0.0.1:8000/
run: $(INSTALLED)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_demo
	$(PY) manage.py run_embedded 127.0.0.1:8000

## make test: lint, type-check and the whole test suite (SQLite unless DATABASE_URL says otherwise)
test: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

## make screenshots: refresh the pictures of the main pages in docs/screenshots/ (needs chromium)
screenshots: $(INSTALLED)
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q -m browser

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

bench-ingest: $(INSTALLED)
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
