# The two set-up commands (see README): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

# Debian packages: building mysqlclient needs the first two; the tests also need cron
# (crontab add/show/remove), Chromium and its driver (browser tests), MariaDB and Redis,
# and wrk (the benchmark smoke test; it falls back to a Python client without it).
RUN_APT := libmariadb-dev pkg-config
TEST_APT := $(RUN_APT) cron chromium chromium-driver mariadb-server redis-server redis-sentinel wrk

# The settings file every step reads (the service reads DOTENV_PATH too); the first run
# creates it from .env.example with a fresh SECRET_KEY. Empty, as in .env.example: .env.
override DOTENV_PATH := $(or $(strip $(DOTENV_PATH)),.env)
export DOTENV_PATH

.PHONY: install install-dev run migrate demo-data superuser test lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PY)
	scripts/system-deps $(RUN_APT)
	$(PIP) install --quiet -e .

install-dev: $(PY)
	scripts/system-deps $(TEST_APT)
	$(PIP) install --quiet -e '.[dev]'

$(DOTENV_PATH):
	scripts/init-env $(DOTENV_PATH)

# migrate also creates the cache table when the database cache is used (no REDIS_URL).
migrate: install $(DOTENV_PATH)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Demo rows only on the embedded default (no DB_HOST): never touches a real MySQL table.
demo-data: migrate
	$(PY) manage.py seed_visitors --demo

# The web server (API, docs, dashboard), the streams server and the sync loop (Procfile);
# on the embedded default also the live demo, check-ins at a steady rate (Procfile.demo).
# Ctrl-C (honcho then exits 130) or a SIGTERM (143) is a requested stop, not an error.
# Every process reads DOTENV_PATH itself, the real environment winning (`PORT=8000 make
# run`): honcho reads no file (its own would win over the environment), and is given the
# port the web server would use, since it sets PORT in each process. Its line prefix shows
# the time in TZ: the library's TIME_ZONE, the logs' clock.
run: migrate demo-data
	@if $(PY) manage.py simulate_checkins --check; then procfile=Procfile.demo; else procfile=Procfile; fi; \
	  zone_port=$$(DOTENV_PATH=$(DOTENV_PATH) $(PY) scripts/run-settings) || exit 1; \
	  zone=$${zone_port% *}; port=$${zone_port#* }; \
	  echo "== dashboard on http://localhost:$$port/ , docs at /docs, admin at /admin/ (make superuser)"; \
	  trap : INT TERM; TZ=$$zone $(VENV)/bin/honcho start -e /dev/null -p $$port -f $$procfile; rc=$$?; \
	  if [ $$rc -eq 130 ] || [ $$rc -eq 143 ]; then exit 0; fi; exit $$rc

# In a terminal it asks; unattended it takes DJANGO_SUPERUSER_USERNAME, _PASSWORD and _EMAIL
# (environment or .env) and does nothing when that user exists.
superuser: migrate
	$(PY) manage.py ensure_superuser

test: install-dev
	scripts/ensure-services
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# 10M rows in MariaDB database library_bench (loaded once), Redis db 8; writes docs/BENCHMARKS.md.
bench: install-dev
	scripts/ensure-services
	$(PIP) install --quiet -e '.[bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
