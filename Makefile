# The two set-up commands (see README): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install install-dev run web sync migrate demo-data test lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PY)
	$(PIP) install --quiet -e .

install-dev: $(PY)
	$(PIP) install --quiet -e '.[dev]'

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Demo rows only on the embedded default (no DB_HOST): never touches a real MySQL table.
demo-data: migrate
	$(PY) manage.py seed_visitors --demo

# API + docs + dashboard (gunicorn) and the sync loop, side by side (Procfile).
run: migrate demo-data
	$(VENV)/bin/honcho start

test: install-dev
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
