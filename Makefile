# Erstkontakt: `make run` starts the service on the embedded default (nothing but Python and
# Node needed), `make test` sets the machine up and runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
BENCH_STAMP := bench/node/node_modules/.installed

# The goals that need the machine itself set up (Chromium, Redis, PostgreSQL running, nginx,
# Node; scripts/setup-system.sh, Debian). It runs on every such goal, before anything else, and
# takes a fraction of a second when all is there. `make run` needs none of it.
SYSTEM_GOALS := test pytest jstest soak bench bench-quick bench-against bench-widget screenshots
SYSTEM := $(if $(filter $(SYSTEM_GOALS),$(MAKECMDGOALS)),system)

.PHONY: setup system run test lint typecheck pytest jstest lock clean soak bench bench-quick bench-against \
	bench-widget screenshots

setup: $(PY_STAMP) $(NPM_STAMP)

system:
	scripts/setup-system.sh

# Order-only: the machine comes first (npm may be what it installs), but never re-triggers
# an install here.
$(PY_STAMP): pyproject.toml requirements.lock | $(SYSTEM)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# @noble/hashes ships ES modules only: its scrypt is bundled for the console with the pinned
# esbuild, from node_modules, into node_modules/.bundles (package.json's "bundle"; served by
# chatserver/web/assets.py).
$(NPM_STAMP): package.json package-lock.json | $(SYSTEM)
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent bundle
	touch $@

# The benchmark's own Node packages (socket.io server, redis adapter, client): bench only.
$(BENCH_STAMP): bench/node/package.json bench/node/package-lock.json | $(SYSTEM)
	npm ci --prefix bench/node --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	mkdir -p var
	CHATSERVER_DEMO=$${CHATSERVER_DEMO:-true} $(BIN)/chatserver serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	node_modules/.bin/eslint counsellor_console/static widget/static jslib eslint.config.js

typecheck: setup
	$(BIN)/mypy

jstest: setup
	node --test jslib/test/

pytest: setup $(BENCH_STAMP)
	$(BIN)/pytest -q -m "not soak"

test: lint typecheck jstest pytest

# Longer hardening runs: 1500 fuzz examples per test, longer floods (see docs/security.md);
# the tests marked `hardening` and every `soak` test (latency bounds), wherever they live.
soak: setup
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest -q --timeout=3600 -m "hardening or soak"

# The benchmark (docs/benchmarks.md): P, B and N side by side, about 25 minutes; the results
# table replaces the one in docs/benchmarks.md. bench-quick is a smoke run under two minutes.
bench: setup $(BENCH_STAMP)
	$(BIN)/python bench/run.py --write-docs

bench-quick: setup $(BENCH_STAMP)
	$(BIN)/python bench/run.py --quick

# P before (the tree of commit REF) and after (this tree) in one run, about five minutes; the
# results replace the before-and-after section of docs/benchmarks.md.
bench-against: setup $(BENCH_STAMP)
	@test -n "$(REF)" || { echo "usage: make bench-against REF=<commit>"; exit 2; }
	$(BIN)/python bench/run.py --against $(REF) --write-docs

# Launcher click to usable widget in Chromium, network and CPU throttled (Slow 4G, 3G,
# loopback; about three minutes); the table replaces the one in docs/benchmarks.md.
bench-widget: setup
	$(BIN)/python bench/widget_latency.py --write-docs

# The screenshots of docs/console.md, made anew from the demo (a throwaway server on a free
# port, Chromium through Playwright); the PNGs land in docs/img/.
screenshots: setup
	$(BIN)/python scripts/console-screenshots.py

# Re-pin Python dependencies after changing pyproject.toml.
lock:
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) node_modules bench/node/node_modules .mypy_cache .ruff_cache .pytest_cache
