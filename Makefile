# tracegate — everyday commands. `make help` lists them.
CARGO  ?= cargo
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python

.PHONY: help run build build-sql test unit integration venv bench bench-e2e bench-compaction bench-criterion fmt lint clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## Start the gateway on the embedded default config (OTLP on 4317/4318, Tempo API on 3200, archive in ./data/archive, hot store in ./data/hot, WAL in ./data/wal)
	$(CARGO) run --release -p tracegate -- run

build: ## Build the gateway (debug), with SQL (`tracegate query`, POST /api/sql) as the integration tests need
	$(CARGO) build -p tracegate --features sql

build-sql: ## Build the release gateway with SQL (DataFusion; a much longer first build than `make run`'s)
	$(CARGO) build --release -p tracegate --features sql

test: venv ## Set up what the tests need, then run every test: unit, doc and integration
	TRACEGATE_MOTO=$(CURDIR)/$(VENV)/bin/moto_server $(CARGO) test --workspace
	$(MAKE) integration

unit: ## Unit and doc tests only
	$(CARGO) test --workspace

integration: venv build ## End-to-end tests: Python OTel SDK, moto S3 server, DuckDB, grpcio
	TRACEGATE_BIN=$(CURDIR)/target/debug/tracegate $(PY) -m pytest integration -v

venv: $(VENV)/.installed ## Python venv with the integration tests' packages

$(VENV)/.installed: integration/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r integration/requirements.txt
	touch $@

bench: bench-e2e bench-criterion ## Both benchmarks below: end-to-end, then criterion

bench-e2e: ## End-to-end: gateway on core 0, loadgen on core 1 → table + target/bench/results.json (BENCH_* env vars in scripts/bench.sh)
	CARGO=$(CARGO) PYTHON=$(PYTHON) scripts/bench.sh

bench-compaction: ## Compaction MB/s per core, peak memory and bytes per span, on 1000 MB of 4 MB files (SIZE_MB, FILE_MB)
	CARGO=$(CARGO) scripts/compaction_bench.sh

bench-criterion: ## Criterion benches, one per stage (release)
	$(CARGO) bench --workspace

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean: ## Remove build output, the venv and local data
	$(CARGO) clean
	rm -rf $(VENV) data
