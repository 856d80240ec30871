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
	$(CARGO) test -p kvit --features failpoints --test crash --test failpoints
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
	$(CARGO) clippy -p kvit --all-targets --features failpoints -- -D warnings

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

## Fuzz smoke, about a minute: every fuzz target in fuzz/ (its own
## workspace, built with nightly) for FUZZ_SECONDS each, installing
## cargo-fuzz first if it is missing. Longer runs: docs/reliability.md.
FUZZ_SECONDS ?= 15
FUZZ_TARGETS = decode_objects parse_names operations corrupt_store

## Lost updates: 2, 4 and 8 writer processes x 250 counter commits each on
## Disk, Redis and PostgreSQL (loopback servers started first and stopped
## after); prints the table kept in docs/reliability.md, fails on any lost
## update or on an error other than a lost race reaching a writer.
LOST_UPDATES_ARGS ?= --processes 2,4,8 --commits 250

.PHONY: fuzz-smoke lost-updates

fuzz-smoke:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

lost-updates:
	scripts/with-services.sh $(CARGO) run --release -p kvit-harness --bin lost-updates -- $(LOST_UPDATES_ARGS)

## Reliability soak, about 10 minutes: the kill -9 harness with 500 kills at
## random moments and 30 at each failpoint, then 60 s of writers, two
## collectors, rebases and branch churn; both print a table for
## docs/reliability.md. Runs the fuzz smoke and lost-update checks first.
STRESS_KILLS ?= 500
STRESS_KILLS_PER_POINT ?= 30
STRESS_GC_SECS ?= 60

.PHONY: stress

stress: fuzz-smoke lost-updates
	KVIT_CRASH_KILLS=$(STRESS_KILLS) KVIT_CRASH_KILLS_PER_POINT=$(STRESS_KILLS_PER_POINT) \
		$(CARGO) test -p kvit --features failpoints --test crash -- kill_nine --nocapture
	KVIT_GC_STRESS_SECS=$(STRESS_GC_SECS) \
		$(CARGO) test -p kvit --features failpoints --test failpoints -- gc_stress_beside_writers --nocapture
