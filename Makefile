# kvit: one entry point for people and CI alike.
CARGO ?= cargo

.PHONY: all build test demo bench lint fmt clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## Every test: Rust unit, integration and property tests, and the examples.
test:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(CARGO) run --quiet --example keymap_demo -- --keys 20000
	$(CARGO) run --quiet --example seed
	$(MAKE) py-test

## The main job on an embedded default: a Disk store in ./demo-data.
demo:
	$(CARGO) run --release --example keymap_demo -- --path demo-data --keys 100000

## Benchmarks; figures go to docs/benchmarks.md by hand.
bench:
	$(CARGO) bench -p kvit

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

.PHONY: py-venv py-test

py-venv: $(VENV)/.tools-installed
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH \
		$(VENV)/bin/maturin develop --release --quiet -m crates/kvit-py/Cargo.toml

$(VENV)/.tools-installed:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "maturin>=1.5,<2" pytest mypy
	touch $@

## The Python tests (pytest) and a strict type check of the package.
py-test: py-venv
	$(VENV)/bin/python -m pytest crates/kvit-py/tests
	$(VENV)/bin/python -m mypy --strict crates/kvit-py/python/kvit
