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
