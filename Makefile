# Varco: `make run` starts the gateway on the embedded demo; `make test` runs every check.
SHELL := /bin/bash
CARGO ?= cargo
DEMO_DIR ?= .varco/demo
BENCH_SECS ?= 10
BENCH_CONNS ?= 1 64 512

.PHONY: run test check fmt clippy tools browser-tools bench bench-engines bench-micro bench-fdr bench-scale bench-console build clean-demo fuzz

# The binary `make run` starts. `make test` builds it as well (for the process tests, with the
# test build's dependency features): a binary newer than every input of the build is reused as
# it is, so `make run` after `make test` starts at once instead of building again.
BIN := target/release/varco
BIN_INPUTS := $(shell find src wsdl xsd templates -type f) Cargo.toml Cargo.lock varco.example.toml

run: $(BIN)
	./$(BIN) serve --data-dir $(DEMO_DIR)

$(BIN): $(BIN_INPUTS)
	$(CARGO) build --release --bin varco

build:
	$(CARGO) build --release --bin varco

# xmllint validates every SOAP response against the official schema; pdftotext/pdftoppm
# (poppler-utils) and dmtxread (dmtx-utils) read the rendered notices back in the tests;
# nginx (nginx-light) runs deploy/nginx/varco.conf in tests/nginx.rs.
TEST_PACKAGES := libxml2-utils poppler-utils dmtx-utils nginx-light
tools:
	@(command -v xmllint && command -v pdftoppm && command -v pdftotext && command -v dmtxread && \
	  (command -v nginx || test -x /usr/sbin/nginx)) >/dev/null 2>&1 || { \
	  echo "installing test tools ($(TEST_PACKAGES))"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES)) >/dev/null || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES)) >/dev/null; }

# newman (the Postman collection's runner), pinned, installed once under .cache from the npm
# registry; Node.js and npm from Debian's packages when the machine has none.
NEWMAN_VERSION := 6.2.2
NEWMAN := .cache/newman/node_modules/.bin/newman
$(NEWMAN):
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Node.js and npm (for newman)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null; }
	npm install --prefix .cache/newman --no-audit --no-fund --loglevel=error newman@$(NEWMAN_VERSION)

# Browser tests (tests/common/browser.rs): headless Chromium driven over WebDriver by
# chromedriver, both from Debian's packages, and axe-core (the accessibility checker the tests
# inject into each page), pinned, installed once under .cache from the npm registry.

# Chromium and its WebDriver, installed when either is missing.
BROWSER_PACKAGES := chromium chromium-driver
browser-tools:
	@(test -x /usr/bin/chromium && test -x /usr/bin/chromedriver) || { \
	  echo "installing the test browser ($(BROWSER_PACKAGES))"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES)) >/dev/null || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES)) >/dev/null; }

# axe-core, pinned; Node.js and npm from Debian's packages when the machine has none.
AXE_VERSION := 4.14.1
AXE := .cache/axe/node_modules/axe-core/axe.min.js
$(AXE):
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Node.js and npm (for axe-core)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null || \
	  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null; }
	npm install --prefix .cache/axe --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Tests run in release mode so the process tests (crash, HTTP flow) drive the release binary.
# Then the suites that run on the store's engine run again on PostgreSQL: tests/pg.sh makes a
# throwaway cluster (initdb + pg_ctl in a temporary directory, Unix socket only, installed
# from Debian's packages when missing), runs them with VARCO_TEST_PG set, and removes it.
# Then the Postman collection (docs/postman/) runs with newman against the release binary on a
# fresh demo store (tests/postman.sh), so the collection cannot rot.
# The second pass builds nothing new and takes about five minutes: a test that hangs (a server
# left frozen, say) ends it after 25 with an error instead of eating CI's whole budget.
PG_TESTS := --test api --test documents --test fdr --test store --test nodes --test journal --test gestionale --test concurrency --test fixtures --test govpay --test spontanei --test console
test: tools browser-tools fmt clippy $(NEWMAN) $(AXE)
	$(CARGO) test --release --workspace
	./tests/postman.sh target/release/varco
	./tests/pg.sh run timeout --kill-after=30 1500 $(CARGO) test --release --workspace $(PG_TESTS)

check: test

clean-demo:
	rm -rf $(DEMO_DIR)

# Varco vs a bare hyper server at each connection count, store preloaded with
# BENCH_PRELOAD (1,000,000) positions; figures and method in BENCHMARKS.md.
bench:
	./bench/run.sh $(BENCH_SECS) $(BENCH_CONNS)

# Both engines in one run (issue 14): `make bench` on sled, then on PostgreSQL (fsync on) with
# one node, one node behind the reference nginx file and two nodes behind it; one summary.
bench-engines:
	./bench/engines.sh $(BENCH_SECS) $(BENCH_CONNS)

# Micro-benchmarks (divan): SOAP decode/encode per message, store paths.
bench-micro:
	$(CARGO) bench -p varco-bench --bench soap --bench store

# Reconciliation: settlement-flow lines matched per second on a store of 1,000,000 receipts
# (preloaded once into BENCH_FDR_DIR, default /tmp/varco-fdr-bench, and reused).
bench-fdr:
	$(CARGO) bench -p varco-bench --bench reconcile

# 1M and 10M positions: verify latency, RSS, disk bytes/position, restart-to-ready
# (needs ~40 GB free under BENCH_SCALE_DIR, default /tmp/varco-scale).
bench-scale:
	./bench/scale.sh

# The console's pages with 1M positions in the store (BENCH_STORE=postgres for the other engine).
bench-console:
	./bench/console.sh

# Fuzzing (not part of `make test` or CI): needs the nightly toolchain; installs cargo-fuzz when
# missing. Each target runs FUZZ_SECS seconds, one job, seeded from the fixtures (the corpus
# and any crash inputs stay under fuzz/corpus and fuzz/artifacts, both ignored by git).
FUZZ_SECS ?= 60
FUZZ_TARGETS ?= soap_decode rest_json notice_codes
FUZZ_FLAGS ?= -O -a -s none

fuzz:
	@rustup run nightly cargo --version >/dev/null 2>&1 || { echo "make fuzz needs a nightly toolchain (rustup toolchain install nightly)"; exit 1; }
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz
	@mkdir -p fuzz/corpus/soap_decode fuzz/corpus/rest_json fuzz/corpus/notice_codes
	@for f in fixtures/soap/*/*.xml fixtures/demo/*.xml; do \
	  cp "$$f" "fuzz/corpus/soap_decode/$$(basename "$$(dirname "$$f")")-$$(basename "$$f")"; done
	@for f in fixtures/rest/*.json; do \
	  cp "$$f" fuzz/corpus/rest_json/; \
	  sed '1s/^{/[{"idA2A": "demo", "idPendenza": "fuzz-1",/; $$s/}$$/}]/' "$$f" > "fuzz/corpus/rest_json/tracciato-$$(basename "$$f")"; done
	@printf '[{"op":"REPLACE","path":"/stato","value":"ANNULLATA"}]' > fuzz/corpus/rest_json/patch.json
	@printf '301000000000000144' > fuzz/corpus/notice_codes/notice
	@printf '120.50' > fuzz/corpus/notice_codes/amount
	@printf 'PAGOPA|002|301000000000000144|77777777777|12050|8012345678901|IT70X0760101600000012345678|RSSMRA80A01H501U|Mario Rossi|TARI 2026' > fuzz/corpus/notice_codes/qr
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECS)s"; \
	  (cd fuzz && $(CARGO) +nightly fuzz run $(FUZZ_FLAGS) $$t -- -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) || exit 1; \
	done
