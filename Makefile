# Readalong: `make run` serves with demo data on embedded engines; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench lint mutation clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/readalong serve --demo --with-worker

test: $(STAMP)
	$(BIN)/python -m pytest

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
	rm -rf $(VENV) var .pytest_cache mutants
