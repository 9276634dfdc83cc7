# Two commands matter (README): `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Debian packages: a CJK font for the label PDFs; Chromium, poppler and gettext for the tests;
# poppler-data so poppler reads the built-in CJK font of label sheets made without the TrueType font;
# nginx and openssl so a test can check deploy/nginx with `nginx -t`; nginx and PostgreSQL's cluster
# tools for the tests that run several machines and a replica; wrk for the HTTP benchmark.
RUN_DEBS := fonts-wqy-microhei
TEST_DEBS := $(RUN_DEBS) chromium poppler-utils poppler-data gettext nginx openssl postgresql postgresql-common redis-server gpg rsync
BENCH_DEBS := $(RUN_DEBS) wrk

.PHONY: run test test-fast test-next lint lint-imports format bench install install-dev system-run system-test system-bench check clean

$(VENV)/.installed: requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Installs the Debian packages that are missing (needs root or sudo; does nothing if present).
system-run:
	@scripts/apt-ensure.sh --optional "label sheets use the PDF's built-in CJK font instead of WenQuanYi Micro Hei" $(RUN_DEBS)
system-test:
	@scripts/apt-ensure.sh $(TEST_DEBS)
system-bench:
	@scripts/apt-ensure.sh $(BENCH_DEBS)

## Set up and run everything: web on http://127.0.0.1:8000, Celery worker and beat, demo data.
run: system-run install
	scripts/run.sh

## The whole test suite (unit, API, real Celery worker, several machines, read replica, browser end-to-end),
## as two pytest runs side by side: the tests that start servers and browsers, and the rest (scripts/test.sh).
test: system-test install-dev
	PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test.sh

## Without the worker, several-machine, replica and browser tests, for quick local loops.
FAST_MARKERS := not celery_worker and not e2e and not multinode and not replica and not docs_snippets and not outage and not upgrade
test-fast: install-dev
	$(PY) -m pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

## The fast suite on the next Django and DRF (constraints-next.txt) with Python 3.13, on SQLite, in a
## venv of its own, .venv-next (scripts/test-next.sh; docs/architecture.md, "The next Django").
test-next:
	FAST_MARKERS="$(FAST_MARKERS)" PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test-next.sh

## Lint and format check (ruff) and the import layers (import-linter), configured in pyproject.toml;
## CI runs it before the tests.
lint: install-dev lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## The layers of docs/architecture.md as import-linter contracts (pyproject.toml [tool.importlinter]).
lint-imports: install-dev
	$(VENV)/bin/lint-imports

## Apply ruff's safe fixes and format the code, so that `make lint` passes.
format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Benchmarks (PostgreSQL: set DATABASE_URL); prints the figures.
bench: system-bench install-dev
	bench/run_all.sh

check: install-dev
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf var artifacts .pytest_cache
