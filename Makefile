# kvit: one entry point for people and CI alike.
CARGO ?= cargo

.PHONY: all build test test-all demo demo-keymap bench lint fmt clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## Every test, with loopback Redis and PostgreSQL servers started first and
## stopped after, even on failure (scripts/with-services.sh); their URLs reach
## every step as KVIT_REDIS_URL and KVIT_POSTGRES_URL.
test:
	scripts/with-services.sh $(MAKE) test-all

## Every test against the servers named in the environment (tests that need
## an unset one say they are skipped): Rust unit, integration and property
## tests, and the examples.
test-all:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(CARGO) run --quiet --example keymap_demo -- --keys 20000
	$(CARGO) run --quiet --example seed
	$(MAKE) py-test

## The Python quickstart on a Disk store in ./demo-data: writes, commits, a
## branch, two writers merging a counter, history and a diff.
demo: py-venv
	$(VENV)/bin/python crates/kvit-py/examples/quickstart.py demo-data

## The Rust key-map demo: a 100,000-key Disk store in ./demo-data/keymap.
demo-keymap:
	$(CARGO) run --release --example keymap_demo -- --path demo-data/keymap --keys 100000

## Benchmarks; figures go to docs/benchmarks.md by hand.
bench:
	$(CARGO) bench -p kvit
	$(MAKE) bench-python

## kvit from Python against the pure-Python peers kvgit 0.1.2 and 0.4.3
## (installed from PyPI into .bench-venvs/ on first use): a table of ratios,
## and benches/python/results.json. About 3 minutes at n = 100,000.
bench-python: py-venv
	$(VENV)/bin/python benches/python/bench.py

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf demo-data

## The Python package: a virtualenv in .venv with kvit built (release) and
## installed, plus pytest and mypy. Needs only python3 and cargo.
PYTHON ?= python3
VENV ?= .venv

.PHONY: py-venv py-test bench-python

py-venv: $(VENV)/.tools-installed
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH \
		$(VENV)/bin/maturin develop --release --quiet -m crates/kvit-py/Cargo.toml

$(VENV)/.tools-installed:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "maturin>=1.5,<2" pytest mypy hypothesis
	touch $@

## The Python tests (pytest), a strict type check of the package and of a
## typed usage file, and the quickstart example.
py-test: py-venv
	$(VENV)/bin/python -m pytest crates/kvit-py/tests
	$(VENV)/bin/python -m mypy --strict crates/kvit-py/python/kvit crates/kvit-py/tests/typed_usage.py crates/kvit-py/examples/quickstart.py
