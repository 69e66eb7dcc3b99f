# baostore — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# The extension is compiled once, by maturin (release), with cargo's progress on the terminal;
# it is rebuilt only when a Rust source changes. Python dependencies are installed first (without
# building the project) so that pip's output does not bury cargo's.
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find rust-ext -name '*.rs' -o -name Cargo.toml)
EXTENSION := $(VENV)/.extension-built
PYPROJECT_DEPS := $(VENV)/requirements.txt
MATURIN_DEVELOP := $(BIN)/maturin develop --release --extras dev,plot

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing the Python dependencies (pip, quiet)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/python scripts/requirements.py > $(PYPROJECT_DEPS)
	$(BIN)/pip install --quiet -r $(PYPROJECT_DEPS)
	touch $(STAMP)

$(EXTENSION): $(STAMP) $(RUST_SOURCES)
	@echo "==> compiling the Rust extension baostore._bao (release; about a minute on two idle"
	@echo "    cores, a few on a busy machine; cargo lists each crate as it compiles)"
	set -o pipefail; $(MATURIN_DEVELOP) 2>&1 | sed '/^Requirement already satisfied/d'
	touch $(EXTENSION)

install: $(EXTENSION) ## Create .venv, install the dependencies and compile the extension into it

develop: $(STAMP) ## Rebuild the Rust extension into the venv (also done on demand when Rust changed)
	set -o pipefail; $(MATURIN_DEVELOP) 2>&1 | sed '/^Requirement already satisfied/d'
	touch $(EXTENSION)

demo: $(EXTENSION) ## Run a loopback server on a file store, put a blob, fetch it back verified
	$(BIN)/python scripts/demo.py

serve: $(EXTENSION) ## Serve the embedded on-disk store on 127.0.0.1:50051
	$(BIN)/baostore serve --listen 127.0.0.1:50051

test: $(EXTENSION) cargo-test pytest lint proto-check ## Everything CI runs: cargo tests, pytest, lint, proto check

cargo-test: ## Rust core tests (no Python needed)
	cargo test --workspace --exclude baostore-ext

pytest: $(EXTENSION) ## Python tests
	$(BIN)/pytest -q

lint: $(EXTENSION) ## ruff, mypy --strict, stubtest, cargo fmt --check, clippy -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest baostore._bao
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

proto: $(EXTENSION) ## Regenerate the Python code from protos/
	$(BIN)/python scripts/gen_protos.py

proto-check: $(EXTENSION) ## Fail if regenerating the protobuf code changes anything
	$(BIN)/python scripts/gen_protos.py --check

bench: $(EXTENSION) ## Run the benchmarks (ratios against baselines from the same run)
	$(BIN)/python benches/bench_bao.py

clean: ## Remove build output and the venv
	rm -rf target $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install develop demo serve test cargo-test pytest lint proto proto-check bench clean
