# Varco: `make run` starts the gateway on the embedded demo; `make test` runs every check.
SHELL := /bin/bash
CARGO ?= cargo
DEMO_DIR ?= .varco/demo
BENCH_SECS ?= 10
BENCH_CONNS ?= 64

.PHONY: run test check fmt clippy tools bench build clean-demo

run: build
	./target/release/varco serve --data-dir $(DEMO_DIR)

build:
	$(CARGO) build --release --bin varco

# xmllint validates every SOAP response against the official schema; pdftotext/pdftoppm
# (poppler-utils) and dmtxread (dmtx-utils) read the rendered notices back in the tests.
tools:
	@(command -v xmllint && command -v pdftoppm && command -v pdftotext && command -v dmtxread) >/dev/null 2>&1 || { \
	  echo "installing test tools (libxml2-utils poppler-utils dmtx-utils)"; \
	  (apt-get update -qq && apt-get install -y -qq libxml2-utils poppler-utils dmtx-utils) >/dev/null || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq libxml2-utils poppler-utils dmtx-utils) >/dev/null; }

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Tests run in release mode so the process tests (crash, HTTP flow) drive the release binary.
test: tools fmt clippy
	$(CARGO) test --release --workspace

check: test

clean-demo:
	rm -rf $(DEMO_DIR)

bench:
	./bench/run.sh $(BENCH_SECS) $(BENCH_CONNS)
