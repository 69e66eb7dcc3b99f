# baostore — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml Cargo.toml Cargo.lock rust-ext/Cargo.toml rust-ext/core/Cargo.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,plot]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install baostore with its dev tools (compiles the extension)

develop: $(STAMP) ## Rebuild the Rust extension into the venv after a Rust change
	$(BIN)/maturin develop --release --quiet

demo: $(STAMP) ## Run a loopback server on a file store, put a blob, fetch it back verified
	$(BIN)/python scripts/demo.py

serve: $(STAMP) ## Serve the embedded on-disk store on 127.0.0.1:50051
	$(BIN)/baostore serve --listen 127.0.0.1:50051

test: $(STAMP) cargo-test pytest lint proto-check ## Everything CI runs: cargo tests, pytest, lint, proto check

cargo-test: ## Rust core tests (no Python needed)
	cargo test --workspace --exclude baostore-ext

pytest: $(STAMP) develop ## Python tests
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff, mypy --strict, stubtest, cargo fmt --check, clippy -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest baostore._bao
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

proto: $(STAMP) ## Regenerate the Python code from protos/
	$(BIN)/python scripts/gen_protos.py

proto-check: $(STAMP) ## Fail if regenerating the protobuf code changes anything
	$(BIN)/python scripts/gen_protos.py --check

bench: $(STAMP) develop ## Run the benchmarks (ratios against baselines from the same run)
	$(BIN)/python benches/bench_bao.py

clean: ## Remove build output and the venv
	rm -rf target $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install develop demo serve test cargo-test pytest lint proto proto-check bench clean
